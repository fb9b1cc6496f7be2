"""What the three apps' REST APIs share: permissions, error mapping and the versioned viewset."""

import copy
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.utils import translation
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from realtime.history import object_changes
from realtime.models import Change

from .idempotency import KEY_PATTERN, IdempotentWritesMixin
from .numbers import NotANumber, not_a_number_message, parse_number
from .versioning import VersionConflict
from .workbooks import XLSX_CONTENT_TYPE


def validation_error_detail(error: DjangoValidationError) -> Any:
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): messages
            for field, messages in error.message_dict.items()
        }
    return {"non_field_errors": error.messages}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map domain errors to HTTP: model validation → 400, stale version → 409."""
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(validation_error_detail(exc))
    elif isinstance(exc, ObjectDoesNotExist):
        exc = NotFound()
    elif isinstance(exc, IntegrityError):
        exc = ValidationError({"non_field_errors": [_("The change breaks a data rule.")]})
    elif isinstance(exc, VersionConflict):
        view = context["view"]
        current = view.get_serializer(exc.current).data
        fields = {
            name: {"base": field.base, "stored": field.stored, "submitted": field.submitted}
            for name, field in exc.fields.items()
        }
        return Response(
            {"detail": str(exc), "code": "version_conflict", "fields": fields, "current": current},
            status=status.HTTP_409_CONFLICT,
            headers={"ETag": etag(exc.current.version)},
        )
    return drf_exception_handler(exc, context)


def etag(version: int) -> str:
    """The strong entity tag of an object's version: ``"3"``."""
    return f'"{version}"'


STRONG_ETAG = re.compile(r'"([1-9][0-9]{0,9})"')


def if_match_version(request: Request) -> int | None:
    """The version an ``If-Match`` header names (``"3"``); None without one or for ``*``.

    If-Match compares strongly (RFC 9110), so a weak tag (``W/"3"``) could never match and is
    refused as malformed rather than silently ignored, as is a list of tags: a write names
    the one version it was based on.
    """
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = STRONG_ETAG.fullmatch(header.strip())
    if match is None:
        raise ValidationError(
            {"If-Match": [_('Send one version as a strong entity tag, e.g. "3".')]}
        )
    return int(match.group(1))


def query_version(request: Request) -> int | None:
    """The version in ``?version=N``, None without one."""
    raw = request.query_params.get("version")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31):
        raise ValidationError({"version": [_("The version is a whole number from 1.")]})
    return int(raw)


def one_version(**given: int | None) -> int | None:
    """The version the client sent in one or more places; places that disagree are an error."""
    versions = {version for version in given.values() if version is not None}
    if len(versions) > 1:
        names = ", ".join(name for name, version in given.items() if version is not None)
        raise ValidationError(
            {"version": [_("The versions sent in %(places)s differ.") % {"places": names}]}
        )
    return versions.pop() if versions else None


class FieldConflictSerializer(serializers.Serializer):
    base = serializers.JSONField(help_text="The value at the version the client sent.")
    stored = serializers.JSONField(help_text="The value stored now, changed by someone else.")
    submitted = serializers.JSONField(help_text="The client's value, not saved.")


class VersionConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    fields = serializers.DictField(
        child=FieldConflictSerializer(),
        help_text=(
            "Each field the update changes that someone else changed too since the sent version, "
            "to another value (docs/history.md, “Merging concurrent edits”). Empty when the "
            "change history does not reach back to that version, and for a delete: any stale "
            "version is then a conflict."
        ),
    )
    current = serializers.DictField()


class ErrorDetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class IdempotencyRefusalSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=["idempotency_in_progress", "idempotency_key_reused"])


class ChangeSerializer(serializers.ModelSerializer):
    """One change of the object in its history (docs/history.md)."""

    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.JSONField(), min_length=2, max_length=2),
        help_text=(
            "Each changed field's [old, new] value, as this API represents it: every field "
            "[null, new] when created, [old, null] when deleted."
        ),
    )

    class Meta:
        model = Change
        fields = [
            "id",
            "kind",
            "version",
            "object_repr",
            "fields",
            "actor",
            "actor_username",
            "via",
            "at",
            "caused_by",
        ]
        extra_kwargs = {
            "via": {
                "help_text": (
                    "Through what: daily (the daily order page), msg (the МСГ), schedule (the "
                    "schedule's task forms), page (another page, or a change recorded before "
                    "the pages were told apart), api, admin, script, import."
                )
            },
            "caused_by": {
                "help_text": (
                    "The id of the change this one follows from (a report, for its task's "
                    "recalculated volume done); null for a change someone made."
                )
            },
        }


