"""Signed checkpoints of the chain head, appended to a file outside the database.

Each line is `{"seq": <head event id>, "hash": <its hash>, "at": <when>, "signature": <HMAC>}`.
verify_audit checks them: a chain that ends before the last checkpoint lost its tail; an event
whose hash differs from a checkpoint's was rewritten, even with a consistently recomputed chain.
"""

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from audit.keys import sign
from audit.models import AuditChainHead, iso_utc


class CheckpointError(Exception):
    """The checkpoint file cannot be trusted (a line is unreadable or wrongly signed)."""


@dataclass(frozen=True)
class Checkpoint:
    """The chain head at one moment, signed with the audit key."""

    seq: int
    hash: str
    at: str
    signature: str

    @staticmethod
    def message(seq: int, hash_: str, at: str) -> str:
        return f"audit-checkpoint|{seq}|{hash_}|{at}"

    @property
    def valid(self) -> bool:
        import hmac

        return hmac.compare_digest(self.signature, sign(self.message(self.seq, self.hash, self.at)))


def checkpoint_path() -> Path | None:
    path = settings.AUDIT_CHECKPOINT_PATH or ""
    return Path(path) if path else None


def audit_checkpoint_write(*, using: str = DEFAULT_DB_ALIAS) -> Checkpoint | None:
    """Append the current chain head to the checkpoint file (nothing when none is configured)."""
    path = checkpoint_path()
    if path is None:
        return None
    head = AuditChainHead.objects.using(using).filter(pk=1).first()
    if head is None:
        return None
    at = iso_utc(timezone.now()) or ""
    checkpoint = Checkpoint(
        seq=head.last_event_id,
        hash=head.last_hash,
        at=at,
        signature=sign(Checkpoint.message(head.last_event_id, head.last_hash, at)),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write(json.dumps(asdict(checkpoint), sort_keys=True) + "\n")
        file.flush()
        os.fsync(file.fileno())
    return checkpoint


def audit_checkpoints_read() -> list[Checkpoint]:
    """Every checkpoint in the file, oldest first; CheckpointError for a line that is not one."""
    path = checkpoint_path()
    if path is None or not path.exists():
        return []
    checkpoints = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            checkpoint = Checkpoint(
                seq=int(data["seq"]),
                hash=str(data["hash"]),
                at=str(data["at"]),
                signature=str(data["signature"]),
            )
        except (ValueError, KeyError, TypeError):
            raise CheckpointError(f"checkpoint line {number} is unreadable") from None
        if not checkpoint.valid:
            raise CheckpointError(f"checkpoint line {number} has a wrong signature")
        checkpoints.append(checkpoint)
    return checkpoints
