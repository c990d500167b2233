"""verifyCodes at rest: Fernet-encrypted while valid; afterwards only a hint and an HMAC remain.

The encryption key comes from settings.IOT_CODE_ENCRYPTION_KEY (a Fernet key, or any passphrase,
or several separated by commas: the first encrypts, all decrypt, for rotation); when unset it is
derived from SECRET_KEY. The hash key is always derived from SECRET_KEY.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

HINT_LENGTH = 2


class CodeUnavailable(Exception):
    """A stored code cannot be decrypted (key changed or data damaged)."""


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"iotadmin-verify-code", info=purpose
    ).derive(secret.encode("utf-8"))


def _fernet_key(material: str) -> bytes:
    """Use a real Fernet key as is; stretch anything else into one."""
    try:
        if len(base64.urlsafe_b64decode(material.encode("ascii"))) == 32:
            return material.encode("ascii")
    except (binascii.Error, ValueError, UnicodeEncodeError):
        pass
    return base64.urlsafe_b64encode(_derive(material, b"fernet"))


def _fernet() -> MultiFernet:
    configured = [k.strip() for k in (settings.IOT_CODE_ENCRYPTION_KEY or "").split(",")]
    keys = [k for k in configured if k] or [settings.SECRET_KEY]
    return MultiFernet([Fernet(_fernet_key(k)) for k in keys])


def encrypt_code(code: str) -> str:
    return _fernet().encrypt(code.encode("utf-8")).decode("ascii")


def decrypt_code(token: str) -> str:
    if not token:
        raise CodeUnavailable("No code is stored.")
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as exc:
        raise CodeUnavailable(
            "The stored code cannot be decrypted; was IOT_CODE_ENCRYPTION_KEY changed?"
        ) from exc


def hash_code(code: str) -> str:
    """HMAC-SHA256 of the code, case-folded because the platform compares codes that way."""
    key = _derive(settings.SECRET_KEY, b"verify-code-hash")
    return hmac.new(key, code.casefold().encode("utf-8"), hashlib.sha256).hexdigest()


def code_hint(code: str) -> str:
    """The last two characters: enough to tell codes apart on a call, useless for binding."""
    return code[-HINT_LENGTH:] if len(code) > HINT_LENGTH else ""
