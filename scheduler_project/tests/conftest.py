"""The real-server fixtures of the real-time tests, for the HTTP side of the same servers."""

from realtime.tests.conftest import redis_url, rest, server_factory, ws_connect

__all__ = ["redis_url", "rest", "server_factory", "ws_connect"]
