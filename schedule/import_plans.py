"""Importing a schedule sheet: the preview of what applying it would do, and the apply.

The preview reads and writes nothing but returns what it saw (``Seen``: each task's id and
version, each monthly plan's) beside its verdict on every row. The apply takes that record back:
under one transaction, with the rows locked, anything that differs from it is a conflict and
nothing is written, so a change made in the app between the two steps is never overwritten
unseen. A file exported by the app carries each task's version too: a row whose task has moved on
since the export changes only what the file changed since then (its values that differ from
the task's at that version), as any stale write does (``merge_stale``): a report meanwhile, or
another person's edit of other fields, is kept and no conflict. Only a field both changed, to
different values, makes the row a conflict already at the preview, and the user decides per
row (``Decision``).

Tasks are matched by code. ``volume_fact`` is never imported (it is the sum of daily works). An
empty month cell leaves the app's plan for that month as it is; a plan is removed only by
deleting it in the app.
"""

import dataclasses
import datetime
import json
import secrets
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, models, router, transaction
from django.db.models import Count
from django.db.models.deletion import Collector
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from monthly.fields import parse_month
from monthly.models import MonthlyTask
from realtime.context import VIA_IMPORT, acting_as, writing_via
from realtime.events import (
    EncodedPublication,
    Publication,
    events_batched,
    insert_rows,
    later,
    publish_many,
    query_params,
)
from realtime.history import changes_since
from realtime.models import Change
from realtime.protocol import MONTHLY_TASKS
from realtime.signals import deleted_publication, saved_publication
from scheduler_project.versioning import VersionConflict, merge_stale, unaffected_fields

from .imports import CellError, InvalidRow, ScheduleSheet, SheetRow
from .models import ImportPlan, Task, task_code_key, units_read_once, validate_whole_plan
from .services import sections_name
from .sheet import SCHEDULE_COLUMNS, month_heading

TASK_FIELDS = ("name", "unit", "volume_plan", "start_date", "end_date", "estimated_cost")
"""The task's fields a row sets (besides its code, which matches it to its task)."""

_HEADINGS = {column.key: column.heading for column in SCHEDULE_COLUMNS}


