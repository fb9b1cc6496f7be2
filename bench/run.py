"""``python -m bench``: measure every variant at every client count, interleaved, and report.

For each repetition, each client count and each variant in turn: start the variant on a fresh
database, time K writes with nobody listening (the server's CPU cost of a write alone), connect
and subscribe the clients (the server's CPU per socket), have every client ping P times (the
server's CPU per ping), then three write phases, each followed until every client has every
event (or until none has arrived for ``--timeout`` seconds):

- back-to-back: K writes in a row, each sent when the previous one was answered;
- isolated: K writes, each sent only after every client got the previous one;
- throughput: a few writers writing as fast as they can for S seconds.

Everything runs on 127.0.0.1; the results go to stdout and to ``bench/results/<time>.json``.
"""

import argparse
import itertools
import json
import math
import os
import resource
import shlex
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import report
from .pool import ClientPool, default_workers
from .servers import (
    BASE_DIR,
    CLOCK_TICKS,
    VARIANTS,
    Deployment,
    Template,
    Variant,
    baseline_template,
    deploy,
    passed_settings,
    project_template,
)
from .writes import Writer

RESULTS_DIR = BASE_DIR / "bench" / "results"
DESCRIPTION = "The fan-out benchmark of /api/ws: the project and the FastAPI baseline side by side."
LATE_PATIENCE = 5.0
CPU_TICK = 1 / CLOCK_TICKS  # /proc counts CPU time in ticks
MAX_PINGS = 50
# The naive fan-out takes minutes at N = 1,000 (every socket reads the log for every event): one
# naive variant (the daphne one, which a target compares with) keeps `make bench` short.
DEFAULT_VARIANTS = [name for name in VARIANTS if name != "uvicorn-socket"]


