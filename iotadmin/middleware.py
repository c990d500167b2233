"""Request ids and client addresses: one per request, on the request, in logs and audit events.

Behind a reverse proxy (DJANGO_TRUSTED_PROXIES), the client's address comes from the proxy's
X-Forwarded-For and the request id may come from its X-Request-ID; from anyone else both
headers are ignored, so a client cannot forge the address or id the audit trail records.
"""

import contextvars
import ipaddress
import logging
import re
import uuid
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.middleware.common import CommonMiddleware
from django.utils.http import escape_leading_slashes

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_request_id", default="-"
)
current_client_ip: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_client_ip", default=""
)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PUSH_PATH_PREFIX = "/platform/push/"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _is_trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_address(*, peer: str, forwarded_for: str) -> str:
    """The client's address: the peer, or behind trusted proxies the last untrusted hop."""
    if not _is_trusted(peer) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain: keep the address we know
        if not _is_trusted(hop):
            return hop
    return hops[0] if hops else peer


class RequestIdMiddleware:
    """Take X-Request-ID from a trusted proxy when well-formed, else make one.

    Also resolves the client address (REMOTE_ADDR is rewritten, so the audit trail, the login
    throttle and the views all see the same one; the peer stays in IOTADMIN_PEER_ADDR).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        peer = request.META.get("REMOTE_ADDR", "")
        from_proxy = _is_trusted(peer)
        client = client_address(
            peer=peer, forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", "")
        )
        request.META["IOTADMIN_PEER_ADDR"] = peer
        request.META["REMOTE_ADDR"] = client
        incoming = request.headers.get("X-Request-ID", "") if from_proxy else ""
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        # Our own attribute on the request, read back with getattr(request, "request_id", "").
        request.request_id = request_id  # type: ignore[attr-defined]
        token = current_request_id.set(request_id)
        ip_token = current_client_ip.set(client)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
            current_client_ip.reset(ip_token)
        response["X-Request-ID"] = request_id
        return response


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class SafeCommonMiddleware(CommonMiddleware):
    """CommonMiddleware whose APPEND_SLASH never echoes the push secret nor raises in DEBUG.

    Django raises (a 500 debug page with the settings) for a POST without the trailing slash
    when DEBUG is on; here such a request is redirected with 308, which keeps the method and
    body. Anything under the push path that is not found answers a bare 404, never a redirect
    or debug page that would repeat the secret in the path.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if response.status_code == 404 and request.path_info.startswith(PUSH_PATH_PREFIX):
            if response.get("Content-Type", "").startswith("application/json"):
                return super().process_response(request, response)  # the endpoint's own 404
            not_found = HttpResponseNotFound(b"Not found", content_type="text/plain")
            not_found._has_been_logged = True  # type: ignore[attr-defined]
            return not_found
        if (
            response.status_code == 404
            and request.method not in ("GET", "HEAD")
            and self.should_redirect_with_slash(request)
        ):
            target = escape_leading_slashes(request.get_full_path(force_append_slash=True))
            return HttpResponseRedirect(target, status=308)
        return super().process_response(request, response)
