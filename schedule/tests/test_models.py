import datetime
import json
import random
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from hypothesis import example, given
from hypothesis import strategies as st

from daily.models import DailyWork
from daily.tests.factories import DailyWorkFactory
from monthly.models import MonthlyTask
from monthly.tests.factories import MonthlyTaskFactory
from schedule.models import CODE_KEY_MAX_LENGTH, CODE_MAX_LENGTH, Task, task_code_key
from schedule.services import task_update

from .factories import TaskFactory

pytestmark = pytest.mark.django_db

NOV_1 = datetime.date(2026, 11, 1)
NOV_30 = datetime.date(2026, 11, 30)


def unsaved_task(**fields) -> Task:
    return Task(
        **{
            "code": "1.1",
            "name": "Excavation",
            "unit": "m³",
            "volume_plan": Decimal(100),
            "start_date": NOV_1,
            "end_date": NOV_30,
        }
        | fields
    )


def test_a_valid_task_passes_full_clean():
    unsaved_task().full_clean()


def test_task_code_must_be_unique():
    TaskFactory(code="1.1")

    with pytest.raises(ValidationError) as error:
        unsaved_task(code="1.1").full_clean()

    assert error.value.message_dict == {"code": ["Task with this Code already exists."]}


def test_database_refuses_a_duplicate_task_code():
    TaskFactory(code="1.1")

    with pytest.raises(IntegrityError), transaction.atomic():
        unsaved_task(code="1.1").save()


def test_end_date_before_start_date_is_an_error_on_the_end_date():
    with pytest.raises(ValidationError) as error:
        unsaved_task(start_date=NOV_30, end_date=NOV_1).full_clean()

    assert error.value.message_dict == {
        "end_date": ["The end date cannot be before the start date."]
    }


def test_a_task_may_start_and_end_on_the_same_day():
    unsaved_task(start_date=NOV_1, end_date=NOV_1).full_clean()


def test_database_refuses_end_date_before_start_date_when_clean_is_skipped():
    with pytest.raises(IntegrityError), transaction.atomic():
        unsaved_task(start_date=NOV_30, end_date=NOV_1).save()


def test_negative_planned_volume_is_an_error():
    with pytest.raises(ValidationError) as error:
        unsaved_task(volume_plan=Decimal("-0.001")).full_clean()

    assert error.value.message_dict == {
        "volume_plan": ["Ensure this value is greater than or equal to 0."]
    }


def test_database_refuses_a_negative_planned_volume_when_clean_is_skipped():
    with pytest.raises(IntegrityError), transaction.atomic():
        unsaved_task(volume_plan=Decimal(-1)).save()


def test_version_starts_at_one_and_every_save_bumps_it():
    task = unsaved_task()
    task.save()
    assert task.version == 1

    task.name = "Backfill"
    task.save()
    task.save()

    task.refresh_from_db()
    assert task.version == 3
    assert task.name == "Backfill"


def test_save_with_update_fields_also_stores_the_new_version_and_updated_at():
    task = TaskFactory()
    created = Task.objects.get(pk=task.pk)

    task.name = "Renamed"
    task.save(update_fields=["name"])

    task.refresh_from_db()
    assert (task.name, task.version) == ("Renamed", 2)
    assert task.updated_at > created.updated_at


def test_saving_a_stale_copy_of_a_task_keeps_the_volume_done():
    task = TaskFactory()
    stale = Task.objects.get(pk=task.pk)
    DailyWorkFactory(task=task, volume=Decimal(7))

    stale.name = "Renamed in the admin"
    stale.save()

    task.refresh_from_db()
    assert (task.name, task.volume_fact) == ("Renamed in the admin", Decimal(7))


def test_deleting_a_task_deletes_its_daily_works_and_monthly_plans():
    task, other = TaskFactory.create_batch(2)
    DailyWorkFactory.create_batch(2, task=task)
    MonthlyTaskFactory(task=task)
    kept_work = DailyWorkFactory(task=other)
    kept_plan = MonthlyTaskFactory(task=other)

    task.delete()

    assert list(DailyWork.objects.all()) == [kept_work]
    assert list(MonthlyTask.objects.all()) == [kept_plan]


@pytest.mark.parametrize(
    ("volume_plan", "volume_fact", "expected"),
    [
        ("100", "0", "0.0"),
        ("100", "25", "25.0"),
        ("3", "1", "33.3"),
        ("3", "2", "66.7"),
        ("10", "15", "150.0"),
        ("0", "5", "0"),
        ("0.001", "99999999999.999", "9999999999999900.0"),
    ],
)
def test_progress_percent_is_the_share_done_rounded_to_one_decimal(
    volume_plan, volume_fact, expected
):
    task = unsaved_task(volume_plan=Decimal(volume_plan), volume_fact=Decimal(volume_fact))

    assert task.progress_percent == Decimal(expected)


def test_active_on_selects_tasks_running_that_day_ends_included():
    early = TaskFactory(start_date=datetime.date(2026, 10, 1), end_date=datetime.date(2026, 10, 31))
    late = TaskFactory(start_date=NOV_1, end_date=NOV_30)

    assert list(Task.objects.active_on(datetime.date(2026, 10, 31))) == [early]
    assert list(Task.objects.active_on(NOV_1)) == [late]
    assert list(Task.objects.active_on(datetime.date(2026, 12, 1))) == []