@dataclass(frozen=True)
class Options:
    clients: list[int]
    writes: int
    pings: int
    variants: list[str]
    repeat: int
    throughput_seconds: float
    throughput_writers: int
    client_workers: int | None
    timeout: float
    output_dir: Path


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION)
    parser.add_argument("--clients", default="1000", help="client counts, e.g. 100,1000,5000")
    parser.add_argument("--writes", type=int, default=10, help="writes per latency phase (K)")
    parser.add_argument(
        "--pings", type=int, default=10, help="pings per client in the ping phase (0 skips it)"
    )
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"any of {', '.join(VARIANTS)}, or 'all' (default: all but uvicorn-socket)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="repetitions (R), interleaved")
    parser.add_argument("--throughput-seconds", type=float, default=2.0, help="0 skips it")
    parser.add_argument("--throughput-writers", type=int, default=4)
    parser.add_argument(
        "--client-workers", type=int, default=None, help="client processes (default: 1 per 250)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds without any awaited event arriving before its write counts as lost",
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    if variants == ["all"]:
        variants = list(VARIANTS)
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    try:
        clients = [int(count) for count in args.clients.split(",")]
    except ValueError:
        parser.error(f"--clients takes whole numbers separated by commas, not {args.clients!r}")
    if min(clients) < 1 or args.writes < 1 or args.repeat < 1:
        parser.error("--clients, --writes and --repeat must be at least 1")
    if not 0 <= args.pings <= MAX_PINGS:
        parser.error(
            f"--pings takes 0 to {MAX_PINGS}: the project closes a socket that sends more than "
            "REALTIME_RATE_LIMIT_BURST (60) messages at once"
        )
    return Options(
        clients=clients,
        writes=args.writes,
        pings=args.pings,
        variants=variants,
        repeat=args.repeat,
        throughput_seconds=args.throughput_seconds,
        throughput_writers=args.throughput_writers,
        client_workers=args.client_workers,
        timeout=args.timeout,
        output_dir=args.output_dir,
    )


def scratch_dir() -> str | None:
    """Databases and logs in memory (tmpfs) when the machine has one: the disk's fsync times
    are not what is measured."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


class FdLimitTooLow(RuntimeError):
    """The hard limit on open files is below what the run needs."""


# Files a server or client process holds besides its sockets: its database, logs, pipes, the
# listener, the interpreter's own.
SPARE_FILES = 256


def files_needed(options: Options) -> int:
    """Open files the busiest process of the run needs: a one-process server holds a socket per
    client (client workers hold fewer: the clients are spread over them)."""
    processes = min(VARIANTS[name].processes for name in options.variants)
    return math.ceil(max(options.clients) / processes) + SPARE_FILES


def raise_fd_limit(needed: int) -> int:
    """Raise this process's soft limit on open files up to its hard limit; the servers and client
    workers it starts inherit it. Refuse to start when even the hard limit is below ``needed``:
    the run would end in refused connections, not in a measurement."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise FdLimitTooLow(
            f"this run needs about {needed:,} open files in one server process, and the hard "
            f"limit on open files is {hard:,}: raise it (`ulimit -Hn {needed}` as root, "
            "LimitNOFILE= in a systemd unit, nofile in /etc/security/limits.conf, "
            "docker run --ulimit nofile=...), or measure fewer clients"
        )
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Measurement:
    """One variant, one client count: the phases share the write numbering and the clients."""

    def __init__(
        self, deployment: Deployment, pool: ClientPool, writer: Writer, write_cpu: float
    ) -> None:
        self.deployment = deployment
        self.pool = pool
        self.writer = writer
        self.write_cpu = write_cpu
        self.seqs = itertools.count(1)
        self.sends: dict[int, float] = {}
        self.phase_of: dict[int, str] = {}
        self.received: list[list[tuple[float, int, int]]] | None = None
        self.other: dict[str, int] = {}
        self.closes: dict[str, int] = {}

    def phase(self, name: str, write: Any, stall: float) -> dict[str, Any]:
        """Run ``write()`` (which returns the write numbers it made) and follow it until every
        client has all of them; the server's CPU time and the deliveries in between."""
        server_cpu, client_cpu = self.deployment.cpu_seconds(), self.pool.cpu_seconds()
        started = time.monotonic()
        seqs, writing = write()
        missing = self.pool.wait(seqs, stall)
        seconds = time.monotonic() - started
        server_cpu = self.deployment.cpu_seconds() - server_cpu
        client_cpu = self.pool.cpu_seconds() - client_cpu
        for seq in seqs:
            self.phase_of[seq] = name
        deliveries = self.absorb(self.pool.collect())
        fanout_cpu = server_cpu - len(seqs) * self.write_cpu
        if fanout_cpu < CPU_TICK:
            fanout_cpu = 0.0  # below what /proc can tell apart from nothing
        return {
            "writes": len(seqs),
            "writing_seconds": writing,
            "seconds": seconds,
            "server_cpu_seconds": server_cpu,
            "client_cpu_seconds": client_cpu,
            "deliveries": deliveries,
            "deliveries_per_cpu_second": deliveries / server_cpu if server_cpu else None,
            "fanout_deliveries_per_cpu_second": deliveries / fanout_cpu if fanout_cpu > 0 else None,
            "fanout_us_per_delivery": fanout_cpu / deliveries * 1e6
            if fanout_cpu > 0 and deliveries
            else None,
            "delivered_per_second": deliveries / seconds,
            "writes_per_second": len(seqs) / writing if writing else None,
            "clients_missing_events": missing,
        }

    def absorb(self, collected: dict[str, Any]) -> int:
        if self.received is None:
            self.received = [[] for _ in collected["events"]]
        for mine, new in zip(self.received, collected["events"], strict=True):
            mine.extend(new)
        for key, value in collected["other"].items():
            self.other[key] = self.other.get(key, 0) + value
        self.closes = collected["closes"]
        return sum(len(new) for new in collected["events"])

    # The three ways of writing; each returns (write numbers, seconds spent writing).
    def back_to_back(self, count: int) -> tuple[list[int], float]:
        started = time.monotonic()
        seqs = [next(self.seqs) for _ in range(count)]
        for seq in seqs:
            self.writer.write(seq, self.sends)
        return seqs, time.monotonic() - started

    def isolated(self, count: int, stall: float) -> tuple[list[int], float]:
        """After a write that did not reach every client, the rest wait at most
        ``LATE_PATIENCE`` seconds each: lost events must not stretch the run without bound."""
        seqs, writing, patience = [], 0.0, stall
        for _ in range(count):
            seq = next(self.seqs)
            started = time.monotonic()
            self.writer.write(seq, self.sends)
            writing += time.monotonic() - started
            seqs.append(seq)
            if self.pool.wait([seq], patience):
                patience = min(stall, LATE_PATIENCE)
        return seqs, writing

    def flood(self, seconds: float, writers: int) -> tuple[list[int], float]:
        """``writers`` threads, each with its own connection, writing until ``seconds`` pass."""
        seqs: list[int] = []
        errors: list[BaseException] = []
        started = time.monotonic()
        deadline = started + seconds

        def write_until_deadline() -> None:
            writer = Writer(self.writer.port, self.deployment.token)
            writer.task_id = self.writer.task_id
            try:
                while time.monotonic() < deadline:
                    seq = next(self.seqs)
                    writer.write(seq, self.sends)
                    seqs.append(seq)
            except BaseException as error:
                errors.append(error)
            finally:
                writer.close()

        threads = [threading.Thread(target=write_until_deadline) for _ in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return seqs, time.monotonic() - started


def write_alone_cpu_seconds(deployment: Deployment, writer: Writer, count: int) -> float:
    """The server's CPU time per write with no client connected (write numbers from 10**9 on,
    never seen by a client)."""
    cpu = deployment.cpu_seconds()
    for index in range(count):
        writer.write(10**9 + index, {})
    return (deployment.cpu_seconds() - cpu) / count


def ping_phase(
    deployment: Deployment, pool: ClientPool, count: int, clients: int, options: Options
) -> dict[str, Any]:
    """Every client sends ``count`` pings at once and waits for their pongs: the server's CPU
    time per ping (nothing else happens meanwhile)."""
    if not count or not clients:
        return {
            "pings": 0,
            "missing_pongs": 0,
            "server_cpu_seconds": 0.0,
            "seconds": 0.0,
            "server_cpu_us_per_ping": None,
        }
    cpu, started = deployment.cpu_seconds(), time.monotonic()
    missing = pool.ping(count, options.timeout)
    seconds = time.monotonic() - started
    cpu = deployment.cpu_seconds() - cpu
    if cpu < CPU_TICK:
        cpu = 0.0  # below what /proc can tell apart from nothing
    answered = count * clients - missing
    return {
        "pings": count * clients,
        "missing_pongs": missing,
        "server_cpu_seconds": cpu,
        "seconds": seconds,
        "server_cpu_us_per_ping": cpu / answered * 1e6 if cpu and answered else None,
    }


def measure(
    variant: Variant,
    clients: int,
    options: Options,
    templates: dict[str, Template],
    directory: Path,
) -> dict[str, Any]:
    directory.mkdir(parents=True)
    workers = options.client_workers or default_workers(clients)
    with deploy(variant, templates, directory, clients) as deployment:
        writer = Writer(deployment.writer.port, deployment.token)
        writer.create_task()
        write_cpu = write_alone_cpu_seconds(deployment, writer, options.writes)
        rss_before = deployment.rss_kb()
        servers = deployment.servers
        urls = [servers[index % len(servers)].ws_url for index in range(clients)]
        with ClientPool(urls, token=deployment.token, workers=workers) as pool:
            connect_cpu = deployment.cpu_seconds()
            connect = pool.connect()
            connect_cpu = deployment.cpu_seconds() - connect_cpu
            rss_connected = deployment.rss_kb()
            pings = ping_phase(deployment, pool, options.pings, connect["connected"], options)
            measurement = Measurement(deployment, pool, writer, write_cpu)
            phases = {
                "back_to_back": measurement.phase(
                    "back_to_back",
                    lambda: measurement.back_to_back(options.writes),
                    options.timeout,
                ),
                "isolated": measurement.phase(
                    "isolated",
                    lambda: measurement.isolated(options.writes, options.timeout),
                    options.timeout,
                ),
            }
            if options.throughput_seconds > 0:
                phases["throughput"] = measurement.phase(
                    "throughput",
                    lambda: measurement.flood(
                        options.throughput_seconds, options.throughput_writers
                    ),
                    options.timeout,
                )
            rss_written = deployment.rss_kb()
        writer.close()
        tracebacks = deployment.tracebacks()
    analysis = report.analyse(measurement.received or [], measurement.sends, measurement.phase_of)
    for name, figures in analysis["latency_ms"].items():
        phases[name]["latency_ms"] = figures
    return {
        "variant": variant.name,
        "description": variant.description,
        "clients": clients,
        "client_workers": workers,
        "connect": connect,
        "server_cpu_ms_per_connect": connect_cpu / connect["connected"] * 1000
        if connect["connected"]
        else None,
        "pings": pings,
        "server_cpu_us_per_ping": pings["server_cpu_us_per_ping"],
        "server_cpu_ms_per_write_alone": write_cpu * 1000,
        "rss_kb": {"before": rss_before, "connected": rss_connected, "written": rss_written},
        "kb_per_connection": (rss_connected - rss_before) / max(connect["connected"], 1),
        "phases": phases,
        "lost": analysis["lost"],
        "duplicated": analysis["duplicated"],
        "out_of_order": analysis["out_of_order"],
        "other_frames": measurement.other,
        "closes": measurement.closes,
        "server_tracebacks": tracebacks,
    }


def results_document(options: Options, started_at: datetime, runs: list[dict]) -> dict[str, Any]:
    summary = report.summarize(runs)
    return {
        "command": " ".join(shlex.quote(arg) for arg in ["python", "-m", "bench", *sys.argv[1:]]),
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "complete": len(runs) == options.repeat * len(options.clients) * len(options.variants),
        "options": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(options).items()
        },
        "machine": report.machine(),
        "versions": report.versions(),
        "variants": {name: VARIANTS[name].description for name in options.variants},
        "settings_from_environment": passed_settings(),
        "runs": runs,
        "summary": summary,
        "ratios": report.ratios(summary),
    }


