"""A bulk upload (BulkBatch) and its lines (BulkRow). Each sent line becomes a normal Swap."""

from django.conf import settings
from django.db import models

from devices.limits import MAX_NODE_ID_LENGTH, MAX_REASON_LENGTH


class BatchState(models.TextChoices):
    PREVIEW = "preview", "Preview (nothing sent)"
    CONFIRMED = "confirmed", "Confirmed"
    DISCARDED = "discarded", "Discarded"


class RowState(models.TextChoices):
    INVALID = "invalid", "Not sendable"
    READY = "ready", "Ready"
    WAITING = "waiting", "Waiting for its turn"
    SUBMITTING = "submitting", "Being requested"
    SUBMITTED = "submitted", "Requested"
    REFUSED = "refused", "Refused"


class BulkBatch(models.Model):
    """One uploaded CSV file of swaps, from its dry run to the last row sent."""

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bulk_batches"
    )
    filename = models.CharField(max_length=255, blank=True)
    state = models.CharField(
        max_length=16, choices=BatchState.choices, default=BatchState.PREVIEW, db_index=True
    )
    row_count = models.PositiveIntegerField(default=0)
    ready_count = models.PositiveIntegerField(default=0, help_text="Rows the dry run passed")
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # One dispatcher chain per batch at a time: its owner token and how long it holds the lease.
    dispatch_owner = models.CharField(max_length=32, blank=True)
    dispatch_lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Bulk #{self.pk} ({self.filename or 'upload'})"


class BulkRow(models.Model):
    """One line of a bulk file: what it asked for, the dry run's verdict, and its swap."""

    batch = models.ForeignKey(BulkBatch, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField(help_text="Line number in the file (the header is 1)")
    device_ref = models.CharField(max_length=300, blank=True, help_text="deviceId or nodeId")
    new_node_id_raw = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=16, blank=True)
    chipset = models.CharField(max_length=16, blank=True)
    verify_code_mode = models.CharField(max_length=20, blank=True)
    ticket = models.CharField(max_length=MAX_REASON_LENGTH, blank=True)
    validity_minutes = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="How long the code stays valid; empty: the default"
    )
    device = models.ForeignKey(
        "devices.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    new_node_id = models.CharField(
        max_length=MAX_NODE_ID_LENGTH, blank=True, help_text="As it will be sent"
    )
    state = models.CharField(max_length=16, choices=RowState.choices, db_index=True)
    error_code = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True, help_text="Why the row cannot be sent")
    swap = models.ForeignKey(
        "devices.Swap", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["batch", "line"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "line"], name="bulk_row_unique_line"),
        ]
        indexes = [models.Index(fields=["batch", "state"], name="bulk_row_batch_state_idx")]

    def __str__(self) -> str:
        return f"line {self.line} of bulk #{self.batch_id}"
