"""The benchmark's writes: REST calls over a keep-alive HTTP connection, each stamped when sent.

Every write sets the planned volume of the benchmark's task to its write number, so that a
client can tell from an event frame which write it carries (``data.volume_plan``).
"""

import http.client
import json
import socket
import time
from typing import Any

from .servers import task_payload


class Writer:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.task_id: int | None = None

    def request(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        for attempt in range(2):
            try:
                if self.connection.sock is None:
                    self.connection.connect()
                    # As browsers and requests do: no Nagle delay between headers and body.
                    self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.connection.request(method, path, body=body, headers=self.headers)
                response = self.connection.getresponse()
                raw = response.read()
                try:
                    return response.status, json.loads(raw or b"null")
                except ValueError:
                    answer = raw[:3000]
                    raise RuntimeError(
                        f"{method} {path} answered {response.status}: {answer!r}"
                    ) from None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: once more on a new one.
                self.connection.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def create_task(self) -> int:
        status, answer = self.request("POST", "/api/tasks/", task_payload())
        if status != 201:
            raise RuntimeError(f"creating the task answered {status}: {answer}")
        self.task_id = answer["id"]
        return self.task_id

    def write(self, seq: int, sends: dict[int, float]) -> None:
        """Set the task's planned volume to ``seq``; ``sends[seq]`` is when the request left."""
        body = json.dumps({"volume_plan": str(seq)}).encode()
        sends[seq] = time.monotonic()
        status, answer = self.request("PATCH", f"/api/tasks/{self.task_id}/", body)
        if status != 200:
            raise RuntimeError(f"write {seq} answered {status}: {answer}")

    def close(self) -> None:
        self.connection.close()
