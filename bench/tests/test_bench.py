"""``python -m bench`` end to end with tiny numbers: real servers, real clients, a real report.

No figure is checked against a threshold (the machine decides those); only that every event
reached every client once and in order, and that the report has every figure. The baseline's
order is not checked: with concurrent writers its broadcasts can overtake one another (the
report counts it; docs/performance.md).
"""

import json
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.servers import BASE_DIR
from scheduler_project.tests.subprocesses import skip_unless_available

PHASE_FIGURES = {
    "writes",
    "seconds",
    "server_cpu_seconds",
    "client_cpu_seconds",
    "deliveries",
    "deliveries_per_cpu_second",
    "fanout_deliveries_per_cpu_second",
    "fanout_us_per_delivery",
    "delivered_per_second",
    "writes_per_second",
    "latency_ms",
}
LATENCY_FIGURES = {"pairs", "p50", "p95", "p99", "max"}
CLIENTS, WRITES, PINGS = 5, 3, 4
BASELINES = {
    "fastapi",
    "fastapi-nodeflate",
    "fastapi-sqlalchemy",
    "fastapi-sqlalchemy-nodeflate",
}
COST_FIGURES = {
    "server_cpu_ms_per_connect",
    "server_cpu_us_per_ping",
    "server_cpu_ms_per_write_alone",
    "kb_per_connection",
}


def run_bench(output_dir: Path, variants: str) -> tuple[str, dict]:
    command = [
        sys.executable,
        "-m",
        "bench",
        f"--clients={CLIENTS}",
        f"--writes={WRITES}",
        f"--pings={PINGS}",
        f"--variants={variants}",
        "--throughput-seconds=1",
        f"--output-dir={output_dir}",
    ]
    result = subprocess.run(
        command, cwd=BASE_DIR, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [path] = output_dir.glob("*.json")
    return result.stdout, json.loads(path.read_text())


def assert_complete_run(run: dict) -> None:
    assert run["connect"]["connected"] == CLIENTS
    assert (run["lost"], run["duplicated"]) == (0, 0)
    if run["variant"] not in BASELINES:
        assert run["out_of_order"] == 0
    assert run["server_tracebacks"] == []
    assert set(run["rss_kb"]) == {"before", "connected", "written"}
    assert run["kb_per_connection"] is not None
    assert run["server_cpu_ms_per_write_alone"] is not None
    assert run["server_cpu_ms_per_connect"] is not None
    assert "server_cpu_us_per_ping" in run
    assert (run["pings"]["pings"], run["pings"]["missing_pongs"]) == (CLIENTS * PINGS, 0)
    assert run["other_frames"].get("pong") == CLIENTS * PINGS
    assert set(run["phases"]) == {"back_to_back", "isolated", "throughput"}
    for phase in run["phases"].values():
        assert set(phase) >= PHASE_FIGURES
        assert set(phase["latency_ms"]) == LATENCY_FIGURES
        assert phase["deliveries"] == phase["writes"] * CLIENTS
        assert phase["latency_ms"]["pairs"] == phase["writes"] * CLIENTS
    assert run["phases"]["back_to_back"]["writes"] == WRITES
    assert run["phases"]["isolated"]["writes"] == WRITES


VARIANTS = [
    "uvicorn",
    "daphne-socket",
    "fastapi",
    "fastapi-sqlalchemy",
    "fastapi-sqlalchemy-nodeflate",
]


def test_the_project_and_the_baselines_deliver_every_write_to_every_client(tmp_path):
    stdout, results = run_bench(tmp_path, ",".join(VARIANTS))

    assert [run["variant"] for run in results["runs"]] == VARIANTS
    for run in results["runs"]:
        assert_complete_run(run)
    ratios = results["ratios"][str(CLIENTS)]
    assert set(ratios) >= {
        "uvicorn_vs_sqlalchemy_deliveries_per_cpu",
        "uvicorn_vs_sqlalchemy_nodeflate_deliveries_per_cpu",
        "uvicorn_vs_sqlalchemy_isolated_p99",
        "uvicorn_vs_sqlalchemy_nodeflate_isolated_p99",
        "uvicorn_vs_fastapi_deliveries_per_cpu",
        "uvicorn_vs_fastapi_isolated_p99",
        "daphne_vs_daphne_socket_deliveries_per_cpu",
        "kb_per_connection",
        "lost_duplicated_out_of_order",
    }
    assert ratios["uvicorn_vs_fastapi_isolated_p99"] is not None
    assert ratios["uvicorn_vs_sqlalchemy_isolated_p99"] is not None
    assert ratios["uvicorn_vs_sqlalchemy_nodeflate_isolated_p99"] is not None
    for figures in results["summary"][str(CLIENTS)].values():
        assert set(figures) >= COST_FIGURES
        assert "fanout_us_per_delivery" in figures["back_to_back"]
        assert figures["missing_pongs"] == 0
    assert set(results) >= {"machine", "versions", "options", "summary", "command"}
    assert results["versions"]["SQLAlchemy"] != "not installed"
    assert results["complete"]
    assert "Per-operation server CPU:" in stdout
    assert "Ratios at N = 5:" in stdout
    # The verdict needs both figures: at N = 5 one may stay under a /proc tick (then "-").
    assert "uvicorn_vs_sqlalchemy_deliveries_per_cpu: " in stdout
    verdict = r"(- \(target ≥ 2\.5\)|[\d.]+ \(target ≥ 2\.5: (not )?met\))"
    assert re.search(rf"uvicorn_vs_sqlalchemy_deliveries_per_cpu: {verdict}", stdout)


def test_two_processes_with_redis_deliver_every_write_to_every_client(tmp_path):
    if shutil.which("redis-server") is None:
        skip_unless_available("redis-server is not installed (apt-get install redis-server)")
    _stdout, results = run_bench(tmp_path, "uvicorn-redis-2")

    [run] = results["runs"]
    assert_complete_run(run)


@pytest.mark.parametrize("argument", ["--variants=nginx", "--clients=many", "--pings=61"])
def test_bad_options_are_refused(argument):
    result = subprocess.run(
        [sys.executable, "-m", "bench", argument],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "usage: python -m bench" in result.stderr


def lower_the_hard_limit_on_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def test_a_hard_limit_on_open_files_below_the_client_count_is_said_before_anything_starts():
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--clients=10000", "--variants=uvicorn"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=lower_the_hard_limit_on_open_files,
    )
    assert result.returncode == 3
    assert "the hard limit on open files is 1,024" in result.stderr
    assert "[1-10000-uvicorn]" not in result.stdout
