"""Move each run's input snapshot out of the run row into RunInput (gzip JSON), then drop the column.

A 40 MB snapshot in the run row made every event write (which updates the run) rewrite 40 MB on SQLite."""

import gzip
import hashlib
import json

from django.db import migrations


def copy_snapshots_out(apps, schema_editor) -> None:
    AuditRun = apps.get_model("audits", "AuditRun")
    RunInput = apps.get_model("audits", "RunInput")
    have_input = set(RunInput.objects.values_list("run_id", flat=True))
    pks = AuditRun.objects.filter(snapshot__isnull=False).values_list("pk", flat=True)
    for pk in list(pks):  # one snapshot in memory at a time
        if pk in have_input:
            continue
        snapshot = AuditRun.objects.filter(pk=pk).values_list("snapshot", flat=True).get()
        raw = json.dumps(snapshot, ensure_ascii=False).encode("utf-8", "surrogatepass")
        RunInput.objects.create(run_id=pk, data=gzip.compress(raw, compresslevel=6, mtime=0), size_bytes=len(raw),
                                sha256=hashlib.sha256(raw).hexdigest())


def copy_snapshots_back(apps, schema_editor) -> None:
    AuditRun = apps.get_model("audits", "AuditRun")
    RunInput = apps.get_model("audits", "RunInput")
    for run_id in list(RunInput.objects.values_list("run_id", flat=True)):
        data = RunInput.objects.filter(run_id=run_id).values_list("data", flat=True).get()
        AuditRun.objects.filter(pk=run_id).update(snapshot=json.loads(gzip.decompress(bytes(data))))


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0003_session_schema"),
    ]

    operations = [
        migrations.RunPython(copy_snapshots_out, copy_snapshots_back),
        migrations.RemoveField(model_name="auditrun", name="snapshot"),
    ]
