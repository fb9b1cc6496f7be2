"""Reading an uploaded schedule sheet (.xlsx) into typed rows and cell-referenced errors.

Placeholder on the import branch: the types are the interface agreed with the reader's branch
(wt-xread), which owns this module; ``read_schedule`` comes with it.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import IO


class WorkbookError(Exception):
    """The whole file is refused; str(error) is the message for the user (translated)."""


@dataclass(frozen=True, slots=True)
class CellError:
    cell: str
    message: str

    def __str__(self) -> str:
        return f"{self.cell}: {self.message}"


@dataclass(frozen=True, slots=True)
class SheetRow:
    row: int
    code: str
    name: str
    unit: str
    volume_plan: Decimal
    start_date: datetime.date
    end_date: datetime.date
    estimated_cost: Decimal | None
    version: int | None
    monthly_plans: dict[datetime.date, Decimal]


@dataclass(frozen=True, slots=True)
class InvalidRow:
    row: int
    code: str | None
    errors: list[CellError]


@dataclass(frozen=True, slots=True)
class ScheduleSheet:
    rows: list[SheetRow]
    invalid: list[InvalidRow]
    columns: frozenset[str]
    months: list[datetime.date]


def read_schedule(file: IO[bytes]) -> ScheduleSheet:
    raise NotImplementedError("The reader lands with the wt-xread branch.")