def request_language(request: Any) -> str | None:
    """The site language a request's ``Content-Language`` names (``ru``, ``ru-RU``), if any."""
    header = getattr(request, "headers", {}).get("Content-Language", "")
    code = header.split(",")[0].strip().split("-")[0].lower()
    return code if code in dict(settings.LANGUAGES) else None


class TypedDecimalField(serializers.DecimalField):
    """A decimal as DRF reads it (a JSON number, or a string such as ``"190.5"``), or, when the
    request names a site language in ``Content-Language`` (the pages' outbox sends what the
    user typed), a string as that language writes numbers: «190,5», «1 905,5»
    (scheduler_project/numbers.py). Never read as another number than the one written."""

    def to_internal_value(self, data: Any) -> Any:
        language = request_language(self.context.get("request"))
        if language is not None and isinstance(data, str):
            try:
                data = str(parse_number(data, language=language))
            except NotANumber:
                message = not_a_number_message(data, language)
                raise ValidationError(message, code="invalid") from None
        return super().to_internal_value(data)


class VersionedModelSerializer(serializers.ModelSerializer):
    """``version`` is read back always; on update it may be sent to guard against lost updates."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DecimalField: TypedDecimalField,
    }

    version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text=(
            "The version the client last saw; a stale one is merged when the fields sent "
            "changed only on one side, else refused with 409."
        ),
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        """The fields built from the model once per class and language (some messages are
        translated when built) and copied for each serializer: building them cost about a
        millisecond, twice per write (the request's serializer and the event's).

        A plain field is copied shallowly: binding (name, parent, source) sets attributes of
        the copy only, and what the copies share (validators, messages, a queryset, which
        is cloned on use) is read, never changed. A nested serializer holds fields of its own
        and is deep-copied, as DRF copies declared fields."""
        cache = type(self).__dict__.get("_field_prototypes")
        if cache is None:
            cache = {}
            type(self)._field_prototypes = cache
        language = translation.get_language()
        prototypes = cache.get(language)
        if prototypes is None:
            prototypes = cache[language] = super().get_fields()
        return {
            name: copy.deepcopy(field)
            if isinstance(field, serializers.BaseSerializer)
            else copy.copy(field)
            for name, field in prototypes.items()
        }

    def create(self, validated_data: dict[str, Any]) -> Any:
        raise NotImplementedError("Writes go through the viewset's service.")

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        raise NotImplementedError("Writes go through the viewset's service.")


class XlsxRenderer(BaseRenderer):
    """The Excel format in content negotiation (``?format=xlsx`` or ``Accept:``). The views
    that offer it build the file from their objects (``XlsxMixin``), not from serialized data,
    and answer errors in JSON: this renderer never renders anything itself."""

    media_type = XLSX_CONTENT_TYPE
    format = "xlsx"
    charset = None
    render_style = "binary"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        raise NotImplementedError("An xlsx answer is a file response built by the view.")


class XlsxMixin:
    """Offers the Excel file on the list action (or on every GET of a plain API view): the view
    checks ``wants_xlsx()`` and returns the file; errors (400, 401, 403) stay JSON."""

    def get_renderers(self) -> list[BaseRenderer]:
        renderers = super().get_renderers()  # type: ignore[misc]
        if getattr(self, "action", "list") == "list":
            renderers.append(XlsxRenderer())
        return renderers

    def wants_xlsx(self) -> bool:
        return isinstance(getattr(self.request, "accepted_renderer", None), XlsxRenderer)  # type: ignore[attr-defined]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and isinstance(
            getattr(request, "accepted_renderer", None), XlsxRenderer
        ):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


XLSX_FORMAT_PARAMETER = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=["json", "xlsx"],
    description=(
        "`xlsx`: the answer as an Excel file (docs/excel.md), as `Accept: "
        f"{XLSX_CONTENT_TYPE}` asks too; a list is then whole, not paginated."
    ),
)


def xlsx_responses(responses: dict[Any, Any], *, description: str) -> dict[Any, Any]:
    """``responses`` as JSON answers, with the Excel file as the other 200 and the 404 of an
    unknown ``format``."""
    documented = {(code, "application/json"): answer for code, answer in responses.items()}
    documented[(200, XLSX_CONTENT_TYPE)] = OpenApiResponse(
        OpenApiTypes.BINARY, description=description
    )
    documented[(404, "application/json")] = OpenApiResponse(
        ErrorDetailSerializer, description="An unknown format."
    )
    return documented


def with_warnings(serializer_class: type[serializers.ModelSerializer]) -> type:
    """The answer of a write to a resource with plausibility rules: the object and ``warnings``
    (``VersionedModelViewSet.write_warnings``), for the schema only."""

    class Meta(serializer_class.Meta):  # type: ignore[name-defined]
        fields = [*serializer_class.Meta.fields, "warnings"]

    name = serializer_class.__name__.removesuffix("Serializer")
    warnings = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text=(
            "Why the object written looks wrong, though it was accepted (e.g. a volume above "
            "what is left of the work); empty when nothing does."
        ),
    )
    return type(
        f"{name}WrittenSerializer", (serializer_class,), {"Meta": Meta, "warnings": warnings}
    )


def versioned_schema(
    serializer_class: type[serializers.Serializer],
    *,
    xlsx: str | None = None,
    warnings: bool = False,
) -> Any:
    """Document every answer of the CRUD actions, errors included, so clients can rely on them;
    ``xlsx`` describes the list's Excel file when the viewset offers one (``XlsxMixin``);
    ``warnings``: its writes answer ``warnings`` too (``write_warnings``)."""
    written = with_warnings(serializer_class) if warnings else serializer_class
    invalid = OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="Invalid input: each field (or non_field_errors, or detail) with its messages.",
    )
    unauthenticated = OpenApiResponse(
        ErrorDetailSerializer, description="Not logged in (send a session or a Token header)."
    )
    forbidden = OpenApiResponse(ErrorDetailSerializer, description="The role may not do this.")
    not_found = OpenApiResponse(ErrorDetailSerializer, description="No such object.")
    conflict = OpenApiResponse(
        VersionConflictSerializer,
        description=(
            "The object was changed by someone else. An update carrying an older version is "
            "applied, not refused, when none of the fields it changes (those whose value differs "
            "from the one at that version) were changed since; only those fields are written. "
            "Otherwise `fields` names each conflicting field with its base, stored and submitted "
            "value."
        ),
    )
    in_progress = OpenApiResponse(
        IdempotencyRefusalSerializer,
        description=(
            "`idempotency_in_progress`: the first request with this Idempotency-Key is still "
            "running; retry after `Retry-After` seconds to get its answer."
        ),
    )
    versioned_conflict = OpenApiResponse(
        PolymorphicProxySerializer(
            component_name="WriteConflict",
            serializers=[VersionConflictSerializer, IdempotencyRefusalSerializer],
            resource_type_field_name=None,
        ),
        description=f"{conflict.description} Or: {in_progress.description}",
    )
    reused = OpenApiResponse(
        IdempotencyRefusalSerializer,
        description=(
            "`idempotency_key_reused`: this Idempotency-Key was sent before with another "
            "request (method, path, query, If-Match or body); nothing was done."
        ),
    )
    refused = {401: unauthenticated, 403: forbidden}
    update = {
        200: written,
        400: invalid,
        **refused,
        404: not_found,
        409: versioned_conflict,
        422: reused,
    }
    idempotency_key = OpenApiParameter(
        "Idempotency-Key",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description=(
            "Makes the write safe to retry (docs/offline.md): a unique key per operation, e.g. "
            "a UUID made when it was first tried. A repeat of the same request with the key "
            "(per user, within IDEMPOTENCY_RETENTION_HOURS) is answered with the first answer "
            "(2xx or 4xx), header `Idempotent-Replayed: true`, and does nothing again; while the "
            "first still runs: 409 `idempotency_in_progress`; another request with the key: "
            "422 `idempotency_key_reused`. A 5xx is not kept: a retry runs again. Optional."
        ),
        pattern=KEY_PATTERN,
    )
    replayed_header = OpenApiParameter(
        "Idempotent-Replayed",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        enum=["true"],
        description="Present on the stored answer to a repeated Idempotency-Key.",
        response=[200, 201, 204, 400, 404, 409],
    )
    retry_after_header = OpenApiParameter(
        "Retry-After",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        description="On 409 `idempotency_in_progress`: seconds to wait before retrying.",
        response=[409],
    )
    idempotent = [idempotency_key, replayed_header, retry_after_header]
    if_match = OpenApiParameter(
        "If-Match",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description=(
            'The version the client last saw as a strong entity tag ("3", the ETag of a read); '
            "on an update a stale one is merged when the fields sent changed only on one side, "
            "else refused with 409 and the current object. Optional; `*` matches any. "
            "On an update it may stand instead of the body's `version` or `?version=`; all "
            "those sent must then agree."
        ),
        pattern=r'^(\*|"[1-9][0-9]{0,9}")$',
    )
    version = OpenApiParameter(
        "version",
        {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        OpenApiParameter.QUERY,
        description=(
            "The version the client last saw; a stale one is refused with 409 and the current "
            "object. Optional; If-Match says the same as a header."
        ),
    )
    update_version = OpenApiParameter(
        "version",
        {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        OpenApiParameter.QUERY,
        description=(
            "The version the client last saw, as If-Match or the body's `version` say it (all "
            "those sent must agree); a stale one is merged as theirs are. Optional."
        ),
    )
    etag_header = OpenApiParameter(
        "ETag",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description='The object\'s version as a strong entity tag ("3"), for If-Match.',
        response=[200, 201, 409],
    )
    list_responses: dict[Any, Any] = {200: serializer_class, 400: invalid, **refused}
    list_parameters = []
    if xlsx is not None:
        list_responses = xlsx_responses(list_responses, description=xlsx)
        list_parameters = [XLSX_FORMAT_PARAMETER]
    return extend_schema_view(
        list=extend_schema(parameters=list_parameters, responses=list_responses),
        create=extend_schema(
            parameters=[etag_header, *idempotent],
            responses={
                201: written,
                400: invalid,
                **refused,
                409: in_progress,
                422: reused,
            },
        ),
        retrieve=extend_schema(
            parameters=[etag_header],
            responses={200: serializer_class, **refused, 404: not_found},
        ),
        update=extend_schema(
            parameters=[if_match, update_version, etag_header, *idempotent], responses=update
        ),
        partial_update=extend_schema(
            parameters=[if_match, update_version, etag_header, *idempotent], responses=update
        ),
        destroy=extend_schema(
            parameters=[if_match, version, etag_header, *idempotent],
            responses={
                204: None,
                400: invalid,
                **refused,
                404: not_found,
                409: versioned_conflict,
                422: reused,
            },
        ),
        history=extend_schema(
            summary="The object's history of changes, newest first",
            description=(
                "Who changed the object, when, through what (`via`: page, api, admin, script, "
                "import) and each field from what to what. A deleted object's history stays "
                "readable: its last change is the deletion."
            ),
            responses={
                200: ChangeSerializer(many=True),
                **refused,
                404: OpenApiResponse(
                    ErrorDetailSerializer, description="No such object, nor any history of it."
                ),
            },
        ),
    )


class Pagination(LimitOffsetPagination):
    """Limit/offset pages with a capped ``limit``.

    Uncapped, a huge ``limit`` reached the database as a LIMIT it cannot hold (a database error)
    and a merely large one loaded that many rows at once.
    """

    max_limit = 1000


class VersionedModelViewSet(IdempotentWritesMixin, viewsets.ModelViewSet):
    """CRUD that writes only through the app's services.

    Subclasses name the services; the viewset parses, calls one service and serializes.

    An update or a delete runs in one transaction that reads the object locked
    (``select_for_update``, its own row only) and hands it to the service as such
    (``locked=True``): the row is read once, not once unlocked for the serializer and again
    locked by the service, and the write needs no savepoint.
    """

    LOCKING_ACTIONS = frozenset({"update", "partial_update", "destroy"})

    pagination_class = Pagination
    create_service: Any
    update_service: Any
    delete_service: Any
    service_object_name: str

    def get_queryset(self) -> Any:
        queryset = super().get_queryset()
        if self.action in self.LOCKING_ACTIONS:
            queryset = queryset.select_for_update(of=("self",))
        return queryset

    def filter_queryset(self, queryset: Any) -> Any:
        """Filters narrow the list; a detail URL names its object, whatever the query string
        (and skipping the filter set saves building it on every write)."""
        if self.action != "list":
            return queryset
        return super().filter_queryset(queryset)

    @action(detail=True, methods=["get"], filterset_class=None)
    def history(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The object's changes, newest first, paginated; a deleted object's too (so it is not
        looked up: its changes are). The view permission of the resource is required."""
        # Imported here: realtime.signals serializes with the apps' API modules.
        from realtime.signals import PUBLISHED

        stream = PUBLISHED[self.get_queryset().model][0]
        try:
            object_id = int(kwargs[self.lookup_url_kwarg or self.lookup_field])
        except ValueError:
            raise NotFound() from None
        changes = object_changes(stream=stream, object_id=object_id)
        page = self.paginate_queryset(changes)
        if not page and not self.get_queryset().filter(pk=object_id).exists():
            raise NotFound()
        return self.get_paginated_response(ChangeSerializer(page, many=True).data)

    def perform_create(self, serializer: serializers.ModelSerializer) -> None:
        data = dict(serializer.validated_data)
        data.pop("version", None)
        serializer.instance = self.written = type(self).create_service(
            data=data, actor=self.request.user
        )

    def write_warnings(self, instance: Any, *, replacing: Any = None) -> list[str] | None:
        """Why a written (or, from ``check``, proposed) object looks wrong though it is
        accepted (docs/msg.md, "Plausibility"); None: the resource has no such rules and its
        answers no ``warnings``. ``replacing`` is the stored object an update changes."""
        return None

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().create(request, *args, **kwargs)
        return self._with_warnings(response)

    def _with_warnings(self, response: Response) -> Response:
        """The write's answer with its ``warnings`` (the serializer's data stays the event's)."""
        written = getattr(self, "written", None)
        if written is not None and isinstance(response.data, dict):
            warnings = self.write_warnings(written, replacing=getattr(self, "replaced", None))
            if warnings is not None:
                response.data = {**response.data, "warnings": warnings}
        return response

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        """An object answer carries its version as ``ETag``, for a later If-Match."""
        response = super().finalize_response(request, response, *args, **kwargs)
        data = getattr(response, "data", None)
        if (
            self.action in {"retrieve", "create", "update", "partial_update"}
            and status.is_success(response.status_code)
            and isinstance(data, dict)
            and isinstance(data.get("version"), int)
        ):
            response["ETag"] = etag(data["version"])
        return response

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # A malformed If-Match or ?version= is refused before anything else is looked at; the
        # body's version joins them once the body is validated (perform_update).
        self.sent_versions = {
            "If-Match": if_match_version(request),
            "?version": query_version(request),
        }
        with transaction.atomic():
            return self._with_warnings(super().update(request, *args, **kwargs))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.delete_version = one_version(
            **{"If-Match": if_match_version(request), "version": query_version(request)}
        )
        with transaction.atomic():
            return super().destroy(request, *args, **kwargs)

    def perform_update(self, serializer: serializers.ModelSerializer) -> None:
        data = dict(serializer.validated_data)
        version = one_version(**self.sent_versions, version=data.pop("version", None))
        self.replaced = copy.copy(serializer.instance)
        serializer.instance = self.written = type(self).update_service(
            **{self.service_object_name: serializer.instance},
            data=data,
            version=version,
            actor=self.request.user,
            locked=True,
        )

    def perform_destroy(self, instance: Any) -> None:
        type(self).delete_service(
            **{self.service_object_name: instance},
            version=self.delete_version,
            actor=self.request.user,
            locked=True,
        )