class RowKind(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    ERROR = "error"
    CONFLICT = "conflict"


class Decision(StrEnum):
    """What to do with a row in conflict."""

    FILE = "file"  # write the file's values over the app's
    APP = "app"  # keep the app's: the row is left out


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    """A ``SCHEDULE_COLUMNS`` key, or a month's heading (``YYYY-MM``) for its monthly plan."""
    old: Any
    """The app's value (None: no monthly plan for that month)."""
    new: Any

    @property
    def label(self) -> str:
        heading = _HEADINGS.get(self.field)
        return self.field if heading is None else str(heading)


@dataclass(frozen=True, slots=True)
class RowPreview:
    row: int
    code: str | None
    kind: RowKind
    changes: tuple[FieldChange, ...] = ()
    """Old → new per field; for a conflict, the app's current values → the file's; for a new
    task, None → each value."""
    errors: tuple[CellError, ...] = ()


@dataclass(frozen=True, slots=True)
class MissingTask:
    """A task of the app that the file does not list."""

    id: int
    code: str
    name: str
    daily_works: int
    monthly_plans: int


MonthKey = tuple[int, datetime.date]
"""A monthly plan's task id and month."""


@dataclass(frozen=True, slots=True)
class Seen:
    """What the preview saw, for the apply to compare under lock."""

    tasks: dict[str, tuple[int, int]]
    """Every task of the app by code: (id, version)."""
    monthly_plans: dict[MonthKey, tuple[int, int]]
    """The plans of the file's tasks in the file's months: (id, version)."""
    contested: frozenset[int] = frozenset()
    """The rows in conflict, which need a ``Decision``."""


@dataclass(frozen=True, slots=True)
class ImportPreview:
    rows: list[RowPreview]
    """Every row of the sheet, valid or not, in sheet order."""
    missing: list[MissingTask]
    seen: Seen

    def count(self, kind: RowKind) -> int:
        return sum(1 for row in self.rows if row.kind == kind)

    @property
    def counts(self) -> dict[str, int]:
        return {kind.value: self.count(kind) for kind in RowKind}

    @property
    def errors(self) -> list[RowPreview]:
        return [row for row in self.rows if row.kind == RowKind.ERROR]

    @property
    def conflicts(self) -> list[RowPreview]:
        return [row for row in self.rows if row.kind == RowKind.CONFLICT]

    @property
    def changes_anything(self) -> bool:
        return any(row.kind != RowKind.UNCHANGED for row in self.rows)

    @property
    def sets_monthly_plans(self) -> bool:
        """Whether applying may write monthly plans (the user then needs their permissions)."""
        return any(change.field not in _HEADINGS for row in self.rows for change in row.changes)

    @property
    def writes(self) -> int:
        """How many tasks and plans applying would write (a row in conflict counted as if
        the file's values were taken)."""
        count = 0
        for row in self.rows:
            if row.kind in {RowKind.NEW, RowKind.CHANGED, RowKind.CONFLICT}:
                plans = sum(1 for change in row.changes if change.field not in _HEADINGS)
                count += plans + (row.kind == RowKind.NEW or plans < len(row.changes))
        return count

    @property
    def too_many_writes(self) -> str | None:
        """Why applying is refused as too large (``too_many_writes``), if it is."""
        return too_many_writes(self.writes)


def too_many_writes(count: int) -> str | None:
    """The refusal of an apply that would write more than ``SPREADSHEET_IMPORT_MAX_WRITES``
    tasks and plans: other users' writes wait while an import writes, about 50 µs an object
    (docs/excel.md)."""
    limit = settings.SPREADSHEET_IMPORT_MAX_WRITES
    if count <= limit:
        return None
    return _(
        "Applying this file would write %(count)s tasks and monthly plans, more than the "
        "%(limit)s written at once (others' changes wait meanwhile): split it into smaller "
        "files."
    ) % {
        "count": number_format(count, force_grouping=True),
        "limit": number_format(limit, force_grouping=True),
    }


@dataclass(frozen=True, slots=True)
class Conflict:
    row: int | None
    """The sheet's row; None for a task missing from the file."""
    code: str
    message: str

    def __str__(self) -> str:
        where = _("Row %(row)s") % {"row": self.row} if self.row is not None else _("Deletion")
        return f"{where} ({self.code}): {self.message}"


class ImportRefused(Exception):
    """Nothing was written; ``problems`` says why, one line each."""

    def __init__(self, problems: Iterable[Any]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class ImportConflict(ImportRefused):
    """Tasks or plans changed since the preview (or need a decision): ``problems`` are
    ``Conflict`` values."""


class ImportInvalid(ImportRefused):
    """Rows in error, or a row the models' rules refuse: ``problems`` are messages naming
    the row."""


@dataclass(slots=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0
    """Rows in conflict decided ``Decision.APP``."""
    deleted: int = 0
    monthly_plans_written: int = 0
    sections_named: int = 0
    """Sections whose name the file set or changed (its subtotal rows)."""
    codes: list[str] = field(default_factory=list)
    """The codes of the tasks created or changed."""


# Preview.
def schedule_import_preview(*, sheet: ScheduleSheet, since: Seen | None = None) -> ImportPreview:
    """Classify every row against the app as it is now; writes nothing.

    ``since``: what an earlier preview saw (an apply refused for conflicts): a row whose task
    or plans changed since then, and whose values differ from the app's, is a conflict too.
    """
    tasks = {task.code: task for task in Task.objects.all()}
    file_codes = {row.code for row in sheet.rows} | {
        row.code for row in sheet.invalid if row.code is not None
    }
    plans = _plans(
        task_ids=[tasks[row.code].pk for row in sheet.rows if row.code in tasks],
        months=sheet.months,
    )
    then = plans_at_export(sheet)
    previews = [_invalid_preview(row) for row in sheet.invalid]
    contested = set()
    with units_read_once():
        for row in sheet.rows:
            preview = _row_preview(
                row, tasks.get(row.code), plans, sheet=sheet, since=since, then=then
            )
            if preview.kind == RowKind.CONFLICT:
                contested.add(row.row)
            previews.append(preview)
    previews.sort(key=lambda preview: preview.row)
    seen = Seen(
        tasks={code: (task.pk, task.version) for code, task in tasks.items()},
        monthly_plans={key: (plan.pk, plan.version) for key, plan in plans.items()},
        contested=frozenset(contested),
    )
    missing_ids = [task.pk for code, task in tasks.items() if code not in file_codes]
    return ImportPreview(rows=previews, missing=_missing(missing_ids), seen=seen)


def _plans(*, task_ids: list[int], months: list[datetime.date]) -> dict[MonthKey, MonthlyTask]:
    if not task_ids or not months:
        return {}
    found = MonthlyTask.objects.filter(task_id__in=task_ids, month__in=months)
    return {(plan.task_id, plan.month): plan for plan in found}


@dataclass(frozen=True, slots=True)
class PlanThen:
    """A monthly plan the app changed after the file was exported: its volume then (None: no
    plan), or, ``known`` False, moved between tasks or months since, so not known."""

    volume: Decimal | None
    known: bool = True


PlansThen = Mapping[MonthKey, PlanThen]


def plans_at_export(sheet: ScheduleSheet) -> dict[MonthKey, PlanThen]:
    """The plans the app changed since the sheet was exported, each as it was then (from the
    history; the sheet's monthly cells carry no version). Empty for a file the app did not
    export. A key's first change since tells: created (no plan then), updated (its volume
    before), deleted (its volume before); a move leaves both ends unknown."""
    if sheet.exported_at is None or not sheet.months:
        return {}
    changes = changes_since(stream=MONTHLY_TASKS, since=sheet.exported_at)
    if not changes:
        return {}
    keys: dict[int, MonthKey] = {
        pk: (task_id, month)
        for pk, task_id, month in MonthlyTask.objects.filter(
            pk__in={object_id for object_id, _kind, _fields in changes}
        ).values_list("pk", "task_id", "month")
    }
    for object_id, kind, fields in changes:  # plans deleted since: their last key
        if kind == Change.DELETED:
            keys.setdefault(object_id, (fields["task"][0], parse_month(fields["month"][0])))
    then: dict[MonthKey, PlanThen] = {}
    for object_id, kind, fields in changes:
        volume = fields.get("volume_plan")
        if kind == Change.CREATED:
            key: MonthKey | None = (fields["task"][1], parse_month(fields["month"][1]))
            then.setdefault(key, PlanThen(None))
        elif kind == Change.UPDATED and ("task" in fields or "month" in fields):
            current = keys.get(object_id)
            for side in (0, 1):
                task_id = fields["task"][side] if "task" in fields else None
                month = parse_month(fields["month"][side]) if "month" in fields else None
                if current is not None or (task_id is not None and month is not None):
                    key = (
                        task_id if task_id is not None else current[0],
                        month if month is not None else current[1],
                    )
                    then.setdefault(key, PlanThen(None, known=False))
        else:
            key = keys.get(object_id)
            if key is not None and (kind == Change.DELETED or volume is not None):
                then.setdefault(key, PlanThen(Decimal(volume[0])))
    return then


def _missing(task_ids: list[int]) -> list[MissingTask]:
    found = (
        Task.objects.filter(pk__in=task_ids)
        .annotate(
            daily_work_count=Count("daily_works", distinct=True),
            monthly_plan_count=Count("monthly_tasks", distinct=True),
        )
        .only("code", "name")
    )
    return [
        MissingTask(
            id=task.pk,
            code=task.code,
            name=task.name,
            daily_works=task.daily_work_count,
            monthly_plans=task.monthly_plan_count,
        )
        for task in found
    ]


def _invalid_preview(row: InvalidRow) -> RowPreview:
    return RowPreview(row=row.row, code=row.code, kind=RowKind.ERROR, errors=tuple(row.errors))


def _row_preview(
    row: SheetRow,
    task: Task | None,
    plans: Mapping[MonthKey, MonthlyTask],
    *,
    sheet: ScheduleSheet,
    since: Seen | None,
    then: PlansThen,
) -> RowPreview:
    errors = row_errors(row)
    if errors:
        return RowPreview(row=row.row, code=row.code, kind=RowKind.ERROR, errors=tuple(errors))
    if task is None:
        changes = [
            FieldChange(name, None, new) for name, new in row_values(row, sheet=sheet).items()
        ]
        changes += [FieldChange(month_heading(m), None, v) for m, v in row.monthly_plans.items()]
        return RowPreview(row=row.row, code=row.code, kind=RowKind.NEW, changes=tuple(changes))
    # A conflict shows every difference; otherwise only what the file changed since the export.
    differences = task_changes(row, task, sheet=sheet)
    task_part: list[FieldChange] | None = differences
    if row.version is not None and row.version != task.version:
        merged = _merged_changes(row, task, sheet=sheet, seen_version=row.version)
        task_part = (
            None
            if merged is None
            else [FieldChange(name, getattr(task, name), new) for name, new in merged.items()]
        )
    if task_part is None or plan_conflicts(row, task, plans, then):
        kind, changes = RowKind.CONFLICT, differences + plan_changes(row, task, plans)
    else:
        kind, changes = RowKind.CHANGED, task_part + plan_changes(row, task, plans, then)
    if not changes:
        kind = RowKind.UNCHANGED
    elif since is not None and _changed_since(since, row, task, plans, sheet=sheet):
        kind = RowKind.CONFLICT
    return RowPreview(row=row.row, code=row.code, kind=kind, changes=tuple(changes))


def _changed_since(
    since: Seen,
    row: SheetRow,
    task: Task,
    plans: Mapping[MonthKey, MonthlyTask],
    *,
    sheet: ScheduleSheet,
) -> bool:
    """Whether the app changed, since the earlier preview, something the row changes: its
    task's fields merge as a stale write's (a report meanwhile is no change), its month plans
    must be as they were."""
    seen_task = since.tasks.get(row.code)
    if seen_task is None or seen_task[0] != task.pk:
        return True
    if seen_task[1] != task.version and (
        _merged_changes(row, task, sheet=sheet, seen_version=seen_task[1]) is None
    ):
        return True
    return any(
        _plan_state(plans.get((task.pk, month))) != since.monthly_plans.get((task.pk, month))
        for month in row.monthly_plans
    )


def _plan_state(plan: MonthlyTask | None) -> tuple[int, int] | None:
    return None if plan is None else (plan.pk, plan.version)


def row_values(row: SheetRow, *, sheet: ScheduleSheet) -> dict[str, Any]:
    """The task fields the row sets: the estimated cost only when the sheet has its column."""
    values = {name: getattr(row, name) for name in TASK_FIELDS}
    if "estimated_cost" not in sheet.columns:
        del values["estimated_cost"]
    return values


def task_changes(row: SheetRow, task: Task, *, sheet: ScheduleSheet) -> list[FieldChange]:
    return [
        FieldChange(name, getattr(task, name), new)
        for name, new in row_values(row, sheet=sheet).items()
        if getattr(task, name) != new
    ]


def plan_changes(
    row: SheetRow,
    task: Task,
    plans: Mapping[MonthKey, MonthlyTask],
    then: PlansThen | None = None,
) -> list[FieldChange]:
    """The row's month plans that differ from the app's; with ``then`` (``plans_at_export``),
    not those the file has as they were exported: the app's newer value stays."""
    changes = []
    for month, volume in _changed_months(row, task, plans, then):
        plan = plans.get((task.pk, month))
        old = None if plan is None else plan.volume_plan
        changes.append(FieldChange(month_heading(month), old, volume))
    return changes


def _changed_months(
    row: SheetRow,
    task: Task,
    plans: Mapping[MonthKey, MonthlyTask],
    then: PlansThen | None,
) -> list[tuple[datetime.date, Decimal]]:
    changed = []
    for month, volume in row.monthly_plans.items():
        plan = plans.get((task.pk, month))
        if (None if plan is None else plan.volume_plan) == volume:
            continue
        before = then.get((task.pk, month)) if then else None
        if before is not None and before.known and before.volume == volume:
            continue
        changed.append((month, volume))
    return changed


def plan_conflicts(
    row: SheetRow, task: Task, plans: Mapping[MonthKey, MonthlyTask], then: PlansThen
) -> list[datetime.date]:
    """The months whose plan both the file and the app changed since the export, to different
    values (or the app moved a plan there or away, so what it was is not known)."""
    conflicts = []
    for month, _volume in _changed_months(row, task, plans, then):
        before = then.get((task.pk, month))
        plan = plans.get((task.pk, month))
        current = None if plan is None else plan.volume_plan
        if before is not None and (not before.known or before.volume != current):
            conflicts.append(month)
    return conflicts


def row_errors(row: SheetRow) -> list[CellError]:
    """What the models' own rules (lengths, digits, signs, end ≥ start) say about the row's
    values, found before the apply (which checks them all again): no query."""
    task = Task(code=row.code, **{name: getattr(row, name) for name in TASK_FIELDS})
    messages = _validation_messages(
        lambda: (task.clean_fields(exclude=["code_key", "volume_fact"]), task.clean())
    )
    plan_volume = MonthlyTask._meta.get_field("volume_plan")
    for month, volume in row.monthly_plans.items():
        try:
            plan_volume.clean(volume, None)  # a plan's only value the row gives
        except ValidationError as error:
            messages += [(month_heading(month), message) for message in error.messages]
    return [
        CellError(cell=f"A{row.row}", message=f"{_label(name)}: {message}")
        for name, message in messages
    ]


def _label(name: str) -> str:
    heading = _HEADINGS.get(name)
    return name if heading is None else str(heading)


def _validation_messages(check: Any) -> list[tuple[str, str]]:
    try:
        check()
    except ValidationError as error:
        return [
            (name, message) for name, messages in error.message_dict.items() for message in messages
        ]
    return []


# Apply.
def schedule_import_apply(
    *,
    sheet: ScheduleSheet,
    seen: Seen,
    decisions: Mapping[int, Decision],
    delete_missing: bool,
    actor: AbstractBaseUser | None,
) -> ImportResult:
    """Apply the sheet as the preview that saw ``seen`` showed it: all or nothing.

    A task or plan changed, created or deleted since the preview (beyond what merges as a
    stale write does), or a contested row without a decision, raises ``ImportConflict``
    listing them all. Rows in error, or a row that the models' rules refuse, raise
    ``ImportInvalid``. Either way nothing is written. A row equal to the app writes nothing.

    Everything is computed before the write, unlocked: what each row writes, merged and
    validated (``_planned``). The write's transaction then locks the tasks and the plans of
    the file's months, takes again (locked) the rows whose objects moved on in between, and
    writes in bulk; one event per object is recorded with its history, in the rows' order
    (``publish_many``), attributed to ``actor`` and to the import, and rung in one batch on
    commit. Other writers wait for that short part only (docs/excel.md). Deleting the tasks
    missing from the file goes through the versioned service, task by task, with their
    daily works and plans.
    """
    if sheet.invalid:
        raise ImportInvalid(
            _("Row %(row)s: %(errors)s")
            % {"row": row.row, "errors": "; ".join(str(error) for error in row.errors)}
            for row in sheet.invalid
            if row.errors  # a row repeating a code is named by the code's first row
        )
    result = ImportResult()
    rows = []
    for row in sheet.rows:
        if row.row in seen.contested and decisions.get(row.row) == Decision.APP:
            result.kept += 1
        else:
            rows.append(row)
    missing = _missing_codes(sheet, seen) if delete_missing else []
    context = _Context(sheet=sheet, seen=seen, decisions=decisions, then=plans_at_export(sheet))
    now = timezone.now()
    with units_read_once():
        state = _State.read(sheet)
        writes = _planned(rows, missing, state, context)
        deletions = _deletions(missing, state, seen)
        refusal = too_many_writes(
            sum((write.created or bool(write.fields)) + len(write.plans) for write in writes)
            + sum(len(deletion.objects) for deletion in deletions)
        )
        if refusal is not None:
            raise ImportInvalid([refusal])
        writes = _prepare(writes, now=now)
        with writing_via(VIA_IMPORT), acting_as(actor), events_batched(), transaction.atomic():
            writes = _confirmed(writes, rows, missing, state, context, now=now)
            deletions = _deletions_confirmed(deletions, state)
            publications = _write(writes, result)
            publications += _delete(deletions)
            publish_many(publications)
            result.deleted = len(deletions)
            result.sections_named = sections_name(names=sheet.section_names)
    return result


@dataclass(frozen=True, slots=True)
class _Context:
    sheet: ScheduleSheet
    seen: Seen
    decisions: Mapping[int, Decision]
    then: PlansThen
    """``plans_at_export``."""


@dataclass(slots=True)
class _State:
    """The tasks and the plans of the file's months, as read, and their versions then (the
    objects' own move on when a write is prepared)."""

    by_code: dict[str, Task]
    by_id: dict[int, Task]
    plans: dict[MonthKey, MonthlyTask]
    task_versions: dict[int, int] = field(default_factory=dict)
    plan_versions: dict[MonthKey, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.task_versions = {task.pk: task.version for task in self.by_id.values()}
        self.plan_versions = {key: (plan.pk, plan.version) for key, plan in self.plans.items()}

    @classmethod
    def read(cls, sheet: ScheduleSheet, *, codes: Iterable[str] | None = None) -> "_State":
        """Every task (or those of ``codes``, locked) and their plans of the sheet's months."""
        tasks = Task.objects.all()
        if codes is not None:
            tasks = tasks.filter(code__in=list(codes)).select_for_update().order_by("pk")
        by_code = {task.code: task for task in tasks}
        plans = MonthlyTask.objects.filter(month__in=sheet.months).select_related("task")
        if codes is not None:
            plans = plans.filter(task__in=[task.pk for task in by_code.values()])
            plans = plans.select_for_update(of=("self",)).order_by("pk")
        return cls(
            by_code=by_code,
            by_id={task.pk: task for task in by_code.values()},
            plans={(plan.task_id, plan.month): plan for plan in plans} if sheet.months else {},
        )


@dataclass(slots=True)
class _Prepared:
    """An object's write as the database takes it and its event, computed before the write
    (``_prepare``): all but a new object's id (and a new task's, for its plans)."""

    values: list[Any]
    """The inserted columns' values (``_INSERTED``), or the updated ones' and the id."""
    publication: EncodedPublication
    """For a new object, with ``later("id")`` (and ``later("task")`` for a new task's plan)
    for the ids learnt at the write."""


@dataclass(slots=True)
class _PlanWrite:
    plan: MonthlyTask
    """To insert, or the stored one with its new volume set."""
    created: bool
    prepared: _Prepared | None = None


@dataclass(slots=True)
class _RowWrite:
    row: SheetRow
    task: Task
    """To insert, or the stored one with the row's values set."""
    created: bool
    fields: list[str]
    """The task's fields an update writes (none: the task stays as it is)."""
    plans: list[_PlanWrite]
    prepared: _Prepared | None = None

    @property
    def writes_anything(self) -> bool:
        return self.created or bool(self.fields) or bool(self.plans)


def _planned(
    rows: list[SheetRow], missing: list[str], state: _State, context: _Context
) -> list[_RowWrite]:
    """What each row writes, validated, against ``state``; ``ImportConflict`` or
    ``ImportInvalid`` when it cannot be applied."""
    conflicts = _conflicts(
        rows,
        missing,
        context.seen,
        context.decisions,
        state.by_id,
        state.by_code,
        state.plans,
        sheet=context.sheet,
    )
    if conflicts:
        raise ImportConflict(conflicts)
    return [_row_write(row, state.by_code.get(row.code), state.plans, context) for row in rows]


def _row_write(
    row: SheetRow, task: Task | None, plans: Mapping[MonthKey, MonthlyTask], context: _Context
) -> _RowWrite:
    """A row decided "the file's" overwrites; any other merges with what changed since the
    export it came from (or else since the preview). Validated as the versioned services
    validate (``versioned_create``, ``versioned_update``); a code's uniqueness is the conflict
    check's and the database's."""
    sheet, seen = context.sheet, context.seen
    then: PlansThen | None = None
    try:
        if task is None:
            task = Task(code=row.code, **row_values(row, sheet=sheet))
            task.full_clean(validate_unique=False)
            write = _RowWrite(row=row, task=task, created=True, fields=[], plans=[])
        else:
            seen_version = None
            if row.code in seen.tasks and context.decisions.get(row.row) != Decision.FILE:
                seen_version = row.version if row.version is not None else seen.tasks[row.code][1]
                then = context.then
            data = {change.field: change.new for change in task_changes(row, task, sheet=sheet)}
            if data and seen_version is not None and seen_version != task.version:
                data = _merged_changes(row, task, sheet=sheet, seen_version=seen_version) or {}
            for name, value in data.items():
                setattr(task, name, value)
            if data:
                task.full_clean(exclude=unaffected_fields(Task, data))
            write = _RowWrite(row=row, task=task, created=False, fields=list(data), plans=[])
        for month, volume in _changed_months(row, task, plans, then):
            plan = plans.get((task.pk, month)) if task.pk is not None else None
            if plan is None:
                plan = MonthlyTask(task=task, month=month, volume_plan=volume)
                # The task may be new (no id yet): its whole-units rule is asked here.
                plan.full_clean(exclude=["task", "month"])
                validate_whole_plan(unit=task.unit, volume=volume, field="volume_plan")
                write.plans.append(_PlanWrite(plan=plan, created=True))
            else:
                plan.volume_plan = volume
                plan.full_clean(exclude=unaffected_fields(MonthlyTask, ["volume_plan"]))
                write.plans.append(_PlanWrite(plan=plan, created=False))
    except ValidationError as error:
        raise ImportInvalid(
            [
                _("Row %(row)s (%(code)s): %(errors)s")
                % {"row": row.row, "code": row.code, "errors": "; ".join(_messages(error))}
            ]
        ) from error
    return write


def _confirmed(
    writes: list[_RowWrite],
    rows: list[SheetRow],
    missing: list[str],
    state: _State,
    context: _Context,
    *,
    now: datetime.datetime,
) -> list[_RowWrite]:
    """Inside the write's transaction: lock every task (and the plans of the file's months)
    and compare them with ``state``, read before; the rows whose task or plans moved on since
    (a report, another person's edit, a task created with a new row's code) are planned again
    from their objects as locked, and ``state`` follows them. On SQLite the transaction holds
    the database's write lock from its start, which is what serialises writers there."""
    versions, plan_versions = state.task_versions, state.plan_versions
    locked = dict(Task.objects.select_for_update().order_by("pk").values_list("pk", "version"))
    locked_plans = {
        (task_id, month): (pk, version)
        for pk, version, task_id, month in MonthlyTask.objects.select_for_update()
        .filter(month__in=context.sheet.months)
        .order_by("pk")
        .values_list("pk", "version", "task_id", "month")
    }
    moved = {pk for pk, version in locked.items() if versions.get(pk) != version}
    moved |= {pk for pk in versions if pk not in locked}
    moved |= {key[0] for key in plan_versions.keys() ^ locked_plans.keys()}
    moved |= {
        key[0]
        for key, plan in locked_plans.items()
        if key in plan_versions and plan_versions[key] != plan
    }
    moved |= {pk for pk in locked if pk not in versions}
    # Their codes then and now: a task renamed or created meanwhile may take a new row's code.
    codes = {state.by_id[pk].code for pk in moved if pk in state.by_id}
    codes |= set(Task.objects.filter(pk__in=moved).values_list("code", flat=True))
    codes |= {code for code in missing if context.seen.tasks[code][0] in moved}
    again = [row for row in rows if row.code in codes]
    again_missing = [code for code in missing if code in codes]
    if not again and not again_missing:
        return writes
    fresh = _State.read(context.sheet, codes=codes)
    for code in codes:
        task = state.by_code.pop(code, None)
        if task is not None:
            state.by_id.pop(task.pk, None)
    state.by_code.update(fresh.by_code)
    state.by_id.update(fresh.by_id)
    state.plans = {
        key: plan for key, plan in state.plans.items() if key[0] not in moved
    } | fresh.plans
    context = dataclasses.replace(context, then=plans_at_export(context.sheet))
    replanned = {
        write.row.row: write
        for write in _prepare(_planned(again, again_missing, state, context), now=now)
    }
    return [replanned.get(write.row.row, write) for write in writes]


_INSERTED = {
    model: [field for field in model._meta.concrete_fields if not field.primary_key]
    for model in (Task, MonthlyTask)
}
_PLAN_TASK = _INSERTED[MonthlyTask].index(MonthlyTask._meta.get_field("task"))


def _prepare(writes: list[_RowWrite], *, now: datetime.datetime) -> list[_RowWrite]:
    """Prepare each object the rows write (``_Prepared``), as a save would write and publish
    it: a new task's sort key; a new object's times, an updated one's version and update time
    (``now``, the import's, for them all); its columns as the database takes them; its event
    and history row (``saved_publication``)."""
    for write in writes:
        if write.created or write.fields:
            write.prepared = _prepared(
                write.task, created=write.created, fields=write.fields, now=now
            )
        for plan in write.plans:
            plan.prepared = _prepared(
                plan.plan, created=plan.created, fields=["volume_plan"], now=now
            )
    return writes


def _prepared(
    obj: Task | MonthlyTask, *, created: bool, fields: list[str], now: datetime.datetime
) -> _Prepared:
    if created:
        obj.created_at = obj.updated_at = now
        if isinstance(obj, Task):
            obj.code_key = task_code_key(obj.code)
        written = _INSERTED[type(obj)]
    else:
        obj.version += 1
        obj.updated_at = now
        written = [obj._meta.get_field(name) for name in [*fields, "version", "updated_at"]]
    values = [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in written]
    publication = saved_publication(obj, created=created)
    if created:
        publication = _later_ids(obj, publication)
    else:
        values.append(obj.pk)
    return _Prepared(values=values, publication=publication.encoded())


def _later_ids(obj: Task | MonthlyTask, publication: Publication) -> Publication:
    """A new object's publication with its id, and a new task's for its plan, to be learnt
    at the write."""
    data, fields = publication.data, publication.change.fields
    data["id"], fields["id"] = later("id"), [None, later("id")]
    if isinstance(obj, MonthlyTask) and obj.task.pk is None:
        data["task"], fields["task"] = later("task"), [None, later("task")]
    return dataclasses.replace(publication, object_id=later("id"))


def _write(writes: list[_RowWrite], result: ImportResult) -> list[EncodedPublication]:
    """Insert and update as prepared; every object's event, in the rows' order.

    Plain statements, which publish nothing (STYLE rule 8): the events are recorded after
    with ``publish_many``, one per object as a save would, in the order the rows' writes had
    when each went through the services (a row's task, then its plans). Only the new objects'
    ids are learnt here."""
    new_tasks = [write for write in writes if write.created]
    ids = insert_rows(Task, _INSERTED[Task], [write.prepared.values for write in new_tasks])
    for write, task_id in zip(new_tasks, ids, strict=True):
        _inserted(write.task, task_id)
    _update([write for write in writes if write.fields])
    plans = [plan for write in writes for plan in write.plans]
    new_plans = [plan for plan in plans if plan.created]
    for plan in new_plans:
        plan.plan.task_id = plan.plan.task.pk  # a new task's: from its insert above
        plan.prepared.values[_PLAN_TASK] = plan.plan.task_id
    ids = insert_rows(
        MonthlyTask, _INSERTED[MonthlyTask], [plan.prepared.values for plan in new_plans]
    )
    for plan, plan_id in zip(new_plans, ids, strict=True):
        _inserted(plan.plan, plan_id)
    _update([plan for plan in plans if not plan.created])
    publications = []
    for write in writes:
        if write.prepared is not None:
            publications.append(_publication(write.task, write.prepared))
        publications += [_publication(plan.plan, plan.prepared) for plan in write.plans]
        if write.writes_anything:
            result.codes.append(write.row.code)
            result.created += write.created
            result.updated += bool(write.fields)
            result.monthly_plans_written += len(write.plans)
        else:
            result.unchanged += 1
    return publications


def _inserted(obj: Task | MonthlyTask, pk: int) -> None:
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


def _update(writes: list[_RowWrite] | list[_PlanWrite]) -> None:
    """The prepared updates, one statement run for many rows per set of fields written."""
    groups: dict[tuple[str, ...], list[list[Any]]] = {}
    model: type[Task] | type[MonthlyTask] = Task
    for write in writes:
        if isinstance(write, _RowWrite):
            obj, fields = write.task, write.fields
        else:
            obj, fields = write.plan, ["volume_plan"]
        model = type(obj)
        groups.setdefault(tuple(fields), []).append(write.prepared.values)
    quote = connection.ops.quote_name
    for fields, rows in groups.items():
        columns = [
            model._meta.get_field(name).column for name in [*fields, "version", "updated_at"]
        ]
        assignments = ", ".join(f"{quote(column)} = %s" for column in columns)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {quote(model._meta.db_table)} SET {assignments} "
                f"WHERE {quote(model._meta.pk.column)} = %s",
                rows,
            )


def _publication(obj: Task | MonthlyTask, prepared: _Prepared) -> EncodedPublication:
    """The prepared event, with a new object's id (and its new task's) now known."""
    publication = prepared.publication
    if publication.object_id != later("id"):
        return publication
    values = {"id": obj.pk}
    if isinstance(obj, MonthlyTask):
        values["task"] = obj.task_id
    return publication.completed(values)


@dataclass(slots=True)
class _Deletion:
    """A task missing from the file, to delete with its plans and daily works as
    ``task_delete`` deletes them, prepared before the write."""

    task: Task
    objects: list[models.Model]
    """In the order a delete sends their signals (``Collector.delete``): each model's from
    the highest id, the task last."""
    publications: list[EncodedPublication]

    @property
    def dependents(self) -> set[tuple[str, int, int]]:
        return {
            (obj._meta.label, obj.pk, obj.version) for obj in self.objects if obj is not self.task
        }


def _deletions(missing: list[str], state: _State, seen: Seen) -> list[_Deletion]:
    """The tasks missing from the file that the apply deletes (those the preview listed and
    still here), each prepared (``_deletion``)."""
    tasks = [state.by_id.get(seen.tasks[code][0]) for code in missing]
    return [_deletion(task) for task in tasks if task is not None]


def _deletion(task: Task) -> _Deletion:
    collector = Collector(using=router.db_for_write(Task), origin=task)
    collector.collect([task])
    if collector.fast_deletes or collector.field_updates:  # pragma: no cover - no such relation
        raise RuntimeError("A task's deletion reaches more than its daily works and plans.")
    collector.sort()
    objects = [
        obj
        for instances in collector.data.values()
        for obj in sorted(instances, key=lambda obj: obj.pk, reverse=True)
    ]
    users = get_user_model().objects.in_bulk(
        {obj.created_by_id for obj in objects if getattr(obj, "created_by_id", None)}
    )
    for obj in objects:
        if obj is not task:
            obj.task = task  # what their events say of it, without a query each
        if getattr(obj, "created_by_id", None):
            obj.created_by = users[obj.created_by_id]
    return _Deletion(
        task=task,
        objects=objects,
        publications=[deleted_publication(obj).encoded() for obj in objects],
    )


def _dependent_models() -> list[type[models.Model]]:
    """The models whose rows a task's deletion takes with it (its plans and daily works: the
    relations to ``Task`` that cascade), read from the relations so this app names none of the
    apps above it."""
    return [
        relation.related_model
        for relation in Task._meta.related_objects
        if relation.on_delete is models.CASCADE
    ]


def _deletions_confirmed(deletions: list[_Deletion], state: _State) -> list[_Deletion]:
    """Inside the write's transaction, once the tasks are locked (``_confirmed``: a task
    changed since is a conflict): the deletions whose daily works or plans changed since they
    were prepared (a report's description corrected) are prepared again; a task deleted
    meanwhile is left out."""
    deletions = [deletion for deletion in deletions if deletion.task.pk in state.by_id]
    if not deletions:
        return deletions
    now: defaultdict[int, set[tuple[str, int, int]]] = defaultdict(set)
    for model in _dependent_models():
        rows = model.objects.filter(task__in=[deletion.task.pk for deletion in deletions])
        for pk, version, task_id in rows.values_list("pk", "version", "task_id"):
            now[task_id].add((model._meta.label, pk, version))
    return [
        deletion
        if deletion.dependents == now[deletion.task.pk]
        else _deletion(state.by_id[deletion.task.pk])
        for deletion in deletions
    ]


def _delete(deletions: list[_Deletion]) -> list[EncodedPublication]:
    """Delete the prepared objects, each model's in a few statements (plain ones, which send
    no signal: the events are the prepared ones, recorded after with ``publish_many``)."""
    by_model: dict[type[models.Model], list[int]] = {}
    for deletion in deletions:
        for obj in deletion.objects:
            by_model.setdefault(type(obj), []).append(obj.pk)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in (*_dependent_models(), Task):
            ids = by_model.get(model, [])
            size = min(query_params(), 1000)
            for start in range(0, len(ids), size):
                batch = ids[start : start + size]
                cursor.execute(
                    f"DELETE FROM {quote(model._meta.db_table)} "
                    f"WHERE {quote(model._meta.pk.column)} IN ({', '.join(['%s'] * len(batch))})",
                    batch,
                )
    return [publication for deletion in deletions for publication in deletion.publications]


def _missing_codes(sheet: ScheduleSheet, seen: Seen) -> list[str]:
    in_file = {row.code for row in sheet.rows}
    return [code for code in seen.tasks if code not in in_file]


def _conflicts(
    rows: list[SheetRow],
    missing: list[str],
    seen: Seen,
    decisions: Mapping[int, Decision],
    by_id: Mapping[int, Task],
    by_code: Mapping[str, Task],
    plans: Mapping[MonthKey, MonthlyTask],
    *,
    sheet: ScheduleSheet,
) -> list[Conflict]:
    conflicts = []
    for row in rows:
        message = _row_conflict(row, seen, decisions, by_id, by_code, plans, sheet=sheet)
        if message is not None:
            conflicts.append(Conflict(row=row.row, code=row.code, message=message))
    for code in missing:
        task_id, version = seen.tasks[code]
        task = by_id.get(task_id)
        if task is not None and task.version != version:
            conflicts.append(
                Conflict(row=None, code=code, message=_("changed in the app since the preview"))
            )
    return conflicts


def _row_conflict(
    row: SheetRow,
    seen: Seen,
    decisions: Mapping[int, Decision],
    by_id: Mapping[int, Task],
    by_code: Mapping[str, Task],
    plans: Mapping[MonthKey, MonthlyTask],
    *,
    sheet: ScheduleSheet,
) -> str | None:
    """Why applying ``row`` now could overwrite a change the preview did not show; None if it
    cannot: a row that now agrees with the app writes nothing, whatever changed meanwhile."""
    if row.code not in seen.tasks:
        if row.code in by_code:
            return _("created in the app since the preview")
        return None
    task_id, version = seen.tasks[row.code]
    task = by_id.get(task_id)
    if task is None:
        return _("deleted in the app since the preview")
    if not task_changes(row, task, sheet=sheet) and not plan_changes(row, task, plans):
        return None
    if row.row in seen.contested and row.row not in decisions:
        return _("changed in the app after the file was exported: choose which values to keep")
    if decisions.get(row.row) == Decision.FILE:
        # The file's values overwrite the app's as the preview showed them, and no later ones.
        if task.version != version:
            return _("changed in the app since the preview")
    else:
        # The apply merges with what changed since the export (or else since the preview).
        base = row.version if row.version is not None else version
        if (
            task.version != base
            and _merged_changes(row, task, sheet=sheet, seen_version=base) is None
        ):
            return _("changed in the app since the preview")
    for month in row.monthly_plans:
        if _plan_state(plans.get((task_id, month))) != seen.monthly_plans.get((task_id, month)):
            return _("its plan for %(month)s changed in the app since the preview") % {
                "month": month_heading(month)
            }
    return None


def _merged_changes(
    row: SheetRow, task: Task, *, sheet: ScheduleSheet, seen_version: int
) -> dict[str, Any] | None:
    """The task fields applying ``row`` writes when the task moved on since the preview saw
    ``seen_version``: those the file changes (its value differs from the one the preview saw)
    that the app does not hold already — the rule of every stale write
    (``scheduler_project.versioning.merge_stale``): a foreman's report (which moves only the
    volume done) or another person's edit of other fields is no conflict. None when one of the
    file's changes was changed since, to another value, or the history does not reach back."""
    try:
        merged = merge_stale(instance=task, data=row_values(row, sheet=sheet), version=seen_version)
    except VersionConflict:
        return None
    return {name: value for name, value in merged.items() if getattr(task, name) != value}


def _messages(error: ValidationError) -> list[str]:
    if not hasattr(error, "error_dict"):
        return list(error.messages)
    return [
        f"{_label(name)}: {message}" if name != "__all__" else message
        for name, messages in error.message_dict.items()
        for message in messages
    ]


# The plan between the two steps: kept on the server (``ImportPlan``), the page carries its token.
def import_plan_store(*, sheet: ScheduleSheet, seen: Seen, user: AbstractBaseUser) -> str:
    """Keep the previewed plan for its apply; its token. Expired plans are deleted, and the
    user's oldest beyond ``SPREADSHEET_IMPORT_PLANS_PER_USER``: a plan is found only by the
    token the preview's page carries, so a user who previews again leaves the older ones."""
    now = timezone.now()
    data = zlib.compress(json.dumps(plan_to_data(sheet=sheet, seen=seen)).encode(), 6)
    with transaction.atomic():
        ImportPlan.objects.filter(expires_at__lte=now).delete()
        kept = settings.SPREADSHEET_IMPORT_PLANS_PER_USER - 1
        older = ImportPlan.objects.filter(user=user).order_by("-created_at", "-id")[kept:]
        ImportPlan.objects.filter(pk__in=list(older.values_list("pk", flat=True))).delete()
        plan = ImportPlan.objects.create(
            token=secrets.token_urlsafe(32),
            user=user,
            data=data,
            created_at=now,
            expires_at=now
            + datetime.timedelta(seconds=settings.SPREADSHEET_IMPORT_PLAN_MAX_AGE_SECONDS),
        )
    return plan.token


def import_plan_load(*, token: str, user: AbstractBaseUser) -> tuple[ScheduleSheet, Seen] | None:
    """The plan kept under ``token`` for ``user``; None when there is none (expired, applied,
    another user's, or never made)."""
    plan = ImportPlan.objects.live().filter(token=token, user=user).first()
    if plan is None:
        return None
    return plan_from_data(json.loads(zlib.decompress(bytes(plan.data))))


def import_plan_discard(*, token: str, user: AbstractBaseUser) -> None:
    """Forget an applied (or superseded) plan."""
    ImportPlan.objects.filter(token=token, user=user).delete()


def plan_to_data(*, sheet: ScheduleSheet, seen: Seen) -> dict[str, Any]:
    return {
        "rows": [
            [
                row.row,
                row.code,
                row.name,
                row.unit,
                str(row.volume_plan),
                row.start_date.isoformat(),
                row.end_date.isoformat(),
                None if row.estimated_cost is None else str(row.estimated_cost),
                row.version,
                {month.isoformat(): str(volume) for month, volume in row.monthly_plans.items()},
            ]
            for row in sheet.rows
        ],
        "invalid": [
            [row.row, row.code, [[error.cell, error.message] for error in row.errors]]
            for row in sheet.invalid
        ],
        "columns": sorted(sheet.columns),
        "months": [month.isoformat() for month in sheet.months],
        "exported_at": None if sheet.exported_at is None else sheet.exported_at.isoformat(),
        "section_names": sheet.section_names,
        "tasks": seen.tasks,
        "plans": [
            [task_id, month.isoformat(), plan_id, version]
            for (task_id, month), (plan_id, version) in seen.monthly_plans.items()
        ],
        "contested": sorted(seen.contested),
    }


def plan_from_data(data: Mapping[str, Any]) -> tuple[ScheduleSheet, Seen]:
    date = datetime.date.fromisoformat
    rows = [
        SheetRow(
            row=row,
            code=code,
            name=name,
            unit=unit,
            volume_plan=Decimal(volume),
            start_date=date(start),
            end_date=date(end),
            estimated_cost=None if cost is None else Decimal(cost),
            version=version,
            monthly_plans={date(month): Decimal(plan) for month, plan in monthly.items()},
        )
        for row, code, name, unit, volume, start, end, cost, version, monthly in data["rows"]
    ]
    invalid = [
        InvalidRow(
            row=row, code=code, errors=[CellError(cell, message) for cell, message in errors]
        )
        for row, code, errors in data["invalid"]
    ]
    sheet = ScheduleSheet(
        rows=rows,
        invalid=invalid,
        columns=frozenset(data["columns"]),
        months=[date(month) for month in data["months"]],
        exported_at=(
            None
            if data.get("exported_at") is None
            else datetime.datetime.fromisoformat(data["exported_at"])
        ),
        section_names=dict(data.get("section_names", {})),
    )
    seen = Seen(
        tasks={code: (task_id, version) for code, (task_id, version) in data["tasks"].items()},
        monthly_plans={
            (task_id, date(month)): (plan_id, version)
            for task_id, month, plan_id, version in data["plans"]
        },
        contested=frozenset(data["contested"]),
    )
    return sheet, seen
