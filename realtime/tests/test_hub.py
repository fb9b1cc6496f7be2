"""The handoff from a session's replay to the hub's live delivery, and its writer, driven step by
step: the test runs the hub's log reads itself (no bells, no polls), so every interleaving of a
replay with commits, hub reads, lost or late bells and prunes is one that the test chose.

The sessions write to a stand-in transport that records what it is sent and can stall like a
client that stops reading; everything else (the event log, its pruning, the logins and
permissions checked with each read) is the real thing.
"""

import asyncio
import datetime
import json
from decimal import Decimal
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token

from realtime import hub as hub_module
from realtime import protocol, selectors
from realtime.hub import Hub, Session
from realtime.selectors import Credentials
from realtime.services import event_log_prune
from schedule.roles import FOREMEN, roles_ensure
from schedule.services import task_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def _layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


class Transport:
    """A socket as its session sees it: the ASGI messages sent, in order; ``stall()`` makes
    sends wait (a client that stops reading) until ``resume()``."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.readable = asyncio.Event()
        self.readable.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.readable.wait()
        self.messages.append(message)

    def stall(self) -> None:
        self.readable.clear()

    def resume(self) -> None:
        self.readable.set()

    @property
    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(m["text"]) for m in self.messages if m["type"] == "websocket.send"]

    @property
    def event_ids(self) -> list[int]:
        return [frame["id"] for frame in self.frames if "event" in frame]

    @property
    def close_codes(self) -> list[int]:
        return [m["code"] for m in self.messages if m["type"] == "websocket.close"]


async def quiet_hub() -> Hub:
    """A hub that reads the log only when the test says so (``deliver_new``)."""
    hub = Hub()
    hub._start = lambda loop: setattr(hub, "loop", loop)  # no bell listener, no poll
    hub.head = await database_sync_to_async(selectors.log_head)()
    hub.ready.set()
    return hub


@database_sync_to_async
def login(username: str = "ivan", role: str | None = FOREMEN) -> Credentials:
    user = get_user_model().objects.create_user(username, password="pw-12345-x")
    if role:
        user.groups.add(roles_ensure()[role])
    return Credentials(
        user_id=user.pk, session_key=None, token_key=Token.objects.create(user=user).key
    )


async def attach(
    hub: Hub, username: str = "ivan", role: str | None = FOREMEN
) -> tuple[Session, Transport]:
    transport = Transport()
    return hub.attach(transport.send, await login(username, role)), transport


@database_sync_to_async
def commit(count: int = 1) -> list[int]:
    """``count`` new tasks, each committed with its event; their event ids."""
    ids = []
    for _ in range(count):
        number = selectors.log_head() + 1
        task_create(
            data={
                "code": f"9.{number}",
                "name": f"Работа {number}",
                "unit": "м³",
                "volume_plan": Decimal(10),
                "start_date": datetime.date(2026, 11, 1),
                "end_date": datetime.date(2026, 11, 30),
            }
        )
        ids.append(selectors.log_head())
    return ids


async def test_a_resume_replays_the_events_after_its_id_and_then_the_hub_delivers_the_new_ones():
    hub = await quiet_hub()
    first, second = await commit(2)
    session, transport = await attach(hub)

    head = await session.subscribe(["tasks"], last_event_id=first)
    (third,) = await commit()
    await hub.deliver_new()

    assert head == second
    assert transport.event_ids == [second, third]


@pytest.mark.parametrize("during", [1, 2, 3])
@pytest.mark.parametrize("hub_reads", [True, False], ids=["hub-reads-meanwhile", "bell-lost"])
async def test_an_event_committed_during_the_replay_reaches_the_socket_once_and_in_order(
    monkeypatch, during, hub_reads
):
    # One event a page: the replay reads the log three times; after its ``during``-th frame a
    # write commits, and the hub reads it at once (its bell came) or not until later (lost).
    monkeypatch.setattr(selectors, "BATCH", 1)
    hub = await quiet_hub()
    before = hub.head
    replayed = await commit(3)
    session, transport = await attach(hub)
    committed: list[int] = []
    send_replayed = Session._send_replayed

    async def replay_then_commit(self: Session, frame: Any) -> None:
        await send_replayed(self, frame)
        if len(transport.event_ids) == during:
            committed.extend(await commit())
            if hub_reads:
                await hub.deliver_new()

    monkeypatch.setattr(Session, "_send_replayed", replay_then_commit)

    await session.subscribe(["tasks"], last_event_id=before)
    await hub.deliver_new()  # the poll, or a late bell
    await hub.deliver_new()  # a duplicated bell

    assert transport.event_ids == [*replayed, *committed]


async def test_events_the_hub_reads_after_the_replay_sent_them_are_not_sent_again():
    hub = await quiet_hub()
    before = hub.head
    replayed = await commit(2)  # committed, their bells not yet read by the hub
    session, transport = await attach(hub)

    await session.subscribe(["tasks"], last_event_id=before)
    await hub.deliver_new()

    assert transport.event_ids == replayed
    assert hub.head == replayed[-1]


async def test_a_stream_added_while_live_neither_replays_old_events_nor_misses_new_ones():
    hub = await quiet_hub()
    session, transport = await attach(hub)
    await session.subscribe(["tasks"], last_event_id=None)
    live = await commit()
    await hub.deliver_new()
    unread = await commit()  # its bell not yet read

    await session.subscribe(["daily_works"], last_event_id=None)
    await hub.deliver_new()

    assert transport.event_ids == [*live, *unread]
    assert set(session.cursors) == {"tasks", "daily_works"}


@pytest.mark.parametrize(
    "prune",
    [
        {"max_age": datetime.timedelta(days=1), "keep": 1},
        {"max_age": datetime.timedelta(0), "keep": 0},  # the whole log: it is empty now
    ],
    ids=["all-but-one", "everything"],
)
async def test_a_resume_from_before_the_pruned_log_is_told_to_resync(prune):
    hub = await quiet_hub()
    before = hub.head
    await commit(3)
    await database_sync_to_async(event_log_prune)(**prune)
    hub.head = await database_sync_to_async(selectors.log_head)()  # the hub has read on
    session, transport = await attach(hub)

    await session.subscribe(["tasks"], last_event_id=before)

    assert transport.frames == [protocol.resync_required_frame(["tasks"])]


async def test_a_prune_between_the_replays_pages_has_the_client_resync_and_loses_nothing_after(
    monkeypatch,
):
    monkeypatch.setattr(selectors, "BATCH", 1)
    hub = await quiet_hub()
    before = hub.head
    first, *_pruned = await commit(3)
    session, transport = await attach(hub)
    send_replayed = Session._send_replayed

    async def replay_then_prune(self: Session, frame: Any) -> None:
        await send_replayed(self, frame)
        await database_sync_to_async(event_log_prune)(max_age=datetime.timedelta(days=1), keep=1)

    monkeypatch.setattr(Session, "_send_replayed", replay_then_prune)

    await session.subscribe(["tasks"], last_event_id=before)
    monkeypatch.setattr(Session, "_send_replayed", send_replayed)
    later = await commit()
    await hub.deliver_new()

    resync = protocol.resync_required_frame(["tasks"])
    assert transport.frames[0]["id"] == first
    assert transport.frames[1] == resync
    assert transport.event_ids == [first, *later]


async def test_a_client_that_stops_reading_is_dropped_with_4408_and_the_others_get_every_event(
    settings,
):
    settings.REALTIME_SEND_BACKLOG = 3
    hub = await quiet_hub()
    slow, slow_transport = await attach(hub, "slow")
    steady, steady_transport = await attach(hub, "steady")
    for session in (slow, steady):
        await session.subscribe(["tasks"], last_event_id=None)
    slow_transport.stall()

    events = []
    for _ in range(6):
        events += await commit()
        await hub.deliver_new()
    slow_transport.resume()
    await asyncio.wait_for(slow_writer_done(slow), timeout=5)

    assert steady_transport.event_ids == events
    assert slow.closing
    assert slow_transport.frames[-1]["code"] == protocol.SLOW_CONSUMER
    assert slow_transport.close_codes == [protocol.CLOSE_SLOW_CONSUMER]
    # What was sent before the drop is a prefix of the events, in order.
    assert slow_transport.event_ids == events[: len(slow_transport.event_ids)]


async def slow_writer_done(session: Session) -> None:
    while session.writer is not None:
        await asyncio.wait([session.writer])


async def test_a_replay_waits_for_a_slow_client_instead_of_dropping_it(settings):
    settings.REALTIME_SEND_BACKLOG = 2
    hub = await quiet_hub()
    before = hub.head
    replayed = await commit(5)
    session, transport = await attach(hub)
    transport.stall()

    subscribing = asyncio.create_task(session.subscribe(["tasks"], last_event_id=before))
    transport.resume()
    await subscribing

    assert transport.event_ids == replayed
    assert not session.closing


async def test_a_login_that_ended_closes_the_session_with_4401_before_any_event_of_it():
    hub = await quiet_hub()
    session, transport = await attach(hub)
    await session.subscribe(["tasks"], last_event_id=None)
    await database_sync_to_async(Token.objects.filter(key=session.credentials.token_key).delete)()

    await commit()
    await hub.deliver_new()

    assert transport.event_ids == []
    assert transport.close_codes == [protocol.CLOSE_UNAUTHENTICATED]


async def test_a_released_session_gets_nothing_more_and_leaves_the_hub():
    hub = await quiet_hub()
    gone, gone_transport = await attach(hub, "gone")
    stays, _transport = await attach(hub, "stays")
    for session in (gone, stays):
        await session.subscribe(["tasks"], last_event_id=None)

    gone.release()
    await commit()
    await hub.deliver_new()

    assert gone_transport.messages == []
    assert hub.sessions == {stays}
    assert gone not in hub.subscribers["tasks"]
    assert hub_module.hub is not hub  # the process's hub was never touched


async def test_a_subscription_from_now_gets_the_events_after_it_even_those_the_hub_has_not_read():
    hub = await quiet_hub()
    await commit(2)  # before the subscription; the hub has not read them yet
    session, transport = await attach(hub)

    head = await session.subscribe(["tasks"], last_event_id=None)
    later = await commit()
    await hub.deliver_new()

    assert head == later[0] - 1
    assert transport.event_ids == later


async def test_a_subscription_from_now_with_the_hub_level_reads_no_page_of_the_log(monkeypatch):
    hub = await quiet_hub()
    session, transport = await attach(hub)

    def no_page(**kwargs: Any) -> None:
        raise AssertionError("a page of the log was read")

    monkeypatch.setattr(selectors, "log_page_if_allowed", no_page)
    await session.subscribe(["tasks"], last_event_id=None)
    live = await commit()
    await hub.deliver_new()

    assert transport.event_ids == live


async def test_a_stream_the_user_may_not_view_refuses_the_whole_subscription():
    hub = await quiet_hub()
    session, transport = await attach(hub, role=None)

    with pytest.raises(protocol.ClientError) as refused:
        await session.subscribe(["tasks"], last_event_id=None)
    await commit()
    await hub.deliver_new()

    assert refused.value.code == protocol.FORBIDDEN
    assert session.cursors == {}
    assert session not in hub.subscribers["tasks"]
    assert transport.messages == []


async def test_a_live_session_refused_a_new_stream_keeps_its_streams_and_misses_nothing(
    monkeypatch,
):
    # The user may view tasks only; a write commits while the refused subscription is checked.
    hub = await quiet_hub()
    session, transport = await attach(hub, role=None)
    await database_sync_to_async(grant_view_tasks)(session.credentials)
    await session.subscribe(["tasks"], last_event_id=None)
    during: list[int] = []
    check = selectors.subscription_check

    def commit_then_check(**kwargs: Any) -> selectors.SubscriptionCheck:
        during.extend(commit.func())
        return check(**kwargs)

    monkeypatch.setattr(selectors, "subscription_check", commit_then_check)
    with pytest.raises(protocol.ClientError):
        await session.subscribe(["tasks", "daily_works"], last_event_id=None)
    await hub.deliver_new()

    assert set(session.cursors) == {"tasks"}
    assert transport.event_ids == during


def grant_view_tasks(credentials: Credentials) -> None:
    app_label, codename = protocol.STREAM_PERMISSIONS["tasks"].split(".")
    get_user_model().objects.get(pk=credentials.user_id).user_permissions.add(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )


async def test_a_login_that_ended_before_a_subscription_closes_the_session_with_4401():
    hub = await quiet_hub()
    session, transport = await attach(hub)
    await database_sync_to_async(Token.objects.filter(key=session.credentials.token_key).delete)()

    await session.subscribe(["tasks"], last_event_id=None)
    await commit()
    await hub.deliver_new()

    assert transport.event_ids == []
    assert transport.close_codes == [protocol.CLOSE_UNAUTHENTICATED]
