from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .context import (
    VIA_ADMIN,
    VIA_API,
    VIA_DAILY,
    VIA_IMPORT,
    VIA_MSG,
    VIA_PAGE,
    VIA_SCHEDULE,
    VIA_SCRIPT,
)
from .protocol import EventFrame


class EventQuerySet(models.QuerySet["Event"]):
    def latest_id(self) -> int:
        """The id of the newest committed event (0 when the log is empty)."""
        return self.aggregate(latest=Max("id"))["latest"] or 0

    def after(self, event_id: int, streams: list[str]) -> "EventQuerySet":
        return self.filter(id__gt=event_id, stream__in=streams).order_by("id")


# A first and a last name of Django's user, with the space between.
ACTOR_NAME_LENGTH = 301


class Event(models.Model):
    """One change, as sent to clients; ids increase strictly in commit order.

    The log is the source of truth: the channel layer only tells consumers that there is
    something new, and consumers read it from here (see ``realtime.events``).
    """

    id = models.BigAutoField(primary_key=True)
    stream = models.CharField(_("stream"), max_length=32)
    type = models.CharField(_("type"), max_length=64)
    object_id = models.BigIntegerField(_("object id"))
    data = models.JSONField(_("data"), encoder=DjangoJSONEncoder)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_username = models.CharField(_("actor's username"), max_length=150, blank=True)
    # The full name (else the login) at the time: what the pages' notices call the person.
    actor_name = models.CharField(_("actor's name"), max_length=ACTOR_NAME_LENGTH, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    # The event of the change this one follows from (a report, for its task's recalculated
    # volume done); None for a change someone made.
    cause = models.BigIntegerField(_("cause"), null=True, blank=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [models.Index(fields=["stream", "id"], name="event_stream_id")]

    def __str__(self) -> str:
        return f"#{self.id} {self.type} {self.object_id}"

    def to_frame(self) -> EventFrame:
        actor: Any = None
        if self.actor_id is not None:
            actor = {
                "id": self.actor_id,
                "username": self.actor_username,
                "name": self.actor_name or self.actor_username,
            }
        frame: EventFrame = {
            "type": self.type,
            "event": self.stream,
            "id": self.id,
            "data": self.data,
            "actor": actor,
            "ts": self.created_at.isoformat().replace("+00:00", "Z"),
        }
        if self.cause is not None:
            frame["cause"] = self.cause
        return frame


class EventLogState(models.Model):
    """A single row: how far the log has been pruned. A resume from before that needs a resync."""

    pruned_through = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("event log state")

    def __str__(self) -> str:
        return f"pruned through #{self.pruned_through}"

    @classmethod
    def pruned_through_id(cls) -> int:
        state = cls.objects.filter(pk=1).first()
        return state.pruned_through if state else 0


class ChangeQuerySet(models.QuerySet["Change"]):
    def of_object(self, *, stream: str, object_id: int) -> "ChangeQuerySet":
        return self.filter(stream=stream, object_id=object_id)


class Change(models.Model):
    """One change of one object, kept for its history (the event log is pruned; this is not,
    unless ``HISTORY_RETENTION_DAYS`` says so).

    Written by ``realtime.events.publish`` with the change's event, in its transaction: what
    the event log records, the history records, whatever the write path. ``fields`` holds each
    changed field's ``[old, new]`` in the REST representation (the event's ``data``): every
    field ``[null, new]`` when created, ``[old, null]`` when deleted. ``version`` is the
    object's version after the change (the one it had, when deleted): every save bumps it by
    one, so an object's rows from version ``v`` on say what changed since ``v``.

    ``subject`` holds what names the object after the change (before it, when deleted), in the
    REST representation, for the history's sentence: a task's code, name and unit; a daily
    work's task, date and volume; a plan's task, month and volume. ``caused_by`` is the change
    this one follows from — a task's volume done recalculated after a report is the report's
    consequence, not an edit of the task — and None for a change someone made.
    """

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    KINDS = [(CREATED, _("created")), (UPDATED, _("updated")), (DELETED, _("deleted"))]
    VIAS = [
        (VIA_DAILY, _("daily order")),
        (VIA_MSG, pgettext_lazy("way in", "МСГ")),
        (VIA_SCHEDULE, pgettext_lazy("way in", "schedule")),
        (VIA_PAGE, _("page")),
        (VIA_API, _("API")),
        (VIA_ADMIN, _("admin")),
        (VIA_SCRIPT, _("script")),
        (VIA_IMPORT, _("import")),
    ]
    REPR_LENGTH = 200

    id = models.BigAutoField(primary_key=True)
    stream = models.CharField(_("stream"), max_length=32)
    object_id = models.BigIntegerField(_("object id"))
    object_repr = models.CharField(_("object"), max_length=REPR_LENGTH)
    kind = models.CharField(_("kind"), max_length=16, choices=KINDS)
    version = models.PositiveIntegerField(_("version"))
    fields = models.JSONField(_("fields"), encoder=DjangoJSONEncoder)
    subject = models.JSONField(_("subject"), encoder=DjangoJSONEncoder, default=dict)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_username = models.CharField(_("actor's username"), max_length=150, blank=True)
    via = models.CharField(_("via"), max_length=16, choices=VIAS)
    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    event_id = models.BigIntegerField(_("event id"))
    # A plain number, as ``event_id``: retention prunes by time, the cause and its consequences
    # alike (they share their transaction's time).
    caused_by = models.BigIntegerField(_("caused by"), null=True, blank=True)

    objects = ChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = _("change")
        verbose_name_plural = _("changes")
        indexes = [
            models.Index(fields=["stream", "object_id", "version"], name="change_object_version"),
            models.Index(fields=["actor", "at"], name="change_actor_at"),
            # A stream's changes since a time: "since your last visit", the import's plans.
            models.Index(fields=["stream", "at"], name="change_stream_at"),
            # A page of changes with their consequences (few rows have a cause).
            models.Index(
                fields=["caused_by"],
                name="change_caused_by",
                condition=models.Q(caused_by__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stream} #{self.object_id} v{self.version} {self.kind}"


class PageVisit(models.Model):
    """When a user last had a page open (``page``: a key such as ``schedule`` or
    ``daily:2026-03-05``): the rows changed by others since are marked on their next visit."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    page = models.CharField(_("page"), max_length=64)
    seen_at = models.DateTimeField(_("seen"))

    class Meta:
        verbose_name = _("page visit")
        verbose_name_plural = _("page visits")
        constraints = [
            models.UniqueConstraint(fields=["user", "page"], name="page_visit_one_per_user_page")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.page} {self.seen_at.isoformat()}"


class IdempotentRequest(models.Model):
    """An API write sent with an ``Idempotency-Key`` (docs/offline.md): claimed (``running``)
    in a transaction of its own before the write runs, so that a duplicate arriving at any
    process meets the row (the unique key), then ``done`` with the response it answered, which
    a repeat gets back instead of running the write again. Kept ``IDEMPOTENCY_RETENTION_HOURS``.
    """

    RUNNING = "running"
    DONE = "done"
    STATES = [(RUNNING, _("running")), (DONE, _("done"))]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    key = models.CharField(_("key"), max_length=255)
    fingerprint = models.CharField(_("fingerprint"), max_length=64)
    state = models.CharField(_("state"), max_length=16, choices=STATES, default=RUNNING)
    status = models.PositiveSmallIntegerField(_("status"), null=True, blank=True)
    headers = models.JSONField(_("headers"), default=dict)
    body = models.BinaryField(_("body"), default=b"")
    created = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("idempotent request")
        verbose_name_plural = _("idempotent requests")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotent_request_user_key")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.key} {self.state}"
