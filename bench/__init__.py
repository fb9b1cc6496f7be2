"""The project's own benchmark of ``/api/ws`` fan-out (``make bench``; docs/performance.md)."""
