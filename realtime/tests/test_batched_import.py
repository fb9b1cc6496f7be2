"""A 1,000-row import reaches a real socket: daphne with Redis, its hub polling the log once an
hour, so the events arrive through the import's one bell per stream."""

import pytest
from channels_redis.core import RedisChannelLayer

from realtime.protocol import group_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ROWS = 1000

IMPORT = f"""
import datetime
from decimal import Decimal
from schedule.import_plans import schedule_import_apply, schedule_import_preview
from schedule.imports import ScheduleSheet, SheetRow
rows = [
    SheetRow(row=n + 1, code=f"7.{{n}}", name=f"Work {{n}}", unit="m³",
             volume_plan=Decimal(n), start_date=datetime.date(2026, 11, 1),
             end_date=datetime.date(2026, 11, 30), estimated_cost=None, version=None,
             monthly_plans={{}})
    for n in range(1, {ROWS} + 1)
]
sheet = ScheduleSheet(rows=rows, invalid=[], columns=frozenset(), months=[])
seen = schedule_import_preview(sheet=sheet).seen
result = schedule_import_apply(
    sheet=sheet, seen=seen, decisions={{}}, delete_missing=False, actor=None
)
print(result.created)
"""

ONE_MORE = """
from schedule.models import Task
Task.objects.create(code="8.1", name="x", unit="m", volume_plan=1,
                    start_date="2026-11-01", end_date="2026-11-02")
"""


@pytest.fixture(scope="module")
def server(daphne_factory, redis_url):
    return daphne_factory(REDIS_URL=redis_url, REALTIME_LOG_POLL_SECONDS="3600")


async def test_a_thousand_imported_tasks_reach_a_socket_as_a_thousand_events_in_order(
    server, ws_connect, token, orm, redis_url, log_frames
):
    layer = RedisChannelLayer(hosts=[redis_url])
    bells = await layer.new_channel()
    await layer.group_add(group_for("tasks"), bells)
    async with ws_connect(server, token=token.key) as client:
        await client.subscribe(["tasks"])

        assert await orm.run(IMPORT, REDIS_URL=redis_url) == f"{ROWS}\n"

        logged = await log_frames()
        received = [await client.receive_json() for _ in logged]
        assert len(logged) == ROWS
        assert received == logged
        assert [frame["data"]["code"] for frame in received] == [
            f"7.{n}" for n in range(1, ROWS + 1)
        ]
        assert await client.frames_before_pong() == []

    # The bells: one for the whole import, then the single write's own, in the order rung.
    await orm.run(ONE_MORE, REDIS_URL=redis_url)
    (*imported, one_more) = await log_frames()
    rung = [(await layer.receive(bells))["id"]]
    while rung[-1] != one_more["id"]:
        rung.append((await layer.receive(bells))["id"])
    assert rung == [imported[-1]["id"], one_more["id"]]
    await layer.flush()
