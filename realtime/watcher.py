"""A per-process safety net: rings the local consumers when the log grows without a bell.

With the in-memory layer, events committed by another process (a shell, a management command,
a second server) never reach this process's layer; with Redis a bell can still be dropped (full
channel, expiry). While any socket is open, one task per process reads the log head every
``REALTIME_LOG_POLL_SECONDS`` and rings the streams that have new events. Consumers read the log
after their own cursors, so an extra bell costs a query and nothing else.
"""

import asyncio
import contextlib
import logging

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from .models import Event
from .protocol import LAYER_EVENT, STREAMS, group_for

logger = logging.getLogger(__name__)


def _new_events(after: int) -> tuple[int, dict[str, int]]:
    """The log head and, per stream, the newest id after ``after``."""
    head = Event.objects.latest_id()
    if head <= after:
        return head, {}
    rows = Event.objects.filter(id__gt=after, id__lte=head).order_by().values_list("stream", "id")
    newest: dict[str, int] = {}
    for stream, event_id in rows:
        newest[stream] = max(newest.get(stream, 0), event_id)
    return head, newest


class LogWatcher:
    def __init__(self) -> None:
        self.connections = 0
        self.task: asyncio.Task[None] | None = None

    def attach(self) -> None:
        self.connections += 1
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = loop.create_task(self.run(), name="realtime-log-watcher")

    def detach(self) -> None:
        self.connections = max(0, self.connections - 1)
        if self.connections == 0 and self.task is not None:
            self.task.cancel()
            self.task = None

    async def run(self) -> None:
        """Poll until cancelled. A failed read or ring is retried at the next poll, from the
        last head whose events were rung. The first read that succeeds rings every stream with
        the head it finds: events may have been committed while the reads failed."""
        layer = get_channel_layer()
        head: int | None = None
        while True:
            try:
                if head is None:
                    new_head = await database_sync_to_async(Event.objects.latest_id)()
                    newest = dict.fromkeys(STREAMS, new_head)
                else:
                    new_head, newest = await database_sync_to_async(_new_events)(head)
                for stream, event_id in newest.items():
                    await layer.group_send(group_for(stream), {"type": LAYER_EVENT, "id": event_id})
                head = new_head
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Reading the event log failed; retrying.")
            await asyncio.sleep(settings.REALTIME_LOG_POLL_SECONDS)


log_watcher = LogWatcher()


async def stop() -> None:
    if log_watcher.task is not None:
        log_watcher.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await log_watcher.task
        log_watcher.task = None
