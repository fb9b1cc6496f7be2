import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from realtime.models import Event, EventLogState
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
