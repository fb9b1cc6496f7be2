"""Optimistic concurrency shared by the three versioned models.

Every versioned model bumps ``version`` in ``save()``, so every write path (services, admin, bare
ORM) moves it on. Services lock the row, compare the version the client last saw, and only then
apply the change. A stale version is merged when it can be (``merge_stale``: the fields the
client changed were not changed since its version, as the change history tells); otherwise it
raises ``VersionConflict``, which the interfaces turn into 409 naming the conflicting fields.
"""

import copy
import datetime
import operator
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, router, transaction
from django.db.models import F, Q
from django.db.models.base import DEFERRED
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from realtime.context import acting_as

ModelT = TypeVar("ModelT", bound="VersionedModel")


@dataclass(frozen=True)
class FieldConflict:
    """One field changed both by the client and by someone else since the client's version, to
    different values; each value in the field's REST representation (the serializer's output)."""

    base: Any  # at the client's version
    stored: Any  # now
    submitted: Any  # the client's


class VersionConflict(Exception):
    """The client's copy is older than the stored one; ``current`` is the stored object.

    ``fields`` names each field changed on both sides since the client's version, and
    ``changed`` every field the write changes (in conflict or not). Both are empty when the
    change history does not reach back to that version (or for a delete), and then the whole
    write is the conflict."""

    def __init__(
        self,
        current: models.Model,
        fields: Mapping[str, FieldConflict] | None = None,
        *,
        changed: Iterable[str] = (),
    ) -> None:
        super().__init__(
            capfirst(
                _("%(object)s was changed by someone else.")
                % {"object": current._meta.verbose_name}
            )
        )
        self.current = current
        self.fields: dict[str, FieldConflict] = dict(fields or {})
        self.changed: list[str] = list(changed)


class VersionedQuerySet[ModelT: "VersionedModel"](models.QuerySet[ModelT]):
    """Bulk writes behave like saves: versions move on and each row is published once.

    ``update``, ``bulk_create`` and ``bulk_update`` send no ``post_save``, so they publish
    through ``realtime.signals.publish_saved`` themselves (a write that sends no signal
    publishes beside it). They do not send
    ``post_save`` by hand: a receiver would take rows that were never saved one by one for
    saves (no ``save()`` ran, ``update_fields`` unknown). ``delete`` needs nothing: Django
    sends ``post_delete`` per row whenever a receiver is connected.
    """

    def _publish_saved(
        self,
        objs: Iterable[ModelT],
        *,
        created: bool,
        stored: Mapping[Any, tuple[Any, ...]] | None = None,
    ) -> None:
        # Imported here: realtime.signals serializes with the apps' API modules, which import
        # the models built on this module.
        from realtime.signals import publish_saved

        for obj in objs:
            if stored is not None:
                obj._stored_values = stored[obj.pk]
            publish_saved(obj, created=created)
            obj.keep_stored_values()

    def update(self, **kwargs: Any) -> int:
        with transaction.atomic(using=self.db):
            # Exactly the rows read (and locked) here are updated and published: a matching row
            # committed in between by another transaction is neither. They are read whole,
            # in the same query, for their history's old values.
            locked = self.select_related(None).defer(None).select_for_update()
            stored = {obj.pk: obj._stored_values for obj in locked}
            kwargs.setdefault("version", F("version") + 1)
            rows = self.model._default_manager.using(self.db).filter(pk__in=list(stored))
            count = super(VersionedQuerySet, rows).update(**kwargs)
            changed = rows.order_by("pk")
            self._publish_saved(changed, created=False, stored=stored)
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
        count = super().bulk_update(objs, [*fields, "version"], *args, **kwargs)
        for obj in objs:
            obj.keep_stored_values()
        return count


