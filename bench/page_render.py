#!/usr/bin/env python
"""How long the run page takes to render for a run with 2,000 stored events, on SQLite.

Builds a throwaway database with one completed demo-shaped run (2,000 events, one in ten a
finding, a result with compliance tables), then requests /audits/<id>/ through Django's test
client: the full request path (middleware, session, queries, template), no network, and without
the test environment's template instrumentation (which copies every context). Prints the
timings and ends with ONE JSON line. Target: median under 300 ms. A benchmark, not a test.

    .venv/bin/python bench/page_render.py [--events 2000] [--repeat 30]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_MS = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="aegis-page-bench-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="aegis_site.settings",
        AEGIS_DEV="1",
        AEGIS_DATA_DIR=tmp,
        AEGIS_DB_PATH=os.path.join(tmp, "bench.sqlite3"),
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    run = build_run(args.events)

    client = Client()
    client.force_login(run.owner)
    url = f"/audits/{run.pk}/"
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    rows = response.content.count(b'class="event ')
    assert rows == args.events, rows
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    median = statistics.median(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"run page, {args.events} events, {run.findings.count()} findings, {len(response.content) / 1024:.0f} KB")
    print(
        f"  median {median:.1f} ms   p95 {p95:.1f} ms   min {times[0]:.1f} ms   max {times[-1]:.1f} ms"
        f"   ({args.repeat} requests)"
    )
    print(f"  target median < {TARGET_MS:.0f} ms: {'PASS' if median < TARGET_MS else 'FAIL'}")
    print(
        json.dumps(
            {
                "bench": "page_render",
                "events": args.events,
                "findings": run.findings.count(),
                "median_ms": round(median, 1),
                "p95_ms": round(p95, 1),
                "min_ms": round(times[0], 1),
                "bytes": len(response.content),
                "target_ms": TARGET_MS,
                "pass": median < TARGET_MS,
            }
        )
    )


def build_run(count: int):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from audits.models import AuditEvent, AuditRun, Finding

    user = get_user_model().objects.create_user("bench", password="bench-pw-123")
    start = timezone.now() - timedelta(minutes=10)
    run = AuditRun.objects.create(
        owner=user,
        status=AuditRun.Status.RUNNING,
        frameworks=["pci_dss", "cis"],
        account_id="123456789012",
        started=start,
    )
    severities = ["critical", "high", "medium", "low"]
    events, findings = [], []
    for seq in range(1, count + 1):
        kind = "finding" if seq % 10 == 0 else ("thinking" if seq % 7 == 0 else "principal")
        payload, message = {}, f"Analyzing role 'Role-{seq}' ({seq}/{count})... found 0 issues"
        if seq == 1:
            kind, message = "start", "Audit started"
        elif seq == count:
            kind, message = "complete", "Audit complete!"
        if kind == "finding":
            finding = {
                "check_id": "iam_admin",
                "category": "privilege",
                "severity": severities[seq % 4],
                "principal_arn": f"arn:aws:iam::123456789012:role/Role-{seq}",
                "principal_type": "role",
                "principal_name": f"Role-{seq}",
                "policy": "Admin",
                "title": f"Role-{seq} is an admin",
                "detail": "Allows * on *.",
                "evidence": {"statements": [{"statement": {"Action": "*"}}]},
                "remediation": "Scope it down.",
                "controls": {"pci_dss": ["7.2.1"], "cis": ["1.16"]},
                "fingerprint": f"fp-{seq}",
            }
            payload = {"finding": finding}
            message = finding["title"]
            findings.append(Finding(run=run, seq=seq, **finding))
        events.append(
            AuditEvent(
                run=run,
                seq=seq,
                type=kind,
                message=message,
                progress=min(100, seq * 100 // count),
                payload=payload,
                created=start + timedelta(milliseconds=200 * seq),
            )
        )
    controls = [
        {
            "id": f"{i}.1",
            "title": f"Control {i}",
            "status": ["pass", "fail", "not_evaluated"][i % 3],
            "checks": [],
            "findings": [],
        }
        for i in range(40)
    ]
    result = {
        "success": True,
        "risk_score": 81,
        "risk_band": "critical",
        "audit_summary": {
            "account_id": "123456789012",
            "principals": {"users": 40, "roles": 1500, "groups": 10, "policies": 300},
            "findings": len(findings),
            "by_severity": {},
            "by_category": {},
        },
        "frameworks": ["pci_dss", "cis"],
        "compliance": {
            fw: {"name": fw, "controls": controls, "passed": 14, "failed": 13, "not_evaluated": 13}
            for fw in ("pci_dss", "cis")
        },
        "patterns": [],
        "top_risks": [],
    }
    events[-1].payload = {"result": result}
    AuditEvent.objects.bulk_create(events, batch_size=500)
    Finding.objects.bulk_create(findings, batch_size=500)
    AuditRun.objects.filter(pk=run.pk).update(
        status=AuditRun.Status.COMPLETED,
        last_seq=count,
        progress=100,
        result=result,
        risk_score=81,
        finished=timezone.now(),
    )
    run.refresh_from_db()
    return run


if __name__ == "__main__":
    main()
