"""Client worker processes: each runs one event loop with many ``websockets`` connections.

The runner talks to a worker over a pipe, one command at a time, and the worker answers each:

- ``("connect",)``: open every connection, subscribe it to ``tasks`` and wait for ``subscribed``;
- ``("wait", writes, stall)``: answer when every open client has received the events of these
  write numbers, or when none of them has arrived for ``stall`` seconds, with how many clients
  still miss some;
- ``("ping", count)``: every client sends ``count`` pings at once; answer when every open client
  has its ``count`` pongs, or when none came for ``stall`` seconds, with how many pongs are missing;
- ``("collect",)``: hand over the event frames each client received since the last collect;
- ``("close",)``: close the connections and end.

A client stamps each frame as it arrives (``time.monotonic()``: one clock for every process of
the machine) and keeps only its event id and the write it carries, so a lost event holds up one
wait, not every later one.
"""

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect

SUBSCRIBE = json.dumps({"type": "subscribe", "events": ["tasks"]})
PING = json.dumps({"type": "ping"})
HANDSHAKE_TIMEOUT = 60.0

# An event frame as the runner needs it: when it came, its event id and the write it carries.
Received = tuple[float, int, int]


def origin_of(url: str) -> str:
    """The page origin a browser would send for a socket URL: the server's own (it refuses any
    other scheme, host or port)."""
    parts = urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, "", "", ""))


@dataclass(frozen=True)
class WorkerSpec:
    """The clients of one worker: one WebSocket URL per client."""

    urls: list[str]
    token: str
    compression: str | None = "deflate"  # offered, as browsers do; the server decides
    connect_concurrency: int = 16  # handshakes in flight


@dataclass(eq=False)
class Client:
    ws: ClientConnection | None = None
    events: list[Received] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)  # write numbers received
    missing: int = 0  # of the writes waited for
    other: dict[str, int] = field(default_factory=dict)  # frames that are not events, by type
    pongs: int = 0  # still awaited
    close_code: int | None = None
    closed: bool = False
    error: str | None = None

    @property
    def open(self) -> bool:
        return self.ws is not None and not self.closed


def decode(at: float, text: str) -> Received | str:
    """An event frame as (received at, id, write number: its planned volume); any other frame
    as its type."""
    frame = json.loads(text)
    data = frame.get("data")
    if not isinstance(data, dict) or "volume_plan" not in data:
        return str(frame.get("type"))
    return (at, frame["id"], int(float(data["volume_plan"])))


