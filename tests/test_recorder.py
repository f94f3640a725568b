"""The recorder: gap-free seqs across processes, progress that never goes back, findings once."""

import subprocess
import sys

import pytest

from audits.models import AuditEvent, AuditRun, Finding
from audits.runs.recorder import Recorder
from tests.helpers import ROOT, make_run, subprocess_env

WRITER = """
import django, sys; django.setup()
from audits.runs.recorder import Recorder
rec = Recorder(int(sys.argv[1]))
for i in range(int(sys.argv[2])):
    rec.emit("progress", f"writer {sys.argv[3]} event {i}", 10)
"""


def finding(fingerprint: str = "f" * 64, **extra) -> dict:
    return {
        "check_id": "iam_admin_policy_attached", "category": "admin_access", "severity": "critical",
        "principal_arn": "arn:aws:iam::123456789012:role/ProdAdmin", "principal_type": "role",
        "principal_name": "ProdAdmin", "policy": "AdministratorAccess", "title": "Admin access",
        "detail": "", "evidence": {"statements": []}, "remediation": "Scope it down.",
        "controls": {"cis": ["1.16"]}, "fingerprint": fingerprint,
    } | extra  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_it_gives_gap_free_seqs_to_concurrent_writer_processes(alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(run.pk), "40", str(n)], cwd=ROOT, env=subprocess_env())
        for n in range(4)
    ]
    assert [w.wait(120) for w in writers] == [0, 0, 0, 0]
    seqs = list(AuditEvent.objects.filter(run=run).values_list("seq", flat=True))
    assert seqs == list(range(1, 161))
    run.refresh_from_db()
    assert run.last_seq == 160
    for n in range(4):
        # each writer's own events keep their order
        mine = AuditEvent.objects.filter(run=run, message__startswith=f"writer {n} ").order_by("seq")
        assert [int(m.split()[-1]) for m in mine.values_list("message", flat=True)] == list(range(40))


@pytest.mark.django_db
def test_it_keeps_progress_from_going_backwards(alice):
    run = make_run(alice)
    recorder = Recorder(run.pk)
    recorder.emit("progress", "a", 40)
    event = recorder.emit("progress", "b", 20)
    assert event.progress == 40
    assert recorder.emit("progress", "c", 250).progress == 100
    run.refresh_from_db()
    assert run.progress == 100


@pytest.mark.django_db
def test_it_stores_a_finding_with_its_event_once(alice):
    run = make_run(alice)
    recorder = Recorder(run.pk)
    first = recorder.emit("finding", "Found admin", 30, {"finding": finding()})
    again = recorder.emit("finding", "Found admin", 31, {"finding": finding()})
    assert first is not None and again is None
    stored = Finding.objects.get(run=run)
    assert stored.seq == first.seq
    assert stored.controls == {"cis": ["1.16"]}
    assert AuditEvent.objects.filter(run=run).count() == 1


@pytest.mark.django_db
def test_it_saves_the_checkpoint_with_the_event(alice):
    run = make_run(alice)
    Recorder(run.pk).emit("principal", "Analyzing role 'x' (3/9)", 30, {"checkpoint": {"principals_done": 3}})
    run.refresh_from_db()
    assert run.checkpoint == {"principals_done": 3}
    assert run.last_seq == 1


@pytest.mark.django_db
def test_it_refuses_an_unknown_event_type(alice):
    run = make_run(alice)
    with pytest.raises(ValueError, match="unknown event type"):
        Recorder(run.pk).emit("gossip", "nope", 1)
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_it_shapes_events_for_the_wire(alice):
    run = make_run(alice)
    event = Recorder(run.pk).emit("stats", "Found 1 critical", 50, {"stats": {"critical": 1}, "seq": 999})
    data = event.to_event_dict()
    assert data["seq"] == 1  # payload fields never override the core ones
    assert data["stats"] == {"critical": 1}
    assert data["ts"].endswith("Z")
