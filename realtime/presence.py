"""Presence: who has a page open and what they edit, kept by one board per process.

A socket says which page it shows (``protocol.Presence``); the board keeps the local sockets'
presence by page and shows every socket on a page the other people there, one entry per user
(several tabs merged: the objects any tab edits, idle only when every tab is).

Across processes the board announces its users of a page to the page's channel-layer group
(``presence_group_for``) whenever they change, and again every
``REALTIME_PRESENCE_ANNOUNCE_SECONDS``; a process that hears nothing from another for
``REALTIME_PRESENCE_TTL_SECONDS`` forgets that process's people (a server killed with
``kill -9`` says no goodbye). A process that starts showing a page asks the others to announce
at once. A socket that leaves (or disconnects) is gone from its own process's view at once, and
from the others' as soon as the announcement that follows arrives.

Permissions: a socket is on a page only while its user may open it, and shows an editing claim
only while its user may change the target (``protocol.Presence.needs``; the consumer checks a
new presence, the hub's login check the standing ones: ``check``). Each socket is shown the
others' editing targets of the streams its own user may view, and no others.

Presence is the low-priority path: its layer traffic has its own channel and tasks, apart from
the hub's bells, and its frames never count toward a socket's event backlog (``Session``
keeps only the newest presence frame for a slow socket).
"""

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer
from django.conf import settings

from .protocol import (
    LAYER_PRESENCE,
    EditingTarget,
    ErrorFrame,
    PersonFrame,
    Presence,
    PresenceFrame,
    editing_needs,
    forbidden_editing_frame,
    forbidden_presence_frame,
    page_needs,
    presence_group_for,
    stream_permission,
    unmet,
)
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from .hub import Session

logger = logging.getLogger(__name__)

# This process, in the announcements (its own come back through the group and are skipped).
PROCESS_ID = uuid.uuid4().hex


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    initials: str


def person_of(user: Any) -> Person:
    """A user as others see them: the full name (else the username) and up to two initials."""
    name = user.get_full_name().strip() or user.get_username()
    initials = "".join(word[0] for word in name.split()[:2]).upper() or "?"
    return Person(id=user.pk, name=name, initials=initials)


@dataclass
class Entry:
    """One socket on one page."""

    person: Person
    presence: Presence
    limiter: RateLimiter
    # The user's grants as last read (``Logins.grants``): a presence whose needs they meet is
    # not read again; they say which editing targets this socket is shown.
    grants: frozenset[str] = frozenset()
    # A rate-limited update, applied when the bucket allows.
    pending: Presence | None = None
    timer: asyncio.TimerHandle | None = None
    # The people last sent to this socket (to send nothing when its view did not change).
    shown: list[PersonFrame] | None = None


@dataclass
class Remote:
    people: list[PersonFrame]
    expires: float


def _target_key(target: EditingTarget) -> str:
    return json.dumps(target, sort_keys=True)


def visible_to(person: PersonFrame, grants: frozenset[str]) -> PersonFrame:
    """``person`` as a user with ``grants`` sees them: only the editing targets of the streams
    that user may view."""
    shown = [
        target
        for target in person["editing"]
        if stream_permission(target["stream"], "view") in grants
    ]
    return person if len(shown) == len(person["editing"]) else {**person, "editing": shown}


def merge(people: list[PersonFrame]) -> list[PersonFrame]:
    """One entry per user, sorted by name: the objects any of their tabs edits, idle only when
    every tab is."""
    merged: dict[int, PersonFrame] = {}
    for person in people:
        known = merged.get(person["id"])
        if known is None:
            merged[person["id"]] = {**person, "editing": list(person["editing"])}
            continue
        known["editing"] = known["editing"] + person["editing"]
        known["idle"] = known["idle"] and person["idle"]
    for person in merged.values():
        unique = {_target_key(target): target for target in person["editing"]}
        person["editing"] = [unique[key] for key in sorted(unique)]
    return sorted(merged.values(), key=lambda person: (person["name"], person["id"]))


