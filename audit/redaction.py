"""Keeping secrets out of the audit trail, and values in a form that hashes the same after a
database round trip (PostgreSQL jsonb/inet and SQLite text must give back what was hashed)."""

import ipaddress
import json
import logging
import math
import re
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"

# A key is secret-like when its last meaningful words name a secret: verify_code, verifyCode,
# custom_verify_code, app_secret, password, access_token, psk, client_key... Words such as
# "verify_code_mode" or "verify_code_expires_at" describe a secret without holding it.
_SECRET_TAILS = (
    "verifycode",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "psk",
    "clientkey",
    "privatekey",
    "apikey",
    "secretkey",
    "encryptionkey",
    "credentials",
)
# Trailing qualifiers that still mean "the secret itself": password_hash, verify_code_plain.
_QUALIFIERS = {
    "raw",
    "plain",
    "plaintext",
    "clear",
    "cleartext",
    "value",
    "val",
    "text",
    "str",
    "encrypted",
    "enc",
    "cipher",
    "ciphertext",
    "hash",
    "hashed",
    "digest",
}
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# "verifyCode=1234", "password: hunter2", '"app_secret": "x"' inside free text.
_SECRET_IN_TEXT = re.compile(
    r"(?i)(?P<key>[\w-]*(?:verify[_ -]?code|password|passwd|passphrase|secret|token|psk|"
    r"client[_-]?key|private[_-]?key|api[_-]?key)[\w-]*)"
    r"(?P<sep>[\"']?\s*[:=]\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&)}\]]+)"
)


def is_secret_key(key: str) -> bool:
    """True when a mapping key names a secret (whatever its case or separators)."""
    words = [w.lower() for w in _WORD.findall(str(key))]
    while len(words) > 1 and words[-1] in _QUALIFIERS:
        words.pop()
    joined = "".join(words)
    return any(joined.endswith(tail) for tail in _SECRET_TAILS)


def clean_text(value: Any, *, max_length: int | None = None) -> str:
    """Text that PostgreSQL and UTF-8 accept (no NUL, no lone surrogates), cut to max_length."""
    text = "" if value is None else str(value)
    text = text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if max_length is not None:
        text = text[:max_length]
    return text


def redact_text(text: str) -> tuple[str, int]:
    """Blank out values that follow a secret-like name in free text; returns (text, count)."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if not is_secret_key(match["key"]) or match["value"].strip("\"'").startswith(REDACTED[:-1]):
            return match[0]
        count += 1
        return f"{match['key']}{match['sep']}{REDACTED}"

    return _SECRET_IN_TEXT.sub(replace, text), count


def canonical_json(value: Any) -> Any:
    """Plain JSON values only: str keys, lists, finite floats that are not whole numbers.

    jsonb returns 1e20 as an integer and 1.0 as 1.0 or 1 depending on the path, so whole floats
    become ints before hashing and storing. Anything else goes through DjangoJSONEncoder.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): canonical_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [canonical_json(v) for v in value]
        if isinstance(value, set | frozenset):
            items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return items
    return canonical_json(json.loads(json.dumps(value, cls=DjangoJSONEncoder)))


def redact_mapping(value: Any, *, path: str = "") -> tuple[Any, list[str]]:
    """Replace the values of secret-like keys (at any depth) by REDACTED.

    A bool or None under a secret-like key is kept: one bit ("password_changed") holds no
    secret. Returns the cleaned value and the paths that were redacted (for a warning).
    """
    redacted: list[str] = []
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if is_secret_key(key) and not (item is None or isinstance(item, bool)):
                out[key] = REDACTED
                redacted.append(here)
            else:
                out[key], inner = redact_mapping(item, path=here)
                redacted.extend(inner)
        return out, redacted
    if isinstance(value, list):
        out_list = []
        for index, item in enumerate(value):
            cleaned, inner = redact_mapping(item, path=f"{path}[{index}]")
            out_list.append(cleaned)
            redacted.extend(inner)
        return out_list, redacted
    if isinstance(value, str):
        text, count = redact_text(value)
        if count:
            redacted.append(path or "(text)")
        return text, redacted
    return value, redacted


def safe_json(value: dict | None, *, field: str) -> dict:
    """The before/after mapping as stored: canonical JSON with secrets redacted."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"audit {field} must be a dict, not {type(value).__name__}")
    cleaned, redacted = redact_mapping(canonical_json(value))
    if redacted:
        # The key names are not secret; the values never leave this function.
        logger.warning("audit: redacted secret-like values in %s: %s", field, ", ".join(redacted))
    return cleaned


def safe_detail(detail: str) -> str:
    text, count = redact_text(clean_text(detail))
    if count:
        logger.warning("audit: redacted %d secret-like value(s) in detail", count)
    return text


def canonical_ip(value: Any) -> str | None:
    """One spelling per address (IPv4-mapped IPv6 becomes IPv4); None when not an address."""
    if value in (None, ""):
        return None
    try:
        address = ipaddress.ip_address(str(value).strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)
