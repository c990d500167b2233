"""Walking the chain: recompute every hash and every link, in id order, in constant memory."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections

from audit import triggers
from audit.checkpoints import CheckpointError, audit_checkpoints_read
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent, iso_utc


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a walk: how many events were checked and the first problem, if any."""

    checked: int
    problem: str = ""

    @property
    def intact(self) -> bool:
        return not self.problem

    def __str__(self) -> str:
        if self.intact:
            return f"OK: {self.checked} events, chain intact"
        return self.problem


def _events(using: str, batch_size: int) -> Iterator[AuditEvent]:
    last_id = 0
    while True:
        batch = list(
            AuditEvent.objects.using(using).filter(id__gt=last_id).order_by("id")[:batch_size]
        )
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id


def _where(event: AuditEvent) -> str:
    return f"event #{event.id} ({iso_utc(event.at)}, {event.action})"


def audit_chain_verify(
    *, using: str = DEFAULT_DB_ALIAS, batch_size: int = 1000, check_triggers: bool = True
) -> ChainReport:
    """Check every event's hash and link, and the signed checkpoints; report the first problem."""
    try:
        checkpoints = audit_checkpoints_read()
    except CheckpointError as exc:
        return ChainReport(0, f"BROKEN checkpoints: {exc} (the checkpoint file was altered)")
    checkpointed = {c.seq: c.hash for c in checkpoints}
    expected_prev = GENESIS_HASH
    previous: AuditEvent | None = None
    checked = 0
    keyed_seen = False
    for event in _events(using, batch_size):
        if keyed_seen and not event.keyed:
            return ChainReport(
                checked,
                f"BROKEN at {_where(event)}: an unkeyed event after keyed ones "
                f"(the chain was recomputed without the key)",
            )
        keyed_seen = keyed_seen or event.keyed
        if event.prev_hash != expected_prev:
            after = f"event #{previous.id}" if previous else "the start of the chain"
            return ChainReport(
                checked,
                f"BROKEN at {_where(event)}: prev_hash {event.prev_hash} != hash of {after} "
                f"{expected_prev} (an event was deleted, inserted or moved)",
            )
        computed = event.compute_hash()
        if event.hash != computed:
            return ChainReport(
                checked,
                f"BROKEN at {_where(event)}: stored hash {event.hash} != computed {computed} "
                f"(the event was edited)",
            )
        if event.id in checkpointed and checkpointed[event.id] != event.hash:
            return ChainReport(
                checked,
                f"BROKEN at {_where(event)}: hash {event.hash} differs from the signed "
                f"checkpoint {checkpointed[event.id]} (history was rewritten)",
            )
        checked += 1
        expected_prev = event.hash
        previous = event
    last_id = previous.id if previous else None
    if checkpoints and max(checkpointed) > (last_id or 0):
        return ChainReport(
            checked,
            f"BROKEN at the end: a signed checkpoint records event #{max(checkpointed)}, but the "
            f"chain ends at {f'event #{last_id}' if last_id else 'nothing'} "
            f"(events were removed from the end)",
        )
    head = AuditChainHead.objects.using(using).filter(pk=1).first()
    if head is None and checked:
        return ChainReport(checked, "BROKEN at the end: the chain head record is missing")
    if head is not None and (
        head.last_event_id != last_id
        or head.last_hash != expected_prev
        or head.event_count != checked
    ):
        return ChainReport(
            checked,
            f"BROKEN at the end: the chain head records {head.event_count} events ending at "
            f"event #{head.last_event_id}, but {checked} events end at "
            f"{f'event #{last_id}' if last_id else 'nothing'} (events were removed)",
        )
    if check_triggers:
        connection = connections[using]
        absent = triggers.missing(connection)
        if absent:
            return ChainReport(
                checked, f"BROKEN protection: append-only triggers missing: {', '.join(absent)}"
            )
    return ChainReport(checked)
