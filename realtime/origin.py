"""Which pages may open ``/api/ws``: the rule of Django's CSRF origin check.

The session cookie is ``SameSite=Lax``, so a browser sends it with a handshake from any page of
the same *site*, and another port or scheme of the same host is the same site. Matching only the
Origin's host against ``ALLOWED_HOSTS`` (Channels' ``AllowedHostsOriginValidator``) therefore
let ``http://127.0.0.1:9999`` open an authenticated socket on ``http://127.0.0.1:8000``. Here
the Origin must be the socket's own origin (scheme, host and port), or one of
``CSRF_TRUSTED_ORIGINS`` (``https://*.example.com`` wildcards included), as
``CsrfViewMiddleware`` requires of a form's POST; a refused handshake is answered 403.
"""

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain


class OriginValidator:
    """Let a handshake through only from an allowed origin (``origin_allowed``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if origin_allowed(scope):
            return await self.inner(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def header_values(scope: dict[str, Any], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key == name]


def header(scope: dict[str, Any], name: bytes) -> str | None:
    """A header's value as Django's ``request.META`` has it: repeated ones joined by commas."""
    values = header_values(scope, name)
    return ",".join(values) if values else None


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether the handshake's single ``Origin`` is its own or a trusted one."""
    origins = header_values(scope, b"origin")
    if len(origins) != 1:
        return False
    origin = origins[0]
    if origin == own_origin(scope):
        return True
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in (pattern for pattern in trusted if "*" not in pattern):
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parsed.netloc, allowed.netloc.lstrip("*"))
        for allowed in (urlsplit(pattern) for pattern in trusted if "*" in pattern)
        if allowed.scheme == parsed.scheme
    )


def own_origin(scope: dict[str, Any]) -> str | None:
    """``scheme://host[:port]`` as Django builds it for an HTTP request (``is_secure()`` and
    ``get_host()``); ``None`` when the host is not one of ``ALLOWED_HOSTS``."""
    scheme = "https" if secure(scope) else "http"
    host = raw_host(scope, scheme)
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts):
        return None
    return f"{scheme}://{host}"


def secure(scope: dict[str, Any]) -> bool:
    """As ``HttpRequest.is_secure()``: the proxy's header (``SECURE_PROXY_SSL_HEADER``, set by
    ``BEHIND_TLS_PROXY=1``) when it is configured and present, else the server's scheme."""
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        name = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        if (value := header(scope, name)) is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme", "ws") in {"wss", "https"}


def raw_host(scope: dict[str, Any], scheme: str) -> str:
    """As ``HttpRequest._get_raw_host()``: ``X-Forwarded-Host`` if trusted, else ``Host``, else
    the server's address (its port unless the scheme's default)."""
    if settings.USE_X_FORWARDED_HOST and (forwarded := header(scope, b"x-forwarded-host")):
        return forwarded
    if (host := header(scope, b"host")) is not None:
        return host
    name, port = scope.get("server") or ("unknown", 0)
    return name if str(port) == ("443" if scheme == "https" else "80") else f"{name}:{port}"
