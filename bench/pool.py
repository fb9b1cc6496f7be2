"""The client side of a measurement: worker processes (``bench.clients``) and their pipes."""

import contextlib
import math
import multiprocessing
import time
from typing import Any

from .clients import WorkerSpec, run_worker
from .servers import proc_cpu_seconds

CLIENTS_PER_WORKER = 250
MAX_WORKERS = 8
# Handshakes in flight, over all workers: more only queue at the server, and daphne drops a
# handshake that waits longer than 5 s (its --websocket_connect_timeout).
CONNECT_CONCURRENCY = 64
REPLY_TIMEOUT = 120.0  # seconds a worker may take to answer a command
# Connecting is bounded by the server's CPU (milliseconds a socket): at N = 10,000 on a loaded
# machine it takes minutes, so the connect command may take this long per client on top.
CONNECT_SECONDS_PER_CLIENT = 0.05
WAIT_LIMIT = 3600.0  # seconds a wait may take while events keep arriving


def default_workers(clients: int) -> int:
    return max(1, min(MAX_WORKERS, math.ceil(clients / CLIENTS_PER_WORKER)))


class ClientPool:
    """``clients`` connections, one URL each, spread over ``workers`` processes."""

    def __init__(
        self,
        urls: list[str],
        *,
        token: str,
        workers: int,
        compression: str | None = "deflate",
    ) -> None:
        workers = max(1, min(workers, len(urls)))
        size = math.ceil(len(urls) / workers)
        self.specs = [
            WorkerSpec(
                urls=urls[start : start + size],
                token=token,
                compression=compression,
                connect_concurrency=max(1, CONNECT_CONCURRENCY // workers),
            )
            for start in range(0, len(urls), size)
        ]
        self.context = multiprocessing.get_context("spawn")
        self.pipes: list[Any] = []
        self.processes: list[Any] = []

    def __enter__(self) -> "ClientPool":
        try:
            for spec in self.specs:
                ours, theirs = self.context.Pipe()
                process = self.context.Process(target=run_worker, args=(spec, theirs), daemon=True)
                process.start()
                theirs.close()
                self.pipes.append(ours)
                self.processes.append(process)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        with contextlib.suppress(Exception):  # a worker that died: killed below
            self.command("close", timeout=30)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        for pipe in self.pipes:
            pipe.close()

    def command(self, *command: Any, timeout: float = REPLY_TIMEOUT) -> list[Any]:
        """Send ``command`` to every worker, then gather their answers."""
        for pipe in self.pipes:
            pipe.send(command)
        deadline = time.monotonic() + timeout
        replies = []
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"client worker {process.pid} did not answer {command[0]}")
            replies.append(pipe.recv())
        return replies

    def cpu_seconds(self) -> float:
        return sum(proc_cpu_seconds(process.pid) for process in self.processes)

    def connect(self) -> dict[str, Any]:
        """Open and subscribe every client; how long it took from the first handshake to the
        last ``subscribed``."""
        clients = sum(len(spec.urls) for spec in self.specs)
        replies = self.command(
            "connect", timeout=REPLY_TIMEOUT + CONNECT_SECONDS_PER_CLIENT * clients
        )
        return {
            "seconds": max(r["finished"] for r in replies) - min(r["started"] for r in replies),
            "connected": sum(r["connected"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "errors": [error for r in replies for error in r["errors"]][:5],
        }

    def wait(self, writes: list[int], stall: float) -> int:
        """Until every open client has the events of ``writes``, or none came for ``stall``
        seconds; how many clients miss some."""
        return sum(self.command("wait", writes, stall, timeout=WAIT_LIMIT))

    def ping(self, count: int, stall: float) -> int:
        """``count`` pings from every client at once, until every pong came back (or none for
        ``stall`` seconds); how many pongs are missing."""
        return sum(self.command("ping", count, stall, timeout=WAIT_LIMIT))

    def collect(self) -> dict[str, Any]:
        """Each client's event frames since the last collect, as (received at, id, write)."""
        replies = self.command("collect")
        other: dict[str, int] = {}
        closes: dict[str, int] = {}
        for reply in replies:
            for key, value in reply["other"].items():
                other[key] = other.get(key, 0) + value
            for key, value in reply["closes"].items():
                closes[key] = closes.get(key, 0) + value
        events = [client for reply in replies for client in reply["events"]]
        return {"events": events, "other": other, "closes": closes}
