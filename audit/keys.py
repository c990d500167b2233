"""The audit chain's HMAC key: from AUDIT_HMAC_KEY(_FILE), never from the database.

Without one, development derives a key from SECRET_KEY; `check --deploy` refuses that default
(iotadmin.E005), since whoever reads SECRET_KEY could then recompute a tampered chain.
"""

import hashlib
import hmac

from django.conf import settings

DERIVATION_LABEL = b"iotadmin-audit-hmac-v1"


def audit_hmac_key() -> bytes:
    configured = settings.AUDIT_HMAC_KEY or ""
    if configured:
        return configured.encode("utf-8")
    return hmac.new(settings.SECRET_KEY.encode("utf-8"), DERIVATION_LABEL, hashlib.sha256).digest()


def sign(message: str) -> str:
    """An HMAC-SHA256 of `message` under the audit key (checkpoints use it)."""
    return hmac.new(audit_hmac_key(), message.encode("utf-8"), hashlib.sha256).hexdigest()
