"""A demo audit end to end: real worker process, real server, real viewer."""

from collections import Counter

import pytest

from audits.models import AuditEvent, AuditRun, Finding
from audits.runs import start
from audits.runs import status as run_status
from audits.runs import worker as runner
from tests.helpers import read_stream, session_cookie, status_of, wait_for

pytestmark = pytest.mark.server


def assert_clean_log(run: AuditRun) -> list[AuditEvent]:
    events = list(AuditEvent.objects.filter(run=run).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    progress = [e.progress for e in events]
    assert progress == sorted(progress), "progress went backwards"
    principals = Counter(e.payload["principal"]["arn"] for e in events if e.type == "principal")
    assert principals and max(principals.values()) == 1, "a principal was reported twice"
    fingerprints = Counter(Finding.objects.filter(run=run).values_list("fingerprint", flat=True))
    assert not fingerprints or max(fingerprints.values()) == 1
    return events


def test_it_runs_a_demo_audit_and_streams_it_live(server, worker, alice):
    run = start.start_run(alice, source="demo", frameworks=["pci_dss", "hipaa"])
    _, received = read_stream(f"{server}/audits/{run.pk}/events", session_cookie(alice), timeout=120)
    wait_for(lambda: status_of(run) in AuditRun.FINISHED, timeout=10)
    assert status_of(run) == AuditRun.Status.COMPLETED
    events = assert_clean_log(run)
    assert [d["seq"] for d in received] == [e.seq for e in events]
    types = [d["type"] for d in received]
    assert types[0] == "start" and types[-1] == "complete"
    assert {"progress", "thinking", "principal", "finding", "stats"} <= set(types)
    result = received[-1]["result"]
    assert 0 <= result["risk_score"] <= 100
    assert set(result["compliance"]) == {"pci_dss", "hipaa"}
    run.refresh_from_db()
    assert run.risk_score == result["risk_score"]
    assert run.progress == 100
    assert Finding.objects.filter(run=run).count() == types.count("finding")


def test_it_pauses_and_resumes_without_duplicates(transactional_db, worker, alice):
    run = start.start_run(alice, source="demo", frameworks=["cis"])
    wait_for(lambda: AuditEvent.objects.filter(run=run, type="principal").count() >= 2)
    AuditRun.objects.filter(pk=run.pk).update(control="pause")
    wait_for(lambda: status_of(run) == AuditRun.Status.PAUSED)
    paused_at = AuditEvent.objects.filter(run=run).last()
    assert paused_at.type == "paused"
    AuditRun.objects.filter(pk=run.pk).update(status=AuditRun.Status.QUEUED)
    runner.enqueue(run.pk)
    wait_for(lambda: status_of(run) == AuditRun.Status.COMPLETED)
    events = assert_clean_log(run)
    types = [e.type for e in events]
    assert types.count("paused") == 1 and types.count("resumed") == 1
    assert types.index("resumed") == types.index("paused") + 1
    assert types[-1] == "complete"


def test_it_cancels_and_keeps_what_it_found(transactional_db, worker, alice):
    run = start.start_run(alice, source="demo", frameworks=[])
    wait_for(lambda: Finding.objects.filter(run=run).exists())
    AuditRun.objects.filter(pk=run.pk).update(control="cancel")
    wait_for(lambda: status_of(run) in AuditRun.FINISHED)
    assert status_of(run) == AuditRun.Status.CANCELLED
    events = assert_clean_log(run)
    assert events[-1].type == "cancelled"
    assert Finding.objects.filter(run=run).exists()


def test_it_never_runs_one_audit_twice(transactional_db, alice):
    run = AuditRun.objects.create(owner=alice, source="demo")
    assert run_status.claim(run.pk) is not None
    assert run_status.claim(run.pk) is None
    assert runner.execute(run.pk) == "skipped: not queued"
