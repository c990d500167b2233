"""The push (callback) endpoint the platform POSTs notifications to.

It only checks the path secret, bounds and validates the body, queues the work and answers 200:
the platform waits 15 s at most and retries, so nothing slow happens before the answer. While
the database or the broker is unreachable it answers 503, so the platform keeps the push.
"""

import hmac
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from devices.services.push import InvalidPush, push_parse, push_record_refusal
from devices.tasks_push import push_process

logger = logging.getLogger(__name__)


def _answer(status: int, payload: dict[str, str]) -> JsonResponse:
    response = JsonResponse(payload, status=status)
    # django.request would log the path of a 4xx, and the path carries the secret.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _secret_matches(given: str) -> bool:
    expected = settings.IOT_PUSH_SECRET or ""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _database_reachable() -> bool:
    """The worker applies the push from the database: while it is down, the platform retries."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


@csrf_exempt
@login_not_required
def platform_push(request: HttpRequest, secret: str) -> JsonResponse:
    if not _secret_matches(secret):
        return _answer(404, {"error": "Not found"})
    if request.method != "POST":
        response = _answer(405, {"error": "POST only"})
        response["Allow"] = "POST"
        return response

    limit = settings.IOT_PUSH_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        logger.warning("Push refused: Content-Length is not a number")
        return _answer(400, {"error": "Content-Length is not a number"})
    if declared > limit:
        logger.warning("Push refused: %d bytes declared, limit %d", declared, limit)
        return _answer(413, {"error": f"Body larger than {limit} bytes"})
    try:
        body = request.body
    except RequestDataTooBig:
        body = None
    if body is None or len(body) > limit:
        logger.warning("Push refused: body over the %d-byte limit", limit)
        return _answer(413, {"error": f"Body larger than {limit} bytes"})

    try:
        push = push_parse(body=body)
    except InvalidPush as exc:
        logger.warning("Push refused (%d bytes): %s", len(body), exc)
        push_record_refusal(reason=str(exc), size=len(body))
        return _answer(400, {"error": str(exc)})

    if not _database_reachable():
        logger.error(
            "Push %s for %s refused: the database is unreachable", push.notify_type, push.device_id
        )
        return _answer(503, {"error": "Database unavailable; retry later"})
    received_at = timezone.now()
    try:
        # A push body carries no secret (ids, nodeId, status), so the validated push may be
        # a task argument; the receipt time keeps the arrival order for the ordering rule.
        # Queued now, not on commit: a 200 must mean the broker has it.
        push_process.delay(push.to_task(), received_at.isoformat())
    except Exception:
        logger.exception("Push %s for %s not queued", push.notify_type, push.device_id)
        return _answer(503, {"error": "Not queued; retry later"})
    return _answer(200, {"result": "accepted"})