class Board:
    def __init__(self) -> None:
        self.entries: dict[Session, Entry] = {}
        # Local sockets by page key.
        self.pages: dict[str, set[Session]] = {}
        # Other processes' people by page key and process.
        self.remote: dict[str, dict[str, Remote]] = {}
        self.outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.joined: set[str] = set()
        self.tasks: list[asyncio.Task[None]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.channel: str | None = None
        self.ready = asyncio.Event()

    # What the consumer calls.
    def grants(self, session: "Session") -> frozenset[str]:
        entry = self.entries.get(session)
        return entry.grants if entry is not None else frozenset()

    def update(
        self,
        session: "Session",
        presence: Presence,
        *,
        person: Person,
        grants: frozenset[str],
    ) -> None:
        """Show ``session`` on ``presence.page`` (its user's ``grants`` meet the presence's
        needs), now or, past the socket's rate, once its bucket allows (the newest update
        wins)."""
        assert presence.page is not None
        self._start()
        entry = self.entries.get(session)
        if entry is None:
            entry = Entry(
                person=person,
                presence=Presence(page=None),
                limiter=RateLimiter(
                    rate=settings.REALTIME_PRESENCE_RATE_PER_SECOND,
                    burst=settings.REALTIME_PRESENCE_BURST,
                ),
            )
            self.entries[session] = entry
        entry.grants = grants
        if entry.timer is None and entry.limiter.allow():
            self._apply(session, entry, presence)
            return
        entry.pending = presence
        if entry.timer is None:
            entry.timer = asyncio.get_running_loop().call_later(
                entry.limiter.wait(), self._apply_pending, session
            )

    def leave(self, session: "Session") -> None:
        """``session`` shows no page (any more): it is gone from the others' view at once."""
        entry = self.entries.pop(session, None)
        if entry is None:
            return
        if entry.timer is not None:
            entry.timer.cancel()
        self._place(session, entry.presence.page, None)

    def check(self, session: "Session", grants: frozenset[str]) -> ErrorFrame | None:
        """The user's grants now (the hub's login check): a page the user may no longer open
        is left, a claim to edit what they may no longer change is dropped (the presence
        stays). Returns the ``forbidden`` frame that tells the socket so."""
        entry = self.entries.get(session)
        if entry is None or entry.presence.page is None or grants == entry.grants:
            return None
        entry.grants = grants
        if entry.pending is not None and unmet(entry.pending.needs, grants):
            entry.pending = None  # a rate-limited update checked against the old grants
        presence, page = entry.presence, entry.presence.page
        lost = unmet(page_needs(page), grants)
        if lost:
            self.leave(session)
            return forbidden_presence_frame(page, lost, lost=True)
        target = presence.editing
        lost = [] if target is None else unmet(editing_needs(page, target), grants)
        if target is not None and lost:
            self._apply(session, entry, dataclasses.replace(presence, editing=None))
            return forbidden_editing_frame(page, target, lost, lost=True)
        self.refresh(page)  # the targets this socket may be shown may have changed
        return None

    # Local state.
    def _apply_pending(self, session: "Session") -> None:
        entry = self.entries.get(session)
        if entry is None:
            return
        entry.timer = None
        if entry.pending is not None and entry.limiter.allow():
            presence, entry.pending = entry.pending, None
            self._apply(session, entry, presence)
        elif entry.pending is not None:
            entry.timer = asyncio.get_running_loop().call_later(
                entry.limiter.wait(), self._apply_pending, session
            )

    def _apply(self, session: "Session", entry: Entry, presence: Presence) -> None:
        before = entry.presence.page
        entry.presence = presence
        if before != presence.page:
            entry.shown = None
        self._place(session, before, presence.page)

    def _place(self, session: "Session", before: str | None, after: str | None) -> None:
        """Move ``session`` from page ``before`` to ``after`` (or update it on the same page):
        refresh the local views and announce the pages' people."""
        if before is not None and before != after:
            sessions = self.pages.get(before)
            if sessions is not None:
                sessions.discard(session)
                if not sessions:
                    del self.pages[before]
                    self.remote.pop(before, None)
                    self._send("leave", before)
                else:
                    self.refresh(before)
                    self._send("announce", before)
        if after is not None:
            first = after not in self.pages
            self.pages.setdefault(after, set()).add(session)
            self.refresh(after)
            self._send("join" if first else "announce", after)

    def local_people(self, page: str) -> list[PersonFrame]:
        """This process's users of ``page``, merged per user."""
        people: list[PersonFrame] = []
        for session in self.pages.get(page, ()):
            entry = self.entries[session]
            people.append(
                {
                    "id": entry.person.id,
                    "name": entry.person.name,
                    "initials": entry.person.initials,
                    "editing": [] if entry.presence.editing is None else [entry.presence.editing],
                    "idle": entry.presence.idle,
                }
            )
        return merge(people)

    def people(self, page: str) -> list[PersonFrame]:
        """Everyone on ``page``, on any process whose announcement has not expired."""
        people = self.local_people(page)
        for remote in self.remote.get(page, {}).values():
            people.extend(remote.people)
        return merge(people)

    def refresh(self, page: str) -> None:
        """Send each local socket on ``page`` the others there, when that changed."""
        sessions = self.pages.get(page)
        if not sessions:
            return
        people = self.people(page)
        for session in sessions:
            entry = self.entries[session]
            others = [
                visible_to(person, entry.grants)
                for person in people
                if person["id"] != entry.person.id
            ]
            if others != entry.shown:
                entry.shown = others
                frame: PresenceFrame = {"type": "presence", "page": page, "people": others}
                session.send_presence(frame)

    # Across processes.
    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is loop:
            return
        self._stop()
        self.__init__()
        self.loop = loop
        layer = get_channel_layer()
        if layer is None:
            return
        self.tasks = [
            loop.create_task(self._send_loop(layer), name="realtime-presence-send"),
            loop.create_task(self._receive_loop(layer), name="realtime-presence-receive"),
            loop.create_task(self._tick_loop(), name="realtime-presence-tick"),
        ]

    def _stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks = []

    def _send(self, action: str, page: str) -> None:
        if self.tasks:
            self.outbox.put_nowait((action, page))

    async def _send_loop(self, layer: Any) -> None:
        """Layer work in the order it arose: join a page's group before announcing to it."""
        self.channel = await layer.new_channel()
        self.ready.set()
        try:
            while True:
                action, page = await self.outbox.get()
                try:
                    await self._layer_action(layer, action, page)
                except Exception:
                    logger.exception("Announcing presence failed; the next announcement retries.")
        finally:
            with contextlib.suppress(Exception):
                for page in self.joined:
                    await layer.group_discard(presence_group_for(page), self.channel)

    async def _layer_action(self, layer: Any, action: str, page: str) -> None:
        group = presence_group_for(page)
        if action == "join" and page not in self.joined:
            await layer.group_add(group, self.channel)
            self.joined.add(page)
        if action == "leave":
            self.joined.discard(page)
            await layer.group_discard(group, self.channel)
        await layer.group_send(
            group,
            {
                "type": LAYER_PRESENCE,
                "process": PROCESS_ID,
                "page": page,
                "people": self.local_people(page),
                "ask": action == "join",
            },
        )

    async def _receive_loop(self, layer: Any) -> None:
        await self.ready.wait()
        while True:
            try:
                message = await layer.receive(self.channel)
            except Exception as error:
                # Transient (Redis restarting, or not answering within the layer's read
                # timeout): presence comes back with the next announcements, so no traceback.
                logger.warning("The channel layer failed (%r); presence retries.", error)
                await asyncio.sleep(settings.REALTIME_PRESENCE_ANNOUNCE_SECONDS)
                continue
            if message.get("type") == LAYER_PRESENCE:
                self.hear(message)

    def hear(self, message: dict[str, Any]) -> None:
        """Another process's people of a page (an empty list: none there any more)."""
        process, page = message["process"], message["page"]
        if process == PROCESS_ID or page not in self.pages:
            return
        remotes = self.remote.setdefault(page, {})
        if message["people"]:
            expires = time.monotonic() + settings.REALTIME_PRESENCE_TTL_SECONDS
            remotes[process] = Remote(people=message["people"], expires=expires)
        else:
            remotes.pop(process, None)
        if message.get("ask"):
            self._send("announce", page)
        self.refresh(page)

    async def _tick_loop(self) -> None:
        """Announce every page with local sockets each interval, and forget the announcements
        that expired, each at its time."""
        interval = settings.REALTIME_PRESENCE_ANNOUNCE_SECONDS
        announce_at = time.monotonic() + interval
        while True:
            expiries = [
                remote.expires for remotes in self.remote.values() for remote in remotes.values()
            ]
            wake = min([announce_at, *expiries])
            await asyncio.sleep(max(0.0, wake - time.monotonic()))
            now = time.monotonic()
            if now >= announce_at:
                announce_at = now + interval
                for page in list(self.pages):
                    self._send("announce", page)
            for page, remotes in list(self.remote.items()):
                expired = [process for process, remote in remotes.items() if remote.expires <= now]
                for process in expired:
                    del remotes[process]
                if expired:
                    self.refresh(page)


board = Board()


async def stop() -> None:
    """Stop the board's tasks (tests that close their event loop)."""
    tasks, board.tasks = board.tasks, []
    board.loop = None
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
