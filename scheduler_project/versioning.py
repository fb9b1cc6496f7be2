"""Optimistic concurrency shared by the three versioned models.

Every versioned model bumps ``version`` in ``save()``, so every write path (services, admin, bare
ORM) moves it on. Services lock the row, compare the version the client last saw, and only then
apply the change; a stale version raises ``VersionConflict``, which the interfaces turn into 409.
"""

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction
from django.db.models import F
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from realtime.context import acting_as

ModelT = TypeVar("ModelT", bound="VersionedModel")


class VersionConflict(Exception):
    """The client's copy is older than the stored one; ``current`` is the stored object."""

    def __init__(self, current: models.Model) -> None:
        super().__init__(
            capfirst(
                _("%(object)s was changed by someone else.")
                % {"object": current._meta.verbose_name}
            )
        )
        self.current = current


class VersionedQuerySet[ModelT: "VersionedModel"](models.QuerySet[ModelT]):
    """Bulk writes behave like saves: versions move on and each row is published once.

    ``update``, ``bulk_create`` and ``bulk_update`` send no ``post_save``, so they publish
    through ``realtime.signals.publish_saved`` themselves (STYLE rule 8). They do not send
    ``post_save`` by hand: a receiver would take rows that were never saved one by one for
    saves (no ``save()`` ran, ``update_fields`` unknown). ``delete`` needs nothing: Django
    sends ``post_delete`` per row whenever a receiver is connected.
    """

    def _publish_saved(self, objs: Iterable[ModelT], *, created: bool) -> None:
        # Imported here: realtime.signals serializes with the apps' API modules, which import
        # the models built on this module.
        from realtime.signals import publish_saved

        for obj in objs:
            publish_saved(obj, created=created)

    def update(self, **kwargs: Any) -> int:
        with transaction.atomic(using=self.db):
            # Exactly the rows read (and locked) here are updated and published: a matching row
            # committed in between by another transaction is neither.
            pks = list(self.select_for_update().values_list("pk", flat=True))
            kwargs.setdefault("version", F("version") + 1)
            rows = self.model._default_manager.using(self.db).filter(pk__in=pks)
            count = super(VersionedQuerySet, rows).update(**kwargs)
            changed = rows.order_by("pk")
            self._publish_saved(changed, created=False)
        return count

    def bulk_create(self, objs: Iterable[ModelT], *args: Any, **kwargs: Any) -> list[ModelT]:
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            self._publish_saved(created, created=True)
        return created

    def bulk_update(
        self, objs: Iterable[ModelT], fields: Iterable[str], *args: Any, **kwargs: Any
    ) -> int:
        objs = list(objs)
        for obj in objs:
            obj.version += 1
        # Django implements bulk_update with update() on this queryset class, which publishes.
        return super().bulk_update(objs, [*fields, "version"], *args, **kwargs)


class VersionedModel(models.Model):
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            self.version += 1
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "version", *self._auto_now_fields()}
        super().save(*args, **kwargs)

    def _auto_now_fields(self) -> list[str]:
        return [f.name for f in self._meta.concrete_fields if getattr(f, "auto_now", False)]


def versioned_create[ModelT: "VersionedModel"](
    *, model: type[ModelT], data: Mapping[str, Any], actor: AbstractBaseUser | None = None
) -> ModelT:
    """Validate with the model's own rules and insert."""
    with acting_as(actor), transaction.atomic():
        instance = model(**data)
        instance.full_clean()
        instance.save()
    return instance


def versioned_update[ModelT: "VersionedModel"](
    *,
    instance: ModelT,
    data: Mapping[str, Any],
    version: int | None,
    actor: AbstractBaseUser | None = None,
) -> ModelT:
    """Apply ``data`` to the locked row if ``version`` (when given) is still the stored one."""
    with acting_as(actor), transaction.atomic():
        locked = type(instance)._default_manager.select_for_update().get(pk=instance.pk)
        if version is not None and version != locked.version:
            raise VersionConflict(locked)
        for name, value in data.items():
            setattr(locked, name, value)
        locked.full_clean(exclude=unaffected_fields(type(locked), data))
        locked.save()
    return locked


def unaffected_fields(model: type[models.Model], changed: Iterable[str]) -> set[str]:
    """The fields whose rules an update of ``changed`` cannot break, for ``full_clean(exclude=)``.

    The stored row met every rule, and the database enforces its constraints anyway; checking
    a unique or check constraint again costs a query each. A field stays checked when it is
    changed or shares a constraint with a changed field (moving a monthly plan to another task
    must still meet the one-plan-per-task-and-month rule). ``clean()`` always runs.
    """
    checked = set(changed)
    groups = [set(fields) for fields in model._meta.unique_together]
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.fields:
            fields = set(constraint.fields)
            if constraint.condition is not None:
                fields |= constraint.condition.referenced_base_fields
            groups.append(fields)
        elif isinstance(constraint, models.CheckConstraint):
            groups.append(constraint.condition.referenced_base_fields)
        else:
            return set()  # a constraint on expressions: check everything
    for fields in groups:
        if fields & checked:
            checked |= fields
    return {field.name for field in model._meta.concrete_fields} - checked


def versioned_delete(
    *, instance: models.Model, version: int | None, actor: AbstractBaseUser | None = None
) -> None:
    """Delete the locked row if ``version`` (when given) is still the stored one."""
    with acting_as(actor), transaction.atomic():
        locked = type(instance)._default_manager.select_for_update().get(pk=instance.pk)
        if version is not None and version != locked.version:
            raise VersionConflict(locked)
        locked.delete()
