"""Figures from what the clients received: latency percentiles, lost / duplicated / out-of-order
events, medians over repetitions, the ratios the issue sets targets for, and the table."""

import importlib.metadata
import os
import platform
import statistics
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

Received = tuple[float, int, int]  # (received at, event id, write number)

PACKAGES = [
    "Django",
    "channels",
    "channels-redis",
    "daphne",
    "uvicorn",
    "websockets",
    "fastapi",
    "starlette",
    "SQLAlchemy",
    "uvloop",
    "httptools",
]


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def latency_figures(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"pairs": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)
    return {
        "pairs": len(ordered),
        "p50": percentile(ordered, 0.50) * 1000,
        "p95": percentile(ordered, 0.95) * 1000,
        "p99": percentile(ordered, 0.99) * 1000,
        "max": ordered[-1] * 1000,
    }


def analyse(
    received: list[list[Received]], sends: dict[int, float], phase_of: dict[int, str]
) -> dict[str, Any]:
    """Per client: every write it should have seen (all of them: the clients connect first),
    what it saw twice, and what came after an event with a higher id; latency of each first
    receipt of a write, by phase."""
    latencies: dict[str, list[float]] = defaultdict(list)
    lost = duplicated = out_of_order = 0
    expected = set(sends)
    for frames in received:
        seen_ids: set[int] = set()
        seen_seqs: set[int] = set()
        newest = 0
        for at, event_id, seq in frames:
            if event_id in seen_ids:
                duplicated += 1
                continue
            seen_ids.add(event_id)
            if event_id < newest:
                out_of_order += 1
            newest = max(newest, event_id)
            if seq in sends and seq not in seen_seqs:
                seen_seqs.add(seq)
                latencies[phase_of.get(seq, "unknown")].append(at - sends[seq])
        lost += len(expected - seen_seqs)
    return {
        "lost": lost,
        "duplicated": duplicated,
        "out_of_order": out_of_order,
        "latency_ms": {phase: latency_figures(values) for phase, values in latencies.items()},
    }


# Summaries over repetitions.
def median(values: list[Any]) -> float | None:
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``summary[clients][variant]``: medians over the repetitions, sums for the counts."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[(run["clients"], run["variant"])].append(run)
    summary: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for (clients, variant), group in groups.items():
        figures: dict[str, Any] = {
            "repetitions": len(group),
            "connect_seconds": median([run["connect"]["seconds"] for run in group]),
            "connect_failed": sum(run["connect"]["failed"] for run in group),
            "kb_per_connection": median([run["kb_per_connection"] for run in group]),
            "server_cpu_ms_per_connect": median(
                [run.get("server_cpu_ms_per_connect") for run in group]
            ),
            "server_cpu_us_per_ping": median([run.get("server_cpu_us_per_ping") for run in group]),
            "missing_pongs": sum(run.get("pings", {}).get("missing_pongs", 0) for run in group),
            "server_cpu_ms_per_write_alone": median(
                [run["server_cpu_ms_per_write_alone"] for run in group]
            ),
            "lost": sum(run["lost"] for run in group),
            "duplicated": sum(run["duplicated"] for run in group),
            "out_of_order": sum(run["out_of_order"] for run in group),
            "server_tracebacks": sum(len(run["server_tracebacks"]) for run in group),
        }
        for phase in ("back_to_back", "isolated", "throughput"):
            phases = [run["phases"][phase] for run in group if phase in run["phases"]]
            if not phases:
                continue
            entry = {
                key: median([p[key] for p in phases])
                for key in (
                    "deliveries_per_cpu_second",
                    "fanout_deliveries_per_cpu_second",
                    "fanout_us_per_delivery",
                    "delivered_per_second",
                    "writes_per_second",
                    "server_cpu_seconds",
                    "client_cpu_seconds",
                )
            }
            for key in ("p50", "p95", "p99", "max"):
                entry[f"{key}_ms"] = median([p.get("latency_ms", {}).get(key) for p in phases])
            figures[phase] = entry
        summary[str(clients)][variant] = figures
    return summary


