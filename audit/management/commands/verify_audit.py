"""Walk the audit chain; exit 1 and name the first broken link when anything was tampered with."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS

from audit.checkpoints import audit_checkpoint_write
from audit.verification import audit_chain_verify


class Command(BaseCommand):
    help = "Recompute every audit event's hash and link; exit 1 at the first broken one."
    # A forensic check must run even while unrelated parts of the project fail their checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            self.stderr.write("--batch-size must be at least 1")
            raise SystemExit(2)
        report = audit_chain_verify(using=options["database"], batch_size=options["batch_size"])
        if report.intact:
            # A verified head is a good checkpoint (when AUDIT_CHECKPOINT_PATH is set).
            audit_checkpoint_write(using=options["database"])
            self.stdout.write(str(report))
            return
        self.stderr.write(str(report))
        raise SystemExit(1)
