"""Record the drift of completed audits that finished before drift was recorded, so the runs list shows it.

Each run gets what the finish path would have stored (audits.schedule_drift.record_drift): its counts since the
previous completed run of its source that still exists. Runs that already have drift are left alone, so running it
again does nothing new, and an interrupted run picks up where it stopped:

    manage.py backfill_drift --dry-run    # how many would be filled in
    manage.py backfill_drift
"""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audits.models import AuditRun
from audits.schedule_drift import record_drift

# Run ids are read a batch at a time, so a large history is never held in memory; each run is its own write.
BATCH = 500


def missing_drift():
    # has_key works on SQLite's JSON1 and PostgreSQL's jsonb alike.
    return AuditRun.objects.filter(status=AuditRun.Status.COMPLETED).exclude(target__has_key="drift")


class Command(BaseCommand):
    help = "Record the drift (new, resolved, changed since the previous audit of its source) of completed audits."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="only count the audits without drift")
        parser.add_argument("--batch-size", type=int, default=BATCH, help=f"run ids read at a time (default {BATCH})")

    def handle(self, *args, dry_run: bool, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if dry_run:
            self.stdout.write(f"{missing_drift().count()} completed audits have no drift recorded.")
            return
        recorded, failed, last = 0, [], 0
        while True:
            # Keyset paging: each batch starts after the last id seen, whatever the earlier batches wrote.
            batch = list(missing_drift().filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not batch:
                break
            for pk in batch:
                if record_drift(pk):
                    recorded += 1
                else:
                    failed.append(pk)
            last = batch[-1]
            self.stdout.write(f"… {recorded} recorded so far, up to audit #{last}")
        summary = f"Recorded drift on {recorded} completed audits."
        if failed:
            shown = ", ".join(f"#{pk}" for pk in failed[:20]) + (" …" if len(failed) > 20 else "")
            summary += f" {len(failed)} could not be recorded (the log says why): {shown}."
            self.stdout.write(self.style.WARNING(summary))
            return
        self.stdout.write(self.style.SUCCESS(summary))
