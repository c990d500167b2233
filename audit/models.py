"""The append-only, hash-chained audit trail.

Append-only is enforced three times: the ORM (save() refuses updates, the queryset refuses
update/delete/bulk writes), the Django admin (read-only), and the database itself (triggers from
migration 0002, see audit/triggers.py, refuse UPDATE always and DELETE/TRUNCATE of audit rows).

Emptying the whole database (`manage.py flush`, which transactional tests run after each test)
must still work: on SQLite flush DELETEs, on PostgreSQL it TRUNCATEs. The DELETE/TRUNCATE
triggers therefore let a statement through only while the one-row-at-most table
`audit_maintenance` holds a row; the audit app's own `flush` command (which replaces Django's)
inserts that row and removes it inside the flush's transaction, so no other connection ever
sees it. A person with raw SQL access can set it too, as they could drop the triggers: the
triggers stop mistakes and application bugs; the hash chain (verify_audit) catches tampering.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connections, models, router, transaction
from django.utils import timezone

from audit.redaction import canonical_ip, canonical_json, clean_text, safe_detail, safe_json

GENESIS_HASH = "0" * 64
# pg_advisory_xact_lock key serialising chain appends across processes ("audit" in ASCII).
CHAIN_LOCK_KEY = 0x6175646974


class AppendOnlyError(Exception):
    """An attempt to change or remove an audit event through the ORM."""


class AuditAction(models.TextChoices):
    SWAP_REQUESTED = "swap_requested", "Swap requested"
    SWAP_APPROVED = "swap_approved", "Swap approved"
    SWAP_REJECTED = "swap_rejected", "Swap rejected"
    SWAP_SENT = "swap_sent", "Sent to the platform"
    SWAP_ATTEMPTED = "swap_attempted", "Refresh sent to the platform"
    CODE_ISSUED = "code_issued", "Code issued"
    CODE_VIEWED = "code_viewed", "Code viewed"
    SWAP_REISSUED = "swap_reissued", "Swap re-issued"
    SWAP_CANCELLED = "swap_cancelled", "Swap cancelled"
    SWAP_TAKEN_OVER = "swap_taken_over", "Swap taken over"
    SWAP_OFFLINE_SEEN = "swap_offline_seen", "Old unit offline: swap sent"
    HELP_REQUESTED = "help_requested", "Helpdesk asked"
    SWAP_BOUND = "swap_bound", "New unit bound"
    SWAP_EXPIRED = "swap_expired", "Code expired"
    SWAP_FAILED = "swap_failed", "Swap failed"
    DEVICES_SYNCED = "devices_synced", "Devices synchronised"
    PUSH_RECEIVED = "push_received", "Push notification received"
    PUSH_REFUSED = "push_refused", "Push notification refused"
    PUSH_FAILED = "push_failed", "Push notification not applied"
    NOTIFICATIONS_SUBSCRIBED = "notifications_subscribed", "Push notifications subscribed"
    LOGIN = "login", "Signed in"
    LOGIN_FAILED = "login_failed", "Failed sign-in"
    LOGIN_LOCKED = "login_locked", "Sign-in locked"
    LOGIN_UNLOCKED = "login_unlocked", "Sign-in unlocked"
    LOGOUT = "logout", "Signed out"
    USER_CHANGED = "user_changed", "User changed"
    GROUP_CHANGED = "group_changed", "Group changed"
    PERMISSION_CHANGED = "permission_changed", "Permissions changed"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit events are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events are append-only")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AppendOnlyError("audit events are append-only")

    def bulk_create(self, *args: Any, **kwargs: Any) -> list:
        raise AppendOnlyError("audit events are chained one by one: use audit_record()")

    def update_or_create(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("audit events are append-only")


def iso_utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class AuditEvent(models.Model):
    """One thing that happened, who did it, and what changed; linked by hash to the one before."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    # No database constraint and no cascade: deleting a user must never touch audit rows.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    device_id = models.CharField(max_length=256, blank=True)
    swap_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    detail = models.TextField(blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)
    # Keyed: `hash` is an HMAC with AUDIT_HMAC_KEY (kept outside the database), so a chain
    # recomputed without the key does not verify. Rows written before keys were used are
    # plain SHA-256; once one keyed row exists, every later one must be keyed.
    keyed = models.BooleanField(default=False, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["device_id", "at"], name="audit_device_at_idx"),
            models.Index(fields=["swap_id"], name="audit_swap_idx"),
            models.Index(fields=["action", "at"], name="audit_action_at_idx"),
            models.Index(fields=["actor", "at"], name="audit_actor_at_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {iso_utc(self.at)} {self.action} by {self.actor_name or '-'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Append to the chain; an event that exists can never be saved again."""
        if not self._state.adding or self.pk is not None:
            raise AppendOnlyError("audit events are append-only")
        if kwargs.get("update_fields"):
            raise AppendOnlyError("audit events are append-only")
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        self._clean_for_append()
        with transaction.atomic(using=using):
            lock_chain(using)
            head = AuditChainHead.objects.using(using).select_for_update().filter(pk=1).first()
            if head is not None:
                prev_hash = head.last_hash
            else:
                last = (
                    AuditEvent.objects.using(using)
                    .order_by("-id")
                    .values_list("hash", flat=True)
                    .first()
                )
                prev_hash = last or GENESIS_HASH
            # Taken inside the lock, so times never go backwards along the chain.
            self.at = timezone.now()
            self.prev_hash = prev_hash
            self.keyed = True
            self.hash = self.compute_hash()
            super().save(force_insert=True, using=using)
            if head is None:
                AuditChainHead.objects.using(using).create(
                    pk=1, last_event_id=self.pk, last_hash=self.hash, event_count=1
                )
            else:
                AuditChainHead.objects.using(using).filter(pk=1).update(
                    last_event_id=self.pk,
                    last_hash=self.hash,
                    event_count=models.F("event_count") + 1,
                )

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events are append-only")

    def hash_content(self) -> dict[str, Any]:
        """What the hash covers, spelled the same way before and after a database round trip."""
        action = getattr(self.action, "value", self.action)
        return {
            "v": 2 if self.keyed else 1,
            "at": iso_utc(self.at),
            "actor_id": self.actor_id,
            "actor_name": self.actor_name,
            "ip": canonical_ip(self.ip),
            "request_id": self.request_id,
            "device_id": self.device_id,
            "swap_id": self.swap_id,
            "action": action,
            "before": canonical_json(self.before),
            "after": canonical_json(self.after),
            "detail": self.detail,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        payload = json.dumps(
            self.hash_content(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
        if self.keyed:
            from audit.keys import audit_hmac_key

            return hmac.new(audit_hmac_key(), payload, hashlib.sha256).hexdigest()
        return hashlib.sha256(payload).hexdigest()

    def _clean_for_append(self) -> None:
        """Secrets out, and every value in the form the database gives back."""
        if self.action not in AuditAction.values:
            raise ValueError(f"unknown audit action {self.action!r}")
        self.action = AuditAction(self.action).value
        self.actor_name = clean_text(self.actor_name, max_length=150)
        self.ip = canonical_ip(self.ip)
        self.request_id = clean_text(self.request_id, max_length=64)
        self.device_id = clean_text(self.device_id, max_length=256)
        self.before = safe_json(self.before, field="before")
        self.after = safe_json(self.after, field="after")
        self.detail = safe_detail(self.detail)


class AuditChainHead(models.Model):
    """The chain's last link and length (one row), so that removing events from the end shows."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_event_id = models.BigIntegerField()
    last_hash = models.CharField(max_length=64)
    event_count = models.BigIntegerField()

    def __str__(self) -> str:
        return f"audit chain head: #{self.last_event_id} ({self.event_count} events)"


def lock_chain(using: str) -> None:
    """Serialise appends across processes until the surrounding transaction ends.

    PostgreSQL: a transaction-level advisory lock. SQLite: settings open every transaction
    with BEGIN IMMEDIATE, so the writer lock is already ours.
    """
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