# The comparisons the issues set targets for: (name, variant, compared with, phase, figure).
PER_CPU = ("back_to_back", "deliveries_per_cpu_second")
FANOUT_PER_CPU = ("back_to_back", "fanout_deliveries_per_cpu_second")
ISOLATED_P99 = ("isolated", "p99_ms")
RATIOS = [
    # Issue 12: against the seed's design (FastAPI + SQLAlchemy), at N = 100 and 1,000.
    ("uvicorn_vs_sqlalchemy_deliveries_per_cpu", "uvicorn", "fastapi-sqlalchemy", *PER_CPU),
    (
        "uvicorn_vs_sqlalchemy_nodeflate_deliveries_per_cpu",
        "uvicorn",
        "fastapi-sqlalchemy-nodeflate",
        *PER_CPU,
    ),
    ("uvicorn_vs_sqlalchemy_isolated_p99", "uvicorn", "fastapi-sqlalchemy", *ISOLATED_P99),
    (
        "uvicorn_vs_sqlalchemy_nodeflate_isolated_p99",
        "uvicorn",
        "fastapi-sqlalchemy-nodeflate",
        *ISOLATED_P99,
    ),
    ("uvicorn_vs_fastapi_deliveries_per_cpu", "uvicorn", "fastapi", *PER_CPU),
    ("uvicorn_vs_fastapi_nodeflate_deliveries_per_cpu", "uvicorn", "fastapi-nodeflate", *PER_CPU),
    ("uvicorn_vs_fastapi_isolated_p99", "uvicorn", "fastapi", *ISOLATED_P99),
    ("uvicorn_vs_fastapi_nodeflate_isolated_p99", "uvicorn", "fastapi-nodeflate", *ISOLATED_P99),
    ("daphne_vs_daphne_socket_deliveries_per_cpu", "daphne", "daphne-socket", *PER_CPU),
    ("uvicorn_vs_uvicorn_socket_deliveries_per_cpu", "uvicorn", "uvicorn-socket", *PER_CPU),
    ("redis_2_processes_vs_uvicorn_isolated_p99", "uvicorn-redis-2", "uvicorn", *ISOLATED_P99),
    # Not targets: the same without each server's CPU cost of the writes themselves.
    ("uvicorn_vs_fastapi_fanout_per_cpu", "uvicorn", "fastapi", *FANOUT_PER_CPU),
    (
        "uvicorn_vs_fastapi_nodeflate_fanout_per_cpu",
        "uvicorn",
        "fastapi-nodeflate",
        *FANOUT_PER_CPU,
    ),
]


# Issue 12's targets for the ratios above: (at least, at most).
TARGETS: dict[str, tuple[float | None, float | None]] = {
    "uvicorn_vs_sqlalchemy_deliveries_per_cpu": (2.5, None),
    "uvicorn_vs_sqlalchemy_nodeflate_deliveries_per_cpu": (1.5, None),
    "uvicorn_vs_sqlalchemy_isolated_p99": (None, 1.0),
    "uvicorn_vs_sqlalchemy_nodeflate_isolated_p99": (None, 1.0),
}


def verdict(name: str, value: float | None) -> str:
    """`` (target ≥ 2.5: met)`` for a ratio with a target, else nothing."""
    if name not in TARGETS:
        return ""
    least, most = TARGETS[name]
    target = f"≥ {least}" if least is not None else f"≤ {most}"
    if value is None:
        return f" (target {target})"
    met = (least is None or value >= least) and (most is None or value <= most)
    return f" (target {target}: {'met' if met else 'not met'})"


