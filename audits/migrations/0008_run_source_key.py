"""A run's source is part of its identity (audits.run_sources): AuditRun.source_key and Suppression.source_key.

Existing runs get the key their fields allow: the demo, their connection (an organization run and its members
under it), an upload by the SHA-256 of its stored input (or "upload:run-<pk>" when the input is gone).
Existing suppressions take the key of the run they were accepted on; one whose run is gone keeps a blank key and
still applies by account id, as before.
"""

from django.db import migrations, models

BATCH = 500


def _key(row: dict, digests: dict[int, str]) -> str:
    # A frozen copy of audits.run_sources.key_for: a migration must not change when that module does.
    if row["source"] == "demo":
        return "demo"
    if row["source"] == "snapshot":
        digest = digests.get(row["pk"], "")
        return f"upload:{digest}" if digest else f"upload:run-{row['pk']}"
    connection = str(row["connection_id"]) if row["connection_id"] is not None else "unknown"
    if row["parent_id"] is not None:
        member = str((row["target"] or {}).get("account_id") or row["account_id"] or "unknown")
        return f"org:{connection}:{member}"
    if row["kind"] == "organization":
        return f"org:{connection}"
    return f"connection:{connection}"


def fill_source_keys(apps, schema_editor) -> None:
    AuditRun = apps.get_model("audits", "AuditRun")
    RunInput = apps.get_model("audits", "RunInput")
    Suppression = apps.get_model("audits", "Suppression")
    fields = ("pk", "source", "kind", "connection_id", "parent_id", "target", "account_id")
    last = 0
    while True:
        # Pages by primary key, read whole before writing: no cursor stays open on the table being updated.
        batch = list(AuditRun.objects.filter(pk__gt=last).order_by("pk").values(*fields)[:BATCH])
        if not batch:
            break
        last = batch[-1]["pk"]
        uploads = [r["pk"] for r in batch if r["source"] == "snapshot"]
        digests = dict(RunInput.objects.filter(run_id__in=uploads).exclude(sha256="").values_list("run_id", "sha256"))
        by_key: dict[str, list[int]] = {}
        for row in batch:
            by_key.setdefault(_key(row, digests), []).append(row["pk"])
        for key, pks in by_key.items():
            AuditRun.objects.filter(pk__in=pks).update(source_key=key)
    accepted = list(Suppression.objects.filter(source_key="", run__isnull=False).values_list("pk", "run__source_key"))
    for suppression_pk, key in accepted:
        Suppression.objects.filter(pk=suppression_pk).update(source_key=key or "")


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0007_schedules"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditrun",
            name="source_key",
            field=models.CharField(blank=True, max_length=120),
        ),
        migrations.AddField(
            model_name="suppression",
            name="source_key",
            field=models.CharField(blank=True, max_length=120),
        ),
        migrations.AddIndex(
            model_name="auditrun",
            index=models.Index(fields=["source_key", "owner", "-created"], name="run_source_owner_created"),
        ),
        migrations.RunPython(fill_source_keys, migrations.RunPython.noop),
    ]