class Worker:
    def __init__(self, spec: WorkerSpec, pipe: Connection) -> None:
        self.spec = spec
        self.pipe = pipe
        self.clients = [Client() for _ in spec.urls]
        self.wanted: set[int] = set()
        self.waiting = 0
        self.progress = 0  # awaited events received, ever
        self.reached = asyncio.Event()
        self.ponging = 0  # clients still awaiting pongs
        self.ponged = asyncio.Event()
        self.readers: list[asyncio.Task[None]] = []

    async def serve(self) -> None:
        while True:
            command, *args = await asyncio.to_thread(self.pipe.recv)
            handler = getattr(self, f"command_{command}")
            self.pipe.send(await handler(*args))
            if command == "close":
                return

    # Commands.
    async def command_connect(self) -> dict[str, Any]:
        started = time.monotonic()
        limit = asyncio.Semaphore(self.spec.connect_concurrency)
        await asyncio.gather(
            *(
                self.open(client, url, limit)
                for client, url in zip(self.clients, self.spec.urls, strict=True)
            )
        )
        errors = [client.error for client in self.clients if client.error]
        return {
            "started": started,
            "finished": time.monotonic(),
            "connected": len(self.clients) - len(errors),
            "errors": errors[:5],
            "failed": len(errors),
        }

    async def command_wait(self, writes: list[int], stall: float) -> int:
        self.wanted = set(writes)
        self.waiting = 0
        for client in self.clients:
            client.missing = len(self.wanted - client.seen) if client.open else 0
            self.waiting += bool(client.missing)
        self.reached.clear()
        progress = -1
        while self.waiting and progress != self.progress:
            progress = self.progress
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.reached.wait(), stall)
        behind = sum(1 for client in self.clients if client.open and client.missing)
        self.wanted = set()
        for client in self.clients:
            client.missing = 0
        return behind

    async def command_ping(self, count: int, stall: float) -> int:
        """``count`` pings from every open client, sent at once, then their pongs."""
        clients = [client for client in self.clients if client.open]
        for client in clients:
            client.pongs = count
        self.ponging = len(clients)
        self.ponged.clear()
        for _ in range(count):
            await asyncio.gather(
                *(client.ws.send(PING) for client in clients if client.ws is not None),
                return_exceptions=True,
            )
        while self.ponging:
            before = sum(client.pongs for client in clients)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ponged.wait(), stall)
            if before == sum(client.pongs for client in clients):
                break
        missing = sum(client.pongs for client in clients if client.open)
        for client in clients:
            client.pongs = 0
        self.ponging = 0
        return missing

    async def command_collect(self) -> dict[str, Any]:
        events = []
        other: dict[str, int] = {}
        closes: dict[str, int] = {}
        for client in self.clients:
            if client.ws is None:
                continue  # never connected: reported by connect
            events.append(client.events)
            client.events = []
            for kind, count in client.other.items():
                other[kind] = other.get(kind, 0) + count
            client.other = {}
            if client.close_code is not None:
                closes[str(client.close_code)] = closes.get(str(client.close_code), 0) + 1
        return {"events": events, "other": other, "closes": closes}

    async def command_close(self) -> None:
        await asyncio.gather(
            *(client.ws.close() for client in self.clients if client.ws is not None),
            return_exceptions=True,
        )
        for reader in self.readers:
            reader.cancel()

    # Connections.
    async def open(self, client: Client, url: str, limit: asyncio.Semaphore) -> None:
        async with limit:
            try:
                ws = await connect(
                    url,
                    origin=origin_of(url),
                    additional_headers={"Authorization": f"Token {self.spec.token}"},
                    compression=self.spec.compression,
                    proxy=None,
                    open_timeout=HANDSHAKE_TIMEOUT,
                    ping_interval=None,
                    close_timeout=5,
                )
                await ws.send(SUBSCRIBE)
                reply = json.loads(await asyncio.wait_for(ws.recv(), HANDSHAKE_TIMEOUT))
            except Exception as error:
                client.error = f"{type(error).__name__}: {error}"
                return
        if reply.get("type") != "subscribed":
            client.error = f"subscribe answered {reply}"
            await ws.close()
            return
        client.ws = ws
        self.readers.append(asyncio.create_task(self.read(client, ws)))

    async def read(self, client: Client, ws: ClientConnection) -> None:
        try:
            async for text in ws:
                item = decode(time.monotonic(), text)  # type: ignore[arg-type]
                if isinstance(item, str):
                    client.other[item] = client.other.get(item, 0) + 1
                    if item == "pong" and client.pongs:
                        client.pongs -= 1
                        if not client.pongs:
                            self.pong_arrived()
                    continue
                client.events.append(item)
                seq = item[2]
                if seq not in client.seen:
                    client.seen.add(seq)
                    if seq in self.wanted:
                        self.progress += 1
                        client.missing -= 1
                        if not client.missing:
                            self.arrived()
        except Exception as error:
            client.error = f"{type(error).__name__}: {error}"
        client.close_code = ws.close_code
        client.closed = True
        if self.wanted and client.missing:
            self.arrived()  # it will get nothing more: stop waiting for it
        if client.pongs:
            self.pong_arrived()

    def arrived(self) -> None:
        self.waiting -= 1
        if not self.waiting:
            self.reached.set()

    def pong_arrived(self) -> None:
        self.ponging -= 1
        if self.ponging <= 0:
            self.ponged.set()


def run_worker(spec: WorkerSpec, pipe: Connection) -> None:
    """The worker process's entry point (uvloop when installed, as the servers use it)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(Worker(spec, pipe).serve())
    else:
        uvloop.run(Worker(spec, pipe).serve())
