import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from realtime.models import Change, Event, EventLogState
from realtime.services import event_log_prune

pytestmark = pytest.mark.django_db


def log(count: int, *, age_days: float = 0) -> list[int]:
    created_at = timezone.now() - datetime.timedelta(days=age_days)
    return [
        Event.objects.create(
            stream="tasks", type="task_updated", object_id=1, data={}, created_at=created_at
        ).id
        for _ in range(count)
    ]


def test_pruning_by_age_keeps_recent_events_and_records_the_cut():
    old = log(3, age_days=10)
    recent = log(2)

    deleted = event_log_prune(max_age=datetime.timedelta(days=7), keep=1000)

    assert deleted == 3
    assert list(Event.objects.values_list("id", flat=True)) == recent
    assert EventLogState.pruned_through_id() == old[-1]


def test_pruning_by_count_keeps_the_newest_events_despite_gaps_in_ids():
    ids = log(5)
    Event.objects.filter(id=ids[3]).delete()

    event_log_prune(max_age=datetime.timedelta(days=7), keep=2)

    assert list(Event.objects.values_list("id", flat=True)) == [ids[2], ids[4]]
    assert EventLogState.pruned_through_id() == ids[1]


def test_pruning_twice_deletes_nothing_more():
    log(3, age_days=10)
    event_log_prune(max_age=datetime.timedelta(days=7), keep=1000)

    assert event_log_prune(max_age=datetime.timedelta(days=7), keep=1000) == 0


def test_the_command_uses_the_retention_settings(settings, capsys):
    settings.REALTIME_RETENTION_DAYS = 1
    settings.REALTIME_RETENTION_COUNT = 1000
    log(2, age_days=2)
    kept = log(1)

    call_command("prune_events")

    assert "Pruned 2 events." in capsys.readouterr().out
    assert list(Event.objects.values_list("id", flat=True)) == kept


def history(count: int, *, age_days: float = 0) -> list[int]:
    at = timezone.now() - datetime.timedelta(days=age_days)
    return [
        Change.objects.create(
            stream="tasks",
            object_id=1,
            object_repr="1.1",
            kind="updated",
            version=version,
            fields={},
            via="script",
            at=at,
            event_id=version,
        ).id
        for version in range(2, count + 2)
    ]


@pytest.mark.parametrize(
    ("retention_days", "option", "kept_old"),
    [
        (0, [], True),  # the default keeps everything
        (30, [], False),
        (0, ["--history-days", "30"], False),
        (30, ["--history-days", "0"], True),
    ],
)
def test_the_command_prunes_the_history_only_as_retention_says(
    settings, capsys, retention_days, option, kept_old
):
    settings.HISTORY_RETENTION_DAYS = retention_days
    old = history(2, age_days=40)
    recent = history(1, age_days=1)

    call_command("prune_events", *option)

    remaining = sorted(Change.objects.values_list("id", flat=True))
    assert remaining == sorted(old + recent if kept_old else recent)
    assert ("Pruned 2 changes from the history." in capsys.readouterr().out) is not kept_old