def ratios(summary: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """``RATIOS`` for each client count (None where a variant was not measured), and the memory
    and delivery counts of every variant side by side."""
    result = {}
    for clients, variants in summary.items():
        figures: dict[str, Any] = {}
        for name, variant, other, phase, key in RATIOS:
            numerator = variants.get(variant, {}).get(phase, {}).get(key)
            denominator = variants.get(other, {}).get(phase, {}).get(key)
            figures[name] = numerator / denominator if numerator and denominator else None
        figures["kb_per_connection"] = {
            variant: summary["kb_per_connection"] for variant, summary in variants.items()
        }
        figures["lost_duplicated_out_of_order"] = {
            variant: [summary["lost"], summary["duplicated"], summary["out_of_order"]]
            for variant, summary in variants.items()
        }
        result[clients] = figures
    return result


# Text.
def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def run_line(run: dict[str, Any]) -> str:
    phases = run["phases"]
    isolated = phases["isolated"].get("latency_ms", {})
    return (
        f"  connected {run['connect']['connected']}/{run['clients']} in "
        f"{run['connect']['seconds']:.2f} s "
        f"({number(run.get('server_cpu_ms_per_connect'), 2)} ms server CPU each); "
        f"{run['kb_per_connection']:.1f} KB/conn; "
        f"ping {number(run.get('server_cpu_us_per_ping'))} µs; "
        f"fan-out {number(phases['back_to_back'].get('fanout_us_per_delivery'), 1)} µs/delivery; "
        f"isolated p99 {number(isolated.get('p99'), 1)} ms; "
        f"back-to-back {number(phases['back_to_back']['deliveries_per_cpu_second'])} "
        f"deliveries/CPU-s; lost {run['lost']}, dup {run['duplicated']}, "
        f"out of order {run['out_of_order']}"
    )


VARIANT_WIDTH = 28
COLUMNS = [
    ("variant", VARIANT_WIDTH),
    ("N", 5),
    ("connect s", 9),
    ("KB/conn", 7),
    ("b2b p50/p99 ms", 15),
    ("iso p50/p95/p99/max ms", 23),
    ("write CPU ms", 12),
    ("deliv/CPU-s b2b", 15),
    ("fan-out/CPU-s", 13),
    ("deliv/CPU-s thr", 15),
    ("thr deliv/s", 11),
    ("lost/dup/ooo", 12),
]


# Issue 12's "costs to reach": the server's CPU time of each operation, and memory.
COST_COLUMNS = [
    ("variant", VARIANT_WIDTH),
    ("N", 5),
    ("connect+subscribe ms/socket", 27),
    ("ping µs", 8),
    ("fan-out µs/delivery", 19),
    ("write alone ms", 14),
    ("KB/conn", 7),
    ("missing pongs", 13),
]


def row(cells: list[str], columns: list[tuple[str, int]] = COLUMNS) -> str:
    """Left-aligned first column, right-aligned figures."""
    widths = [width for _title, width in columns]
    return "  ".join(
        cell.ljust(width) if index == 0 else cell.rjust(width)
        for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )


def table(results: dict[str, Any]) -> str:
    lines = [row([title for title, _width in COLUMNS])]
    for clients, variants in results["summary"].items():
        for variant, f in variants.items():
            b2b, iso = f.get("back_to_back", {}), f.get("isolated", {})
            thr = f.get("throughput", {})
            lines.append(
                row(
                    [
                        variant,
                        clients,
                        number(f["connect_seconds"], 2),
                        number(f["kb_per_connection"], 1),
                        "/".join(number(b2b.get(f"{key}_ms"), 1) for key in ("p50", "p99")),
                        "/".join(
                            number(iso.get(f"{key}_ms"), 1) for key in ("p50", "p95", "p99", "max")
                        ),
                        number(f["server_cpu_ms_per_write_alone"], 1),
                        number(b2b.get("deliveries_per_cpu_second")),
                        number(b2b.get("fanout_deliveries_per_cpu_second")),
                        number(thr.get("deliveries_per_cpu_second")),
                        number(thr.get("delivered_per_second")),
                        f"{f['lost']}/{f['duplicated']}/{f['out_of_order']}",
                    ]
                )
            )
    lines += ["", "Per-operation server CPU:", row([t for t, _w in COST_COLUMNS], COST_COLUMNS)]
    for clients, variants in results["summary"].items():
        for variant, f in variants.items():
            lines.append(
                row(
                    [
                        variant,
                        clients,
                        number(f.get("server_cpu_ms_per_connect"), 2),
                        number(f.get("server_cpu_us_per_ping"), 1),
                        number(f.get("back_to_back", {}).get("fanout_us_per_delivery"), 1),
                        number(f["server_cpu_ms_per_write_alone"], 1),
                        number(f["kb_per_connection"], 1),
                        str(f.get("missing_pongs", 0)),
                    ],
                    COST_COLUMNS,
                )
            )
    for clients, figures in results["ratios"].items():
        measured = results["summary"][clients]
        shown = [
            (name, figures[name])
            for name, variant, other, *_figure in RATIOS
            if variant in measured and other in measured
        ]
        if not shown:
            continue
        lines += ["", f"Ratios at N = {clients}:"]
        for name, value in shown:
            text = "-" if value is None else f"{value:.2f}"
            lines.append(f"  {name}: {text}{verdict(name, value)}")
    return "\n".join(lines)


# Where it ran.
def machine() -> dict[str, Any]:
    model = ""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found
