"""The baseline: the plain FastAPI + uvicorn design that tutorials teach, speaking ``/api/ws``.

A global ``ConnectionManager`` keeps a list of subscribed sockets; a REST write commits its row
(and an event row, whose id the frame carries) to SQLite, then ``await websocket.send_json(...)``
to each socket in turn before it answers. The socket logs in with ``Authorization: Token <key>``
and speaks the project's protocol for the ``tasks`` stream: subscribe → subscribed, ping → pong,
and event frames shaped like ``realtime.models.Event.to_frame``. Nothing else of the project
(replay, permissions, other streams) is there: it is the design the benchmark compares with.

Run: ``BASELINE_DATABASE=/tmp/b.sqlite3 uvicorn bench.baselines.fastapi_app:app``; make the
schema and a token first with ``database_init`` and ``token_create``.
"""

import json
import os
import secrets
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

STREAM = "tasks"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    key TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id)
);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    code TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    volume_plan TEXT NOT NULL,
    volume_fact TEXT NOT NULL DEFAULT '0.000',
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    type TEXT NOT NULL,
    object_id INTEGER NOT NULL,
    data TEXT NOT NULL,
    actor_id INTEGER,
    created_at TEXT NOT NULL
);
"""


def database_path() -> str:
    return os.environ.get("BASELINE_DATABASE", "baseline.sqlite3")


def connect() -> sqlite3.Connection:
    connection = sqlite3.connect(database_path(), timeout=20, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def database_init(path: str) -> None:
    """Create the schema (WAL, like the project's SQLite settings)."""
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(SCHEMA)


def token_create(path: str, username: str) -> str:
    """A user and its token (the ``Authorization: Token <key>`` of the REST API and the socket)."""
    key = secrets.token_hex(20)
    with closing(sqlite3.connect(path)) as connection, connection:
        user_id = connection.execute(
            "INSERT INTO users (username) VALUES (?)", (username,)
        ).lastrowid
        connection.execute("INSERT INTO tokens (key, user_id) VALUES (?, ?)", (key, user_id))
    return key


class ConnectionManager:
    """The sockets subscribed to ``tasks``; a broadcast sends to each in turn."""

    def __init__(self) -> None:
        self.active_connections: list[WebSocket] = []

    def subscribe(self, websocket: WebSocket) -> None:
        if websocket not in self.active_connections:
            self.active_connections.append(websocket)

    def disconnect(self, websocket: WebSocket) -> None:
        if websocket in self.active_connections:
            self.active_connections.remove(websocket)

    async def broadcast(self, frame: dict[str, Any]) -> None:
        for connection in list(self.active_connections):
            try:
                await connection.send_json(frame)
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.disconnect(connection)


manager = ConnectionManager()
app = FastAPI(title="Baseline")


# Authentication.
def user_for_token(authorization: str | None) -> dict[str, Any] | None:
    if not authorization or not authorization.startswith("Token "):
        return None
    with closing(connect()) as connection:
        row = connection.execute(
            "SELECT users.id, users.username FROM tokens JOIN users ON users.id = tokens.user_id"
            " WHERE tokens.key = ?",
            (authorization.removeprefix("Token "),),
        ).fetchone()
    return dict(row) if row else None


async def authenticated(authorization: str | None) -> dict[str, Any]:
    user = await run_in_threadpool(user_for_token, authorization)
    if user is None:
        raise HTTPException(status_code=401, detail="Invalid token.")
    return user


# Rows and frames.
def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def task_out(row: sqlite3.Row) -> dict[str, Any]:
    task = dict(row)
    plan, fact = Decimal(task["volume_plan"]), Decimal(task["volume_fact"])
    progress = fact * 100 / plan if plan else Decimal(0)
    task["progress_percent"] = f"{progress:.1f}"
    return task


def event_insert(
    connection: sqlite3.Connection, action: str, task: dict[str, Any], actor: dict[str, Any]
) -> dict[str, Any]:
    """Write the event row (in the caller's transaction) and return its frame."""
    created_at = now()
    event_type = f"task_{action}"
    event_id = connection.execute(
        "INSERT INTO events (stream, type, object_id, data, actor_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (STREAM, event_type, task["id"], json.dumps(task), actor["id"], created_at),
    ).lastrowid
    return {
        "type": event_type,
        "event": STREAM,
        "id": event_id,
        "data": task,
        "actor": actor,
        "ts": created_at,
    }


class TaskIn(BaseModel):
    code: str = Field(max_length=32)
    name: str = Field(max_length=255)
    unit: str = Field(max_length=16)
    volume_plan: Decimal = Field(ge=0, max_digits=14, decimal_places=3)
    start_date: date
    end_date: date


class TaskPatch(BaseModel):
    name: str | None = Field(default=None, max_length=255)
    unit: str | None = Field(default=None, max_length=16)
    volume_plan: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=3)
    start_date: date | None = None
    end_date: date | None = None


