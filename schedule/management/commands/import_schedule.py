import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from schedule.import_plans import (
    Decision,
    ImportPreview,
    ImportRefused,
    RowKind,
    schedule_import_apply,
    schedule_import_preview,
)
from schedule.imports import WorkbookError, read_schedule


def shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return f'"{value}"' if isinstance(value, str) else str(value)


class Command(BaseCommand):
    help = (
        "Import a schedule sheet (.xlsx): print the preview, then apply it in one transaction "
        "(all or nothing) unless --dry-run. Rows in conflict (their task changed in the app "
        "after the file was exported) refuse the import unless --overwrite takes the file's "
        "values. Exits non-zero when nothing could be applied."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The .xlsx file.")
        parser.add_argument("--dry-run", action="store_true", help="Preview only; write nothing.")
        parser.add_argument(
            "--delete-missing",
            action="store_true",
            help="Delete the tasks missing from the file (with their daily works and plans).",
        )
        parser.add_argument(
            "--overwrite",
            action="store_true",
            help="For rows in conflict, write the file's values over the app's.",
        )

    def handle(
        self,
        *args: Any,
        file: Path,
        dry_run: bool,
        delete_missing: bool,
        overwrite: bool,
        **options: Any,
    ) -> None:
        try:
            with file.open("rb") as stream:
                sheet = read_schedule(stream)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from error
        except WorkbookError as error:
            raise CommandError(f"{file}: {error}") from error
        preview = schedule_import_preview(sheet=sheet)
        self.print_preview(preview, delete_missing=delete_missing)
        if preview.errors:
            raise CommandError("Rows in error: nothing imported.")
        if preview.conflicts and not overwrite:
            raise CommandError(
                "Rows in conflict: nothing imported (--overwrite takes the file's values)."
            )
        if dry_run:
            self.stdout.write("Dry run: nothing written.")
            return
        decisions = {row.row: Decision.FILE for row in preview.conflicts}
        try:
            result = schedule_import_apply(
                sheet=sheet,
                seen=preview.seen,
                decisions=decisions,
                delete_missing=delete_missing,
                actor=None,
            )
        except ImportRefused as refused:
            for problem in refused.problems:
                self.stderr.write(str(problem))
            raise CommandError("Nothing imported.") from refused
        self.stdout.write(
            f"Imported: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged, {result.deleted} deleted, "
            f"{result.monthly_plans_written} monthly plans written, "
            f"{result.sections_named} sections named."
        )

    def print_preview(self, preview: ImportPreview, *, delete_missing: bool) -> None:
        counts = preview.counts
        self.stdout.write(
            f"Rows: {counts['new']} new, {counts['changed']} changed, "
            f"{counts['unchanged']} unchanged, {counts['error']} in error, "
            f"{counts['conflict']} in conflict."
        )
        for row in preview.rows:
            if row.kind == RowKind.ERROR and not row.errors:
                continue  # repeats a code: named by the code's first row
            if row.kind == RowKind.ERROR:
                errors = "; ".join(str(error) for error in row.errors)
                self.stdout.write(f"Row {row.row} ({row.code or '?'}) error: {errors}")
            elif row.kind in {RowKind.CHANGED, RowKind.CONFLICT}:
                changes = "; ".join(
                    f"{change.label}: {shown(change.old)} → {shown(change.new)}"
                    for change in row.changes
                )
                self.stdout.write(f"Row {row.row} ({row.code}) {row.kind}: {changes}")
            elif row.kind == RowKind.NEW:
                self.stdout.write(f"Row {row.row} ({row.code}) new")
        if preview.missing:
            fate = "deleted" if delete_missing else "kept"
            self.stdout.write(f"Missing from the file ({fate}):")
            for task in preview.missing:
                self.stdout.write(
                    f"  {task.code} {task.name} ({task.daily_works} daily works, "
                    f"{task.monthly_plans} monthly plans)"
                )