class VersionedModel(models.Model):
    """A row whose every save bumps ``version`` and which remembers the values it was loaded
    with (``_stored_values``, one per concrete field, ``DEFERRED`` when not loaded): the
    history's old values of a save, without reading the row again (``realtime.signals``)."""

    version = models.PositiveIntegerField(default=1, editable=False)

    _stored_values: tuple[Any, ...] | None = None

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            if self._stored_values is None:
                # Not loaded from the database (built by hand, say): read what it replaces.
                stored = type(self)._base_manager.filter(pk=self.pk).first()
                if stored is not None:
                    self._stored_values = stored._stored_values
            self.version += 1
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "version", *self._auto_now_fields()}
        super().save(*args, **kwargs)
        self.keep_stored_values()

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any, **kwargs: Any) -> Any:
        instance = super().from_db(db, field_names, values, **kwargs)
        if len(values) == len(cls._meta.concrete_fields):
            instance._stored_values = tuple(values)
        else:
            instance.keep_stored_values()
        return instance

    def keep_stored_values(self) -> None:
        """Remember the instance's current values as the stored ones (after it was written)."""
        self._stored_values = tuple(
            self.__dict__.get(field.attname, DEFERRED) for field in self._meta.concrete_fields
        )

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        """Django's ``refresh_from_db``; the refreshed fields' values are the stored ones now
        (a deferred field loaded on access comes through here too)."""
        super().refresh_from_db(*args, **kwargs)
        fields = kwargs.get("fields", args[1] if len(args) > 1 else None)
        if fields is None or self._stored_values is None:
            self.keep_stored_values()
            return
        refreshed = {self._meta.get_field(name).attname for name in fields}
        self._stored_values = tuple(
            self.__dict__.get(field.attname, DEFERRED) if field.attname in refreshed else old
            for field, old in zip(self._meta.concrete_fields, self._stored_values, strict=True)
        )

    def _auto_now_fields(self) -> list[str]:
        return [f.name for f in self._meta.concrete_fields if getattr(f, "auto_now", False)]

    def validate_constraints(self, exclude: Iterable[str] | None = None) -> None:
        """Django's ``validate_constraints``, with the check constraints that compare this row's
        own fields with values or each other evaluated in Python (``check_in_python``): Django
        asks the database for each one, a query and a savepoint per rule on every write. The
        others (unique constraints, transforms such as ``month__day``) still go to it."""
        exclude = set(exclude or ())
        using = router.db_for_write(type(self), instance=self)
        errors: dict[str, Any] = {}
        for model_class, constraints in self.get_constraints():
            for constraint in constraints:
                try:
                    if not check_in_python(constraint, self, exclude=exclude):
                        constraint.validate(model_class, self, exclude=exclude, using=using)
                except ValidationError as error:
                    if getattr(error, "code", None) == "unique" and len(constraint.fields) == 1:
                        errors.setdefault(constraint.fields[0], []).append(error)
                    else:
                        errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)


class NotInPython(Exception):
    """A condition ``check_in_python`` cannot evaluate exactly as the database would."""


COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "exact": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def check_in_python(constraint: Any, instance: models.Model, *, exclude: set[str]) -> bool:
    """Validate a ``CheckConstraint`` without the database if its condition allows: ``True``
    when checked (``ValidationError`` if broken), ``False`` when the caller must ask the
    database (``constraint.validate``).

    Evaluated: ``Q`` trees (and, or, not) of ``field``, ``field__exact|gt|gte|lt|lte`` against
    a value or ``F("other_field")``, and ``field__isnull``, on concrete non-relational fields
    holding whole numbers, decimals, dates, booleans (exact only) or strings (exact only: the
    database's collation decides their order). Anything else is the database's. As in SQL, a
    comparison with NULL is unknown, and a constraint that evaluates to unknown holds.
    """
    if not isinstance(constraint, models.CheckConstraint):
        return False
    condition = constraint.condition
    if not isinstance(condition, Q):
        return False
    if exclude and condition.referenced_base_fields & exclude:
        return True  # Django skips a rule on a field left out of validation, as here
    try:
        holds = _evaluate(condition, instance)
    except NotInPython:
        return False
    if holds is False:
        raise ValidationError(
            constraint.get_violation_error_message(), code=constraint.violation_error_code
        )
    return True


def _evaluate(condition: Q, instance: models.Model) -> bool | None:
    """The condition's SQL truth value on ``instance``: True, False or None (unknown)."""
    values = []
    for child in condition.children:
        if isinstance(child, Q):
            values.append(_evaluate(child, instance))
        elif isinstance(child, tuple) and len(child) == 2:
            values.append(_compare(*child, instance))
        else:
            raise NotInPython(child)  # an expression, such as Exists() or a Lookup

    if condition.connector == Q.AND:
        result = False if False in values else None if None in values else True
    elif condition.connector == Q.OR:
        result = True if True in values else None if None in values else False
    else:
        raise NotInPython(condition.connector)
    if condition.negated and result is not None:
        result = not result
    return result


def _compare(lookup: str, expected: Any, instance: models.Model) -> bool | None:
    name, _, kind = lookup.partition("__")
    actual = _field_value(instance, name)
    if kind == "isnull":
        if not isinstance(expected, bool):
            raise NotInPython(lookup)
        return (actual is None) == expected
    compare = COMPARISONS.get(kind or "exact")
    if compare is None:
        raise NotInPython(lookup)
    if isinstance(expected, F):
        expected = _field_value(instance, expected.name)
    elif hasattr(expected, "resolve_expression"):
        raise NotInPython(lookup)
    elif expected is None:
        if compare is not operator.eq:
            raise NotInPython(lookup)
        return actual is None  # Django turns field=None into IS NULL
    if actual is None or expected is None:
        return None
    if not _comparable(actual, expected, ordered=compare is not operator.eq):
        raise NotInPython(lookup)
    return compare(actual, expected)


