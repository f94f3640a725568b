"""Retention: delete finished audits older than a number of days, with their events, findings and inputs.

The admin cannot delete runs, events or findings (they are evidence); this command is the one way to, run by an
operator (say, daily from cron):

    manage.py purge_runs --older-than 365 --dry-run    # what would go
    manage.py purge_runs --older-than 365
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from audits.models import AuditEvent, AuditRun, Finding, RunInput

# Deleted a batch at a time, so one long transaction never holds the (SQLite) write lock for minutes.
BATCH = 50


class Command(BaseCommand):
    help = "Delete finished audits (completed, failed, cancelled) that finished more than DAYS days ago."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS",
                            help="keep audits that finished within this many days")  # fmt: skip
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    def handle(self, *args, older_than: int, dry_run: bool, **options) -> None:
        if older_than < 1:
            raise CommandError("--older-than must be at least 1 day")
        cutoff = timezone.now() - timedelta(days=older_than)
        # Top-level runs only: an organization's children go with their parent.
        expired = AuditRun.objects.filter(status__in=AuditRun.FINISHED, finished__lt=cutoff, parent__isnull=True)
        pks = list(expired.values_list("pk", flat=True))
        scope = AuditRun.objects.filter(pk__in=pks) | AuditRun.objects.filter(parent_id__in=pks)
        runs = list(scope.values_list("pk", flat=True))
        counts = {
            "runs": len(runs),
            "events": AuditEvent.objects.filter(run_id__in=runs).count(),
            "findings": Finding.objects.filter(run_id__in=runs).count(),
            "inputs": RunInput.objects.filter(run_id__in=runs).count(),
        }
        summary = ", ".join(f"{count} {name}" for name, count in counts.items())
        when = cutoff.strftime("%Y-%m-%d %H:%M UTC")
        if dry_run:
            self.stdout.write(f"Would delete audits finished before {when}: {summary}.")
            return
        for start in range(0, len(pks), BATCH):
            with transaction.atomic():
                AuditRun.objects.filter(pk__in=pks[start : start + BATCH]).delete()
        self.stdout.write(self.style.SUCCESS(f"Deleted audits finished before {when}: {summary}."))