def run(options: Options, path: Path) -> dict[str, Any]:
    """Measure everything; ``path`` gets the results so far after each run."""
    raise_fd_limit(files_needed(options))
    started_at = datetime.now(UTC)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-", dir=scratch_dir()) as temporary:
        directory = Path(temporary)
        apps = {VARIANTS[name].app for name in options.variants}
        templates = {}
        if "project" in apps:
            templates["project"] = project_template(directory)
        for app in sorted(apps - {"project"}):
            templates[app] = baseline_template(directory, app)
        for repetition in range(options.repeat):
            for clients in options.clients:
                for name in options.variants:
                    label = f"{repetition + 1}-{clients}-{name}"
                    print(f"[{label}] {VARIANTS[name].description}, {clients} clients", flush=True)
                    result = measure(VARIANTS[name], clients, options, templates, directory / label)
                    result["repetition"] = repetition + 1
                    runs.append(result)
                    print(report.run_line(result), flush=True)
                    results = results_document(options, started_at, runs)
                    path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return results


def stop_on_sigterm() -> None:
    """SIGTERM (``timeout``, a CI job cancelled) unwinds like Ctrl-C: servers and clients stop."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        open_files = raise_fd_limit(files_needed(options))
    except FdLimitTooLow as error:
        print(f"python -m bench: {error}", file=sys.stderr)
        return 3
    print(f"Open files allowed per process: {open_files:,}", flush=True)
    stop_on_sigterm()
    options.output_dir.mkdir(parents=True, exist_ok=True)
    path = options.output_dir / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    results = run(options, path)
    print()
    print(report.table(results))
    print(f"\nResults: {path}")
    return 0
