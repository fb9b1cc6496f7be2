"""Prometheus metrics of the real-time part, served at ``/metrics`` (``realtime.views``).

Several server processes: prometheus_client's multiprocess mode is on when the environment
variable ``PROMETHEUS_MULTIPROC_DIR`` names a writable directory when the process starts (it is
read once, when prometheus_client is imported). Every process then keeps its values in files
there and ``/metrics`` of any process sums them; the gauges count live processes only
(``livesum``; ``/metrics`` drops the gauge files of pids that are gone, so the processes sharing
a directory must see each other's pids: one directory per host or container). The directory must
be emptied before the processes start (files of old pids would add up forever): the deployment
does it. Without the variable, each process reports its own.
"""

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS_OPEN = Gauge(
    "realtime_connections_open", "Open /api/ws sockets.", multiprocess_mode="livesum"
)
SUBSCRIPTIONS = Gauge(
    "realtime_subscriptions",
    "Sockets subscribed to each stream.",
    ["stream"],
    multiprocess_mode="livesum",
)
EVENTS_PUBLISHED = Counter("realtime_events_published", "Events committed and rung.")
FRAMES_SENT = Counter("realtime_frames_sent", "Event frames handed to sockets.")
SEND_FAILURES = Counter("realtime_send_failures", "Writes to a socket that failed.")
SLOW_CONSUMER_DISCONNECTS = Counter(
    "realtime_slow_consumer_disconnects", "Sockets closed with 4408: the client stopped reading."
)
CONNECTIONS_REFUSED = Counter(
    "realtime_connections_refused", "Sockets refused, by reason.", ["reason"]
)
EVENTS_REPLAYED = Counter(
    "realtime_events_replayed", "Event frames sent from the log on subscribe or resume."
)
COMMIT_TO_SEND = Histogram(
    "realtime_commit_to_send_seconds",
    "From an event's commit to its frame being handed to this process's sockets.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CHANGE_TO_SCREEN = Histogram(
    "realtime_change_to_screen_seconds",
    "From a change's commit to a browser page having applied it (sampled; reported by the "
    "pages, corrected for their clock offset).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def change_to_screen_observe(samples: Iterable[float]) -> None:
    """Record the lags of a page's ``lag`` report (``protocol.Lag``, already validated)."""
    for sample in samples:
        CHANGE_TO_SCREEN.observe(sample)
