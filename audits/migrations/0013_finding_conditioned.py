"""Finding.conditioned: the engine's mark for a grant that holds only under open conditions (scored half).

It was kept only in the finding's event, so a resumed run, which rebuilds its earlier findings from their rows,
scored those grants in full. Existing rows take the mark from their run's finding events.
"""

from django.db import migrations, models

BATCH = 2000


def fill_conditioned(apps, schema_editor) -> None:
    AuditEvent = apps.get_model("audits", "AuditEvent")
    Finding = apps.get_model("audits", "Finding")
    marked = AuditEvent.objects.filter(type="finding", payload__finding__conditioned=True)
    last = 0
    while True:
        # Pages by primary key, read whole before writing: no cursor stays open while the findings are updated.
        batch = list(
            marked.filter(pk__gt=last).order_by("pk").values_list("pk", "run_id", "payload__finding__fingerprint")[
                :BATCH
            ]
        )
        if not batch:
            break
        last = batch[-1][0]
        by_run: dict[int, list[str]] = {}
        for _, run_id, fingerprint in batch:
            if isinstance(fingerprint, str):
                by_run.setdefault(run_id, []).append(fingerprint)
        for run_id, fingerprints in by_run.items():
            # (run, fingerprint) is unique: the constraint's index finds each row.
            Finding.objects.filter(run_id=run_id, fingerprint__in=fingerprints).update(conditioned=True)


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0012_usersettings_webhook_threshold"),
    ]

    operations = [
        migrations.AddField(
            model_name="finding",
            name="conditioned",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.RunPython(fill_conditioned, migrations.RunPython.noop),
    ]
