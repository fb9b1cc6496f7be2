from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .protocol import EventFrame


class EventQuerySet(models.QuerySet["Event"]):
    def latest_id(self) -> int:
        """The id of the newest committed event (0 when the log is empty)."""
        return self.aggregate(latest=Max("id"))["latest"] or 0

    def after(self, event_id: int, streams: list[str]) -> "EventQuerySet":
        return self.filter(id__gt=event_id, stream__in=streams).order_by("id")


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
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

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
            actor = {"id": self.actor_id, "username": self.actor_username}
        return {
            "type": self.type,
            "event": self.stream,
            "id": self.id,
            "data": self.data,
            "actor": actor,
            "ts": self.created_at.isoformat().replace("+00:00", "Z"),
        }


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
