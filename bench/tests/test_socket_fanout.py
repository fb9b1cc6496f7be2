"""The naive fan-out the benchmark compares with (``bench/baselines/socket_fanout.py``), driven
through its own ASGI application with the in-memory layer: it speaks the project's protocol."""

import datetime
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from bench.baselines.socket_fanout import application
from realtime.models import Event
from schedule.models import Task
from schedule.roles import VIEWERS, roles_ensure
from schedule.services import task_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

HOST = (b"host", b"127.0.0.1:8000")
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


@pytest.fixture(autouse=True)
def _layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@database_sync_to_async
def make_token() -> str:
    user = get_user_model().objects.create_user("ivan", password="pw-12345-x")
    user.groups.add(roles_ensure()[VIEWERS])
    return Token.objects.create(user=user).key


@database_sync_to_async
def create_task(code: str) -> Task:
    return task_create(
        data={
            "code": code,
            "name": f"Работа {code}",
            "unit": "м³",
            "volume_plan": Decimal(10),
            "start_date": datetime.date(2026, 11, 1),
            "end_date": datetime.date(2026, 11, 30),
        }
    )


@database_sync_to_async
def log_frames() -> list[dict]:
    return [json.loads(json.dumps(event.to_frame())) for event in Event.objects.order_by("id")]


@asynccontextmanager
async def socket(*headers: tuple[bytes, bytes]) -> AsyncIterator[WebsocketCommunicator]:
    communicator = WebsocketCommunicator(application, "/api/ws", headers=[HOST, *headers])
    try:
        yield communicator
    finally:
        await communicator.disconnect()


async def test_a_socket_without_login_is_closed_with_4401():
    async with socket(ORIGIN) as ws:
        connected, _ = await ws.connect()
        assert connected
        assert await ws.receive_output() == {"type": "websocket.close", "code": 4401}


async def test_each_committed_write_reaches_a_subscriber_once_and_in_order():
    key = await make_token()
    await create_task("1.1")  # before the socket: replayed from last_event_id 0
    async with socket(ORIGIN, (b"authorization", f"Token {key}".encode())) as ws:
        await ws.connect()
        await ws.send_json_to({"type": "subscribe", "events": ["tasks"], "last_event_id": 0})
        [replayed] = await log_frames()
        assert await ws.receive_json_from() == replayed
        assert await ws.receive_json_from() == {
            "type": "subscribed",
            "events": ["tasks"],
            "last_event_id": replayed["id"],
        }

        await create_task("1.2")
        await create_task("1.3")

        live = [await ws.receive_json_from(timeout=5) for _ in range(2)]
        assert [replayed, *live] == await log_frames()
        await ws.send_json_to({"type": "ping", "nonce": 1})
        assert await ws.receive_json_from() == {"type": "pong", "nonce": 1}
        await ws.receive_nothing()
