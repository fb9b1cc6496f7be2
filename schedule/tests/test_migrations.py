import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from schedule.models import task_code_key

BEFORE_KEYS = [("schedule", "0001_initial")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_tasks_their_code_keys_and_publishes_nothing():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_KEYS)
    OldTask = executor.loader.project_state(BEFORE_KEYS).apps.get_model("schedule", "Task")
    for code in ["10.1", "2.1", "1.10"]:
        OldTask.objects.create(
            code=code,
            name=f"Work {code}",
            unit="m",
            volume_plan=1,
            start_date=datetime.date(2026, 11, 1),
            end_date=datetime.date(2026, 11, 30),
        )

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(latest)

    apps = executor.loader.project_state(latest).apps
    Task, Event = apps.get_model("schedule", "Task"), apps.get_model("realtime", "Event")
    assert list(Task.objects.order_by("code_key").values_list("code", "code_key", "version")) == [
        ("1.10", task_code_key("1.10"), 1),
        ("2.1", task_code_key("2.1"), 1),
        ("10.1", task_code_key("10.1"), 1),
    ]
    assert not Event.objects.exists()
