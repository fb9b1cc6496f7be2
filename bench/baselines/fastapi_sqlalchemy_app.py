"""The seed's design as a baseline: FastAPI, a SQLAlchemy session per request, ``db.commit()``
then ``await manager.broadcast(...)`` looping ``send_json`` over the subscribed sockets.

It is FastAPI's SQL tutorial with its WebSocket tutorial's ``ConnectionManager``: declarative
models, a ``SessionLocal`` handed to each request by the ``get_db`` dependency, Pydantic models
read ``from_attributes`` for the answers and the frames. The REST endpoints are ``async def`` (they
await the broadcast), so their queries run on the event loop, as the seed's did. It speaks the same
subset of ``/api/ws`` as ``fastapi_app.py`` (the plain-``sqlite3`` baseline): token login on the
socket and the REST API, subscribe → subscribed, unsubscribe → unsubscribed, ping → pong, and
event frames shaped like ``realtime.models.Event.to_frame`` for the ``tasks`` stream; nothing else
of the project (replay, permissions, ordering).

Run: ``BASELINE_DATABASE=/tmp/b.sqlite3 uvicorn bench.baselines.fastapi_sqlalchemy_app:app``;
make the schema and a token first with ``database_init`` and ``token_create``.
"""

import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Numeric,
    String,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

STREAM = "tasks"


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)


class Token(Base):
    __tablename__ = "tokens"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    unit: Mapped[str] = mapped_column(String(16))
    volume_plan: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    volume_fact: Mapped[Decimal] = mapped_column(Numeric(14, 3), default=Decimal(0))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(default=1)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    stream: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[int]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def engine_for(path: str) -> Engine:
    """SQLite as ``fastapi_app.py`` and the project use it: WAL (set on the file by
    ``database_init``), ``synchronous=NORMAL`` on every connection."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def pragmas(connection: Any, _record: Any) -> None:
        connection.execute("PRAGMA synchronous=NORMAL")

    return engine


def database_init(path: str) -> None:
    """Create the schema (WAL, like the project's SQLite settings)."""
    engine = engine_for(path)
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    Base.metadata.create_all(engine)
    engine.dispose()


def token_create(path: str, username: str) -> str:
    """A user and its token (the ``Authorization: Token <key>`` of the REST API and the socket)."""
    engine = engine_for(path)
    key = secrets.token_hex(20)
    with Session(engine) as db:
        user = User(username=username)
        db.add(user)
        db.flush()
        db.add(Token(key=key, user_id=user.id))
        db.commit()
    engine.dispose()
    return key


engine = engine_for(os.environ.get("BASELINE_DATABASE", "baseline.sqlite3"))
SessionLocal = sessionmaker(autocommit=False, autoflush=False, bind=engine)


def get_db() -> Iterator[Session]:
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


# Schemas.
class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    unit: str
    volume_plan: Decimal
    volume_fact: Decimal
    start_date: date
    end_date: date
    created_at: datetime
    updated_at: datetime
    version: int
    progress_percent: str

    @classmethod
    def of(cls, task: Task) -> "TaskOut":
        plan, fact = task.volume_plan, task.volume_fact
        progress = fact * 100 / plan if plan else Decimal(0)
        return cls.model_validate(
            {
                **{column.key: getattr(task, column.key) for column in Task.__table__.columns},
                "progress_percent": f"{progress:.1f}",
            }
        )


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


# The sockets.
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
app = FastAPI(title="Baseline (SQLAlchemy)")


def user_for_token(db: Session, authorization: str | None) -> User | None:
    if not authorization or not authorization.startswith("Token "):
        return None
    return db.scalar(
        select(User)
        .join(Token, Token.user_id == User.id)
        .where(Token.key == authorization.removeprefix("Token "))
    )


def current_user(
    db: Annotated[Session, Depends(get_db)], authorization: Annotated[str | None, Header()] = None
) -> User:
    user = user_for_token(db, authorization)
    if user is None:
        raise HTTPException(status_code=401, detail="Invalid token.")
    return user


Db = Annotated[Session, Depends(get_db)]
CurrentUser = Annotated[User, Depends(current_user)]


def now() -> datetime:
    return datetime.now(UTC)


def event_add(db: Session, action: str, task: TaskOut, actor: User) -> Event:
    """The event row, in the request's session (committed with the task)."""
    row = Event(
        stream=STREAM,
        type=f"task_{action}",
        object_id=task.id,
        data=task.model_dump(mode="json"),
        actor_id=actor.id,
        created_at=now(),
    )
    db.add(row)
    return row


def frame_of(row: Event, actor: User) -> dict[str, Any]:
    return {
        "type": row.type,
        "event": row.stream,
        "id": row.id,
        "data": row.data,
        "actor": UserOut.model_validate(actor).model_dump(),
        "ts": row.created_at.isoformat().replace("+00:00", "Z"),
    }


# REST: the write commits, then every subscribed socket gets the event.
@app.post("/api/tasks/", status_code=201)
async def create_task(data: TaskIn, db: Db, user: CurrentUser) -> TaskOut:
    task = Task(**data.model_dump(), volume_fact=Decimal(0), created_at=now(), updated_at=now())
    db.add(task)
    db.flush()
    out = TaskOut.of(task)
    row = event_add(db, "created", out, user)
    db.commit()
    await manager.broadcast(frame_of(row, user))
    return out


@app.patch("/api/tasks/{task_id}/")
async def update_task(task_id: int, data: TaskPatch, db: Db, user: CurrentUser) -> TaskOut:
    task = db.get(Task, task_id)
    if task is None:
        raise HTTPException(status_code=404, detail="No such task.")
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(task, name, value)
    task.version += 1
    task.updated_at = now()
    db.flush()
    out = TaskOut.of(task)
    row = event_add(db, "updated", out, user)
    db.commit()
    await manager.broadcast(frame_of(row, user))
    return out


@app.get("/api/tasks/")
async def list_tasks(db: Db, user: CurrentUser) -> list[TaskOut]:
    return [TaskOut.of(task) for task in db.scalars(select(Task))]


# The socket.
async def handle(websocket: WebSocket, message: Any) -> None:
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "ping":
        pong = {key: value for key, value in message.items() if key != "type"}
        await websocket.send_json({"type": "pong", **pong})
    elif kind in {"subscribe", "unsubscribe"}:
        events = message.get("events")
        if not isinstance(events, list) or any(name != STREAM for name in events):
            await websocket.send_json(
                {"type": "error", "code": "unknown_event", "message": "Unknown stream."}
            )
        elif kind == "subscribe":
            manager.subscribe(websocket)
            with SessionLocal() as db:
                last_event_id = db.scalar(select(func.coalesce(func.max(Event.id), 0)))
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
    with SessionLocal() as db:
        user = user_for_token(db, authorization)
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