def _field_value(instance: models.Model, name: str) -> Any:
    try:
        field = instance._meta.get_field(name)
    except FieldDoesNotExist:
        raise NotInPython(name) from None
    if not field.concrete or field.is_relation:
        raise NotInPython(name)
    value = getattr(instance, field.attname)
    if hasattr(value, "resolve_expression"):
        raise NotInPython(name)  # an F() or a database default, known only to the database
    return value


NUMBERS = (int, Decimal)


def _comparable(actual: Any, expected: Any, *, ordered: bool) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return not ordered and type(actual) is type(expected)
    if isinstance(actual, NUMBERS) and isinstance(expected, NUMBERS):
        return True
    if type(actual) is datetime.date and type(expected) is datetime.date:
        return True
    return not ordered and type(actual) is str and type(expected) is str


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
    locked: bool = False,
) -> ModelT:
    """Apply ``data`` to the locked row if ``version`` (when given) is still the stored one.

    ``locked``: the caller read ``instance`` with ``select_for_update()`` in the transaction it
    is still in (the REST API does), so ``instance`` is the stored row and stays so until that
    transaction ends: it is neither read again nor wrapped in a savepoint of its own (a failure
    here fails the caller's transaction, which the caller rolls back)."""
    with acting_as(actor), _write_transaction(locked):
        if not locked:
            instance = type(instance)._default_manager.select_for_update().get(pk=instance.pk)
        if version is not None and version != instance.version:
            data = merge_stale(instance=instance, data=data, version=version)
        for name, value in data.items():
            setattr(instance, name, value)
        instance.full_clean(exclude=unaffected_fields(type(instance), data))
        instance.save()
    return instance


def merge_stale(
    *, instance: VersionedModel, data: Mapping[str, Any], version: int
) -> dict[str, Any]:
    """What of ``data``, sent by a client that saw ``version`` of the locked ``instance``, is
    written now: the fields it changes (whose value differs from the one at ``version``).

    Raises ``VersionConflict`` when one of those was changed since, to another value than the
    client's, naming each such field, or when the history does not reach back to ``version``
    (the whole write is then the conflict, as without a history). Values are compared in the
    REST representation, the one the history keeps.
    """
    # Imported here: realtime's modules serialize with the apps' API modules, which import the
    # models built on this module.
    from realtime.history import object_values_at
    from realtime.signals import PUBLISHED, representer

    stream, serializer_class, _deleted = PUBLISHED[type(instance)]
    serializer = representer(serializer_class)
    stored = dict(serializer.to_representation(instance))
    base = object_values_at(
        stream=stream,
        object_id=instance.pk,
        version=version,
        current=stored,
        current_version=instance.version,
    )
    if base is None:
        raise VersionConflict(instance)
    entered = copy.copy(instance)
    for name, value in data.items():
        setattr(entered, name, value)
    submitted = dict(serializer.to_representation(entered))
    changed, conflicts = merge_fields(names=data, base=base, stored=stored, submitted=submitted)
    if changed is None:
        raise VersionConflict(instance)
    if conflicts:
        raise VersionConflict(instance, conflicts, changed=changed)
    return {name: data[name] for name in changed}


def merge_fields(
    *,
    names: Iterable[str],
    base: Mapping[str, Any],
    stored: Mapping[str, Any],
    submitted: Mapping[str, Any],
) -> tuple[list[str] | None, dict[str, FieldConflict]]:
    """The three-way merge of the fields ``names`` a stale write sends: the ones it changes
    (submitted differs from base) and, of those, the ones in conflict (changed since the base
    to another value than the submitted one). ``None`` instead of the changes when a field is
    missing from a representation: the merge cannot tell, so the write conflicts as a whole."""
    changed: list[str] = []
    conflicts: dict[str, FieldConflict] = {}
    for name in names:
        if name not in base or name not in stored or name not in submitted:
            return None, {}
        if submitted[name] == base[name]:
            continue  # the client left it alone: it keeps its stored (maybe newer) value
        changed.append(name)
        if stored[name] != base[name] and stored[name] != submitted[name]:
            conflicts[name] = FieldConflict(
                base=base[name], stored=stored[name], submitted=submitted[name]
            )
    return changed, conflicts


def _write_transaction(locked: bool) -> AbstractContextManager[Any]:
    if not locked:
        return transaction.atomic()
    if not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError(
            "locked=True needs the transaction in which the row was locked."
        )
    return nullcontext()


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
    *,
    instance: models.Model,
    version: int | None,
    actor: AbstractBaseUser | None = None,
    locked: bool = False,
) -> None:
    """Delete the locked row if ``version`` (when given) is still the stored one; ``locked`` as
    for ``versioned_update``."""
    with acting_as(actor), _write_transaction(locked):
        if not locked:
            instance = type(instance)._default_manager.select_for_update().get(pk=instance.pk)
        if version is not None and version != instance.version:
            raise VersionConflict(instance)
        instance.delete()
