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

import datetime
import json
import secrets
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from monthly.fields import parse_month
from monthly.models import MonthlyTask
from monthly.services import monthly_task_create, monthly_task_update
from realtime.context import VIA_IMPORT, writing_via
from realtime.events import events_batched
from realtime.history import changes_since
from realtime.models import Change
from realtime.protocol import MONTHLY_TASKS
from scheduler_project.versioning import VersionConflict, merge_stale

from .imports import CellError, InvalidRow, ScheduleSheet, SheetRow
from .models import ImportPlan, Task
from .services import sections_name, task_create, task_delete, task_update
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
    for row in sheet.rows:
        preview = _row_preview(row, tasks.get(row.code), plans, sheet=sheet, since=since, then=then)
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
    for month, volume in row.monthly_plans.items():
        plan = MonthlyTask(month=month, volume_plan=volume)
        messages += [
            (month_heading(month), message)
            for _field, message in _validation_messages(
                lambda plan=plan: plan.clean_fields(exclude=["task"])
            )
        ]
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

    Every task (and the plans of the file's months) is locked, in id order, then compared
    with ``seen``: a task or plan changed, created or deleted since, or a contested row
    without a decision, raises ``ImportConflict`` listing them all. Rows in error, or a row
    that the models' rules refuse while writing, raise ``ImportInvalid``. Either way nothing
    is written. Writes go through the versioned services, one event per object, rung in one
    batch on commit, recorded in the history as made through the import (the page's upload
    and the command alike). A row equal to the app writes nothing.
    """
    if sheet.invalid:
        raise ImportInvalid(
            _("Row %(row)s: %(errors)s")
            % {"row": row.row, "errors": "; ".join(str(error) for error in row.errors)}
            for row in sheet.invalid
            if row.errors  # a row repeating a code is named by the code's first row
        )
    result = ImportResult()
    with writing_via(VIA_IMPORT), events_batched(), transaction.atomic():
        tasks = list(Task.objects.select_for_update().order_by("pk"))
        by_id = {task.pk: task for task in tasks}
        by_code = {task.code: task for task in tasks}
        plans = {
            (plan.task_id, plan.month): plan
            for plan in MonthlyTask.objects.select_for_update()
            .filter(month__in=sheet.months)
            .order_by("pk")
        }
        rows = []
        for row in sheet.rows:
            if row.row in seen.contested and decisions.get(row.row) == Decision.APP:
                result.kept += 1
            else:
                rows.append(row)
        missing = _missing_codes(sheet, seen) if delete_missing else []
        conflicts = _conflicts(rows, missing, seen, decisions, by_id, by_code, plans, sheet=sheet)
        if conflicts:
            raise ImportConflict(conflicts)
        then = plans_at_export(sheet)
        for row in rows:
            # A row decided "the file's" overwrites; any other merges with what changed since
            # the export it came from (or else since the preview).
            seen_version, row_then = None, None
            if row.code in seen.tasks and decisions.get(row.row) != Decision.FILE:
                seen_version = row.version if row.version is not None else seen.tasks[row.code][1]
                row_then = then
            _apply_row(
                row,
                by_code.get(row.code),
                plans,
                sheet=sheet,
                seen_version=seen_version,
                then=row_then,
                actor=actor,
                result=result,
            )
        for code in missing:
            task_id, version = seen.tasks[code]
            if task_id in by_id:
                task_delete(task=by_id[task_id], version=version, actor=actor, locked=True)
                result.deleted += 1
        result.sections_named = sections_name(names=sheet.section_names)
    return result


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


def _apply_row(
    row: SheetRow,
    task: Task | None,
    plans: dict[MonthKey, MonthlyTask],
    *,
    sheet: ScheduleSheet,
    seen_version: int | None,
    then: PlansThen | None,
    actor: AbstractBaseUser | None,
    result: ImportResult,
) -> None:
    try:
        written = False
        if task is None:
            task = task_create(data={"code": row.code, **row_values(row, sheet=sheet)}, actor=actor)
            result.created += 1
            written = True
        else:
            data = {change.field: change.new for change in task_changes(row, task, sheet=sheet)}
            if data and seen_version is not None and seen_version != task.version:
                data = _merged_changes(row, task, sheet=sheet, seen_version=seen_version) or {}
            if data:
                task_update(task=task, data=data, version=task.version, actor=actor, locked=True)
                result.updated += 1
                written = True
        for month, volume in _changed_months(row, task, plans, then):
            plan = plans.get((task.pk, month))
            if plan is None:
                monthly_task_create(
                    data={"task": task, "month": month, "volume_plan": volume}, actor=actor
                )
            else:
                monthly_task_update(
                    monthly_task=plan,
                    data={"volume_plan": volume},
                    version=plan.version,
                    actor=actor,
                    locked=True,
                )
            result.monthly_plans_written += 1
            written = True
    except ValidationError as error:
        raise ImportInvalid(
            [
                _("Row %(row)s (%(code)s): %(errors)s")
                % {"row": row.row, "code": row.code, "errors": "; ".join(_messages(error))}
            ]
        ) from error
    if written:
        result.codes.append(row.code)
    else:
        result.unchanged += 1


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