def columns(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: f"{value:.3f}" if isinstance(value, Decimal) else str(value)
        for key, value in data.items()
    }


def task_insert(data: TaskIn, actor: dict[str, Any]) -> dict[str, Any]:
    values = columns(data.model_dump()) | {"created_at": now(), "updated_at": now()}
    with closing(connect()) as connection:
        connection.execute("BEGIN IMMEDIATE")
        try:
            names = ", ".join(values)
            marks = ", ".join("?" * len(values))
            row = connection.execute(
                f"INSERT INTO tasks ({names}) VALUES ({marks}) RETURNING *", list(values.values())
            ).fetchone()
            frame = event_insert(connection, "created", task_out(row), actor)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    return frame


def task_update(task_id: int, data: TaskPatch, actor: dict[str, Any]) -> dict[str, Any] | None:
    values = columns(data.model_dump(exclude_unset=True)) | {"updated_at": now()}
    assignments = ", ".join(f"{name} = ?" for name in values)
    with closing(connect()) as connection:
        connection.execute("BEGIN IMMEDIATE")
        try:
            row = connection.execute(
                f"UPDATE tasks SET {assignments}, version = version + 1 WHERE id = ? RETURNING *",
                [*values.values(), task_id],
            ).fetchone()
            frame = None
            if row is not None:
                frame = event_insert(connection, "updated", task_out(row), actor)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    return frame


# REST: the write commits, then every subscribed socket gets the event.
@app.post("/api/tasks/", status_code=201)
async def create_task(
    data: TaskIn, authorization: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    actor = await authenticated(authorization)
    frame = await run_in_threadpool(task_insert, data, actor)
    await manager.broadcast(frame)
    return frame["data"]


@app.patch("/api/tasks/{task_id}/")
async def update_task(
    task_id: int, data: TaskPatch, authorization: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    actor = await authenticated(authorization)
    frame = await run_in_threadpool(task_update, task_id, data, actor)
    if frame is None:
        raise HTTPException(status_code=404, detail="No such task.")
    await manager.broadcast(frame)
    return frame["data"]


@app.get("/api/tasks/")
async def list_tasks(authorization: Annotated[str | None, Header()] = None) -> list[dict]:
    await authenticated(authorization)

    def rows() -> list[dict[str, Any]]:
        with closing(connect()) as connection:
            return [task_out(row) for row in connection.execute("SELECT * FROM tasks")]

    return await run_in_threadpool(rows)


# The socket.
def latest_event_id() -> int:
    with closing(connect()) as connection:
        return connection.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]


async def handle(websocket: WebSocket, message: Any) -> None:
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "ping":
        pong = {key: value for key, value in message.items() if key != "type"}
        await websocket.send_json({"type": "pong", **pong})
    elif kind in {"subscribe", "unsubscribe"}:
        events = message.get("events")
        if not isinstance(events, list) or any(event != STREAM for event in events):
            await websocket.send_json(
                {"type": "error", "code": "unknown_event", "message": "Unknown stream."}
            )
        elif kind == "subscribe":
            manager.subscribe(websocket)
            last_event_id = await run_in_threadpool(latest_event_id)
            await websocket.send_json(
                {"type": "subscribed", "events": events, "last_event_id": last_event_id}
            )
        else:
            manager.disconnect(websocket)
            await websocket.send_json({"type": "unsubscribed", "events": events})
    else:
        await websocket.send_json(
            {"type": "error", "code": "unknown_type", "message": "Unknown message type."}
        )


@app.websocket("/api/ws")
async def websocket_endpoint(
    websocket: WebSocket, authorization: Annotated[str | None, Header()] = None
) -> None:
    user = await run_in_threadpool(user_for_token, authorization)
    await websocket.accept()
    if user is None:
        await websocket.close(code=4401)
        return
    try:
        while True:
            text = await websocket.receive_text()
            try:
                message = json.loads(text)
            except ValueError:
                await websocket.send_json(
                    {"type": "error", "code": "invalid_json", "message": "Not JSON."}
                )
                continue
            await handle(websocket, message)
    except WebSocketDisconnect:
        manager.disconnect(websocket)
