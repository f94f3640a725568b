#!/usr/bin/env python
"""How long the run page takes to render for runs of 2,000 and of 100,000 stored events, on SQLite.

Builds a throwaway database with one completed demo-shaped run per size (one event in ten a finding, a result
with compliance tables), then requests /audits/<id>/ through Django's test client: the full request path
(middleware, session, queries, template), no network. The page carries the tail of the timeline (the newest
rows, grouped under their principal) and the results, so this is the time to the first paint of the tail; the
older rows come a page at a time from /audits/<id>/timeline?before=SEQ, timed here too (a page from the middle
of the run). Beside them, the timeline search the filter box sends (/audits/<id>/timeline?search=...&upto=N: a
text search over every event, with its count of matches) and a severity filter over every event. Each size's
figures are printed side by side with the 2,000-event run's, the baseline a paged timeline must not grow from.
Ends with ONE JSON line. Target: median under 300 ms for the page and for the search. A benchmark, not a test.

    .venv/bin/python bench/page_render.py [--events 2000,100000] [--repeat 30]
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
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_MS = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="2000,100000")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    sizes = [int(n) for n in args.events.split(",")]

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

    from audits import timeline
    from audits.models import Finding

    call_command("migrate", verbosity=0)
    summary: dict = {"bench": "page_render", "target_ms": TARGET_MS, "load_average": round(os.getloadavg()[0], 2)}
    print(f"# load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.repeat} requests each")
    print(
        f"{'events':>8} {'rows sent':>9} {'KB':>6} {'page median ms':>15} {'p95 ms':>8} {'earlier page ms':>16}"
        f" {'search ms':>10} {'filter ms':>10}"
    )
    baseline = None
    passed = True
    for count in sizes:
        run = build_run(count, owner=f"bench-{count}")
        client = Client()
        client.force_login(run.owner)
        url = f"/audits/{run.pk}/"
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        rows = response.content.count(b'class="event ')
        # The tail only: never every event of a large run.
        assert 0 < rows <= timeline.TAIL + timeline.GROUP_SLACK, rows
        page = _timed(client, url, args.repeat)
        earlier_url = f"/audits/{run.pk}/timeline?before={count // 2}"
        earlier = client.get(earlier_url, HTTP_HX_REQUEST="true")
        assert earlier.status_code == 200 and earlier.content.count(b'class="event ') > 0, earlier.status_code
        older = _timed(client, earlier_url, args.repeat, HTTP_HX_REQUEST="true")
        # A name that occurs in one message in ten thousand: the text search reads every row to find it.
        term = urlencode({"search": f"role-{count // 2 + 1}'"})
        search_url = f"/audits/{run.pk}/timeline?{term}&upto={count}"
        found = client.get(search_url, HTTP_HX_REQUEST="true")
        assert found.status_code == 200 and int(found["X-Aegis-Matches"]) >= 1, found.status_code
        search = _timed(client, search_url, args.repeat, HTTP_HX_REQUEST="true")
        filter_url = f"/audits/{run.pk}/timeline?sev=critical&upto={count}"
        critical = Finding.objects.filter(run=run, severity="critical").count()
        assert int(client.get(filter_url)["X-Aegis-Matches"]) == critical > 0
        severity = _timed(client, filter_url, args.repeat, HTTP_HX_REQUEST="true")
        print(
            f"{count:8d} {rows:9d} {len(response.content) / 1024:6.0f} {page['median']:15.1f} {page['p95']:8.1f}"
            f" {older['median']:16.1f} {search['median']:10.1f} {severity['median']:10.1f}"
        )
        baseline = baseline or page
        passed = passed and page["median"] < TARGET_MS and max(search["median"], severity["median"]) < TARGET_MS
        summary[f"events_{count}_median_ms"] = round(page["median"], 1)
        summary[f"events_{count}_p95_ms"] = round(page["p95"], 1)
        summary[f"events_{count}_earlier_page_median_ms"] = round(older["median"], 1)
        summary[f"events_{count}_search_median_ms"] = round(search["median"], 1)
        summary[f"events_{count}_search_p95_ms"] = round(search["p95"], 1)
        summary[f"events_{count}_severity_filter_median_ms"] = round(severity["median"], 1)
        summary[f"events_{count}_rows_sent"] = rows
        summary[f"events_{count}_bytes"] = len(response.content)
        summary[f"events_{count}_vs_first_size"] = round(page["median"] / baseline["median"], 2)
    print(f"  target median < {TARGET_MS:.0f} ms at every size, page and search: {'PASS' if passed else 'FAIL'}")
    summary["pass"] = passed
    print(json.dumps(summary))


def _timed(client, url: str, repeat: int, **headers) -> dict:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        client.get(url, **headers)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median": statistics.median(times), "p95": times[min(len(times) - 1, int(len(times) * 0.95))]}


def build_run(count: int, owner: str):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from audits.models import AuditEvent, AuditRun, Finding

    user = get_user_model().objects.create_user(owner, password="bench-pw-123")
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
            finding: dict[str, Any] = {
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
                severity=payload["finding"]["severity"] if payload else "",
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
    AuditEvent.objects.bulk_create(events, batch_size=2000)
    Finding.objects.bulk_create(findings, batch_size=2000)
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