def test_overlapping_selects_tasks_sharing_at_least_one_day_with_the_period():
    october = TaskFactory(
        code="1", start_date=datetime.date(2026, 10, 1), end_date=datetime.date(2026, 10, 31)
    )
    november = TaskFactory(code="2", start_date=NOV_1, end_date=NOV_30)
    TaskFactory(
        code="3", start_date=datetime.date(2026, 12, 1), end_date=datetime.date(2026, 12, 31)
    )

    assert list(Task.objects.overlapping(datetime.date(2026, 10, 31), NOV_1)) == [
        october,
        november,
    ]


# The one order of codes: ``code_key``.

READING_ORDER = [
    "1",
    "1.1",
    "1.2",
    "1.2a",
    "1.10",
    "01.11",
    "1a",
    "2.1",
    "10.1",
    "A-3",
    "a-10",
    "B-2",
    "А-1",  # Cyrillic letters after Latin ones
    "б-2",
]


def shuffled(codes: list[str]) -> list[str]:
    codes = list(codes)
    random.Random(10).shuffle(codes)
    return codes


def reading_order(code: str) -> tuple[tuple[int, int, str], ...]:
    """The order people read codes in, spelled as directly as possible to check the key by."""
    return tuple(
        (0, int(run), "") if index % 2 else (1, 0, run)
        for index, run in enumerate(re.split(r"([0-9]+)", code.casefold()))
        if run
    )


def sign(a, b) -> int:
    return (a > b) - (a < b)


def test_codes_sort_as_people_read_them():
    assert sorted(shuffled(READING_ORDER), key=task_code_key) == READING_ORDER


@given(st.text(max_size=CODE_MAX_LENGTH), st.text(max_size=CODE_MAX_LENGTH))
@example("1", "1.1")
@example("1.1", "1a")
@example("ß", "ss")
@example("1.02", "1.2")
def test_keys_compare_as_text_like_the_codes_they_stand_for(first, second):
    assert sign(task_code_key(first), task_code_key(second)) == sign(
        reading_order(first), reading_order(second)
    )


@given(st.text(max_size=CODE_MAX_LENGTH))
@example("ﬃ" * CODE_MAX_LENGTH)
def test_a_key_is_digits_that_fit_its_column(code):
    key = task_code_key(code)

    assert set(key) <= set("0123456789")
    assert len(key) <= CODE_KEY_MAX_LENGTH


def test_the_database_orders_tasks_by_code_as_people_read_them():
    for code in shuffled(READING_ORDER):
        TaskFactory(code=code)

    assert list(Task.objects.values_list("code", flat=True)) == READING_ORDER


def _save(task: Task, code: str) -> None:
    task.code = code
    task.save()


def _save_update_fields(task: Task, code: str) -> None:
    task.code = code
    task.save(update_fields=["code"])


def _service(task: Task, code: str) -> None:
    task_update(task=task, data={"code": code}, version=task.version)


def _bulk_update(task: Task, code: str) -> None:
    task.code = code
    Task.objects.bulk_update([task], ["code"])


def _queryset_update(task: Task, code: str) -> None:
    Task.objects.filter(pk=task.pk).update(code=code)


@pytest.mark.parametrize(
    "write", [_save, _save_update_fields, _service, _bulk_update, _queryset_update]
)
def test_every_write_path_keeps_the_code_key(write):
    task = TaskFactory(code="2.1")

    write(task, "10.1")

    assert Task.objects.values_list("code", "code_key").get(pk=task.pk) == (
        "10.1",
        task_code_key("10.1"),
    )


def test_bulk_create_gives_each_task_its_code_key():
    Task.objects.bulk_create([unsaved_task(code=code) for code in ["10.1", "2.1"]], batch_size=1)

    assert list(Task.objects.values_list("code", "code_key")) == [
        ("2.1", task_code_key("2.1")),
        ("10.1", task_code_key("10.1")),
    ]


def test_a_queryset_update_of_the_code_to_an_expression_is_refused():
    task = TaskFactory(code="2.1")

    with pytest.raises(TypeError, match="takes a string"):
        Task.objects.filter(pk=task.pk).update(code=Concat(F("code"), Value("0")))

    assert Task.objects.get(pk=task.pk).code == "2.1"


def test_database_refuses_a_task_without_its_code_key():
    task = TaskFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        models.QuerySet(Task).filter(pk=task.pk).update(code_key="")


def test_a_fixture_task_without_its_code_key_is_refused_rather_than_sorted_first(tmp_path):
    fixture = tmp_path / "tasks.json"
    fields = unsaved_task(code="2.1").__dict__
    fixture.write_text(
        json.dumps(
            [
                {
                    "model": "schedule.task",
                    "pk": 1,
                    "fields": {
                        name: str(fields[name])
                        for name in [
                            "code",
                            "name",
                            "unit",
                            "volume_plan",
                            "start_date",
                            "end_date",
                        ]
                    }
                    | {"created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z"},
                }
            ]
        )
    )

    with pytest.raises(IntegrityError, match="task_code_key_set"):
        call_command("loaddata", fixture, verbosity=0)

    assert not Task.objects.exists()
