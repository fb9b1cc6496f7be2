"""``Idempotency-Key`` on the API's writes (docs/offline.md): a repeat is answered, not run again.

A mixin on the API's views rather than a middleware: DRF authenticates token users inside the
view, so only there is the key's user known, and an anonymous or forbidden request is refused
by DRF before any key is looked at, as without one. ``VersionedModelViewSet`` carries it, so
every write under ``/api/`` does (``test_every_api_write_takes_an_idempotency_key``).

The key is claimed in a transaction of its own (``realtime.services.idempotent_request_claim``);
the write then runs in one transaction with the storing of its response: a process that dies
in between leaves neither the write nor a response, only a claim that a later repeat takes
over. A 5xx or an exception rolls the write back and gives the key back.
"""

import hashlib
import re
from contextlib import ExitStack
from typing import Any

from django.db import transaction
from django.http import HttpResponse, HttpResponseBase
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from realtime.models import IdempotentRequest
from realtime.services import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    idempotent_request_claim,
    idempotent_request_complete,
    idempotent_request_release,
)

HEADER = "Idempotency-Key"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
"""1 to 255 visible ASCII characters (the OpenAPI schema states it too)."""
KEY = re.compile(KEY_PATTERN)
STORED_HEADERS = ("Content-Type", "ETag", "Location")
RETRY_AFTER_SECONDS = 1


class Replay(Exception):
    """Raised before the handler runs, to answer with the stored response instead."""

    def __init__(self, row: IdempotentRequest) -> None:
        self.row = row


def request_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key``; None without one. A malformed one is refused (400)."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if KEY.fullmatch(key) is None:
        raise ValidationError(
            {HEADER: [_("Send a key of 1 to 255 visible ASCII characters, e.g. a UUID.")]}
        )
    return key


def fingerprint(request: Request) -> str:
    """What makes two requests with one key the same request: method, path with query, the
    ``If-Match`` version the write is based on, and the body."""
    parts = [
        request.method or "",
        request.get_full_path(),
        request.headers.get("If-Match", ""),
        hashlib.sha256(request._request.body).hexdigest(),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def replay_response(row: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(bytes(row.body), status=row.status)
    for name, value in row.headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def refusal(code: str, detail: str, status_code: int, **headers: str) -> Response:
    return Response({"detail": detail, "code": code}, status=status_code, headers=headers)


def in_progress() -> Response:
    return refusal(
        "idempotency_in_progress",
        _("A request with this Idempotency-Key is still running: retry in a moment."),
        status.HTTP_409_CONFLICT,
        **{"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class IdempotentWritesMixin:
    """Answers a write's repeat (same user and ``Idempotency-Key``) with its first response."""

    idempotency_claim: IdempotentRequest | None = None

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.idempotency_claim = None
        self.idempotency_scope = ExitStack()
        release = False
        if request.method in WRITE_METHODS and HEADER in request.headers:
            # Read (and kept) before DRF parses it from the stream: the fingerprint needs it.
            request.body  # noqa: B018
        try:
            with self.idempotency_scope:
                response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
                if self.idempotency_claim is not None:
                    response, release = self.idempotency_store(response)
        except BaseException:
            if self.idempotency_claim is not None:
                idempotent_request_release(claim=self.idempotency_claim)
            raise
        if release:
            idempotent_request_release(claim=self.idempotency_claim)
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """After authentication and permissions: claim the key, or answer from its row."""
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if request.method not in WRITE_METHODS:
            return
        key = request_key(request)
        if key is None or not request.user or not request.user.is_authenticated:
            return
        row, claimed = idempotent_request_claim(
            user=request.user, key=key, fingerprint=fingerprint(request)
        )
        if not claimed:
            raise Replay(row)
        self.idempotency_claim = row
        self.idempotency_scope.enter_context(transaction.atomic())

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, Replay):
            return replay_response(exc.row)
        if isinstance(exc, IdempotencyInProgress):
            return in_progress()
        if isinstance(exc, IdempotencyKeyReused):
            return refusal(
                "idempotency_key_reused",
                _("This Idempotency-Key was sent before with a different request."),
                status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        return super().handle_exception(exc)  # type: ignore[misc]

    def idempotency_store(self, response: HttpResponseBase) -> tuple[HttpResponseBase, bool]:
        """Store the claimed request's response in the write's transaction (2xx, 4xx); a 5xx
        rolls the write back and has the key released. Returns the answer and whether to
        release."""
        claim = self.idempotency_claim
        assert claim is not None
        if hasattr(response, "render"):
            response.render()
        if response.status_code >= 500 or response.streaming:
            transaction.set_rollback(True)
            return response, True
        headers = {name: response[name] for name in STORED_HEADERS if response.has_header(name)}
        stored = idempotent_request_complete(
            claim=claim, status=response.status_code, headers=headers, body=response.content
        )
        if stored:
            return response, False
        # Taken over by a repeat that found the claim stale: its write is the one that counts.
        transaction.set_rollback(True)
        self.idempotency_claim = None
        return self.finalize_response(self.request, in_progress()), False  # type: ignore[attr-defined]
