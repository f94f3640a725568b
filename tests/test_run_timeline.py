"""The run page's timeline: the tail first, older windows on demand, findings under their principal."""

import json
import re

import pytest

from audits import timeline
from audits.models import AuditEvent, AuditRun
from audits.runs.recorder import Recorder
from tests.helpers import make_run
from tests.view_helpers import make_finding

pytestmark = pytest.mark.django_db
ARN = "arn:aws:iam::111122223333:role/{}"


def audit_principals(recorder: Recorder, names: list[str], findings_each: int = 2) -> None:
    """What the engine emits: each principal's findings, then its "Analyzing X" checkpoint."""
    for i, name in enumerate(names, 1):
        for j in range(findings_each):
            recorder.emit(
                "finding",
                f"[HIGH] issue {j}: role '{name}'",
                None,
                {"finding": make_finding(f"{name}-{j}", principal_arn=ARN.format(name), principal_name=name)},
            )
        recorder.emit(
            "principal",
            f"Analyzing role '{name}' ({i}/{len(names)})... found issues",
            None,
            {"principal": {"type": "role", "name": name, "arn": ARN.format(name)}, "index": i, "total": len(names)},
        )


def rendered_rows(text: str) -> list[tuple[str, str]]:
    return re.findall(r'<li class="event ev-(\w+)[^"]*"(?: data-seq="(\d+)")?', text)


def test_it_puts_findings_after_the_principal_line_they_belong_to(client, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    recorder = Recorder(run.pk)
    recorder.emit("start", "Audit started", 1)
    audit_principals(recorder, ["alpha", "beta"])
    client.force_login(alice)
    rows = rendered_rows(client.get(f"/audits/{run.pk}/").text)
    assert rows == [
        ("start", "1"),
        ("principal", "4"),
        ("finding", "2"),
        ("finding", "3"),
        ("principal", "7"),
        ("finding", "5"),
        ("finding", "6"),
    ]


def test_it_gives_findings_still_waiting_for_their_principal_a_placeholder_head(client, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    Recorder(run.pk).emit(
        "finding",
        "[HIGH] issue",
        None,
        {"finding": make_finding("x", principal_name="gamma", principal_arn=ARN.format("gamma"))},
    )
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    assert f'<li class="event ev-principal pending" data-principal="{ARN.format("gamma")}"' in text
    assert "Analyzing gamma…" in text


def test_it_renders_only_the_tail_and_pages_older_events_by_seq(client, alice):
    run = make_run(alice, status=AuditRun.Status.COMPLETED)
    AuditEvent.objects.bulk_create(
        [AuditEvent(run=run, seq=i, type="progress", message=f"step {i}", progress=0) for i in range(1, 1001)]
    )
    AuditRun.objects.filter(pk=run.pk).update(last_seq=1000)
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    seqs = [int(s) for _, s in rendered_rows(text)]
    assert seqs == list(range(801, 1001))
    assert 'data-last-seq="1000"' in text  # the stream continues after the last rendered row
    assert f'hx-get="/audits/{run.pk}/timeline?before=801"' in text
    older = client.get(f"/audits/{run.pk}/timeline?before=801", HTTP_HX_REQUEST="true")
    assert [int(s) for _, s in rendered_rows(older.text)] == list(range(601, 801))
    assert "before=601" in older.text and "<html" not in older.text
    first = client.get(f"/audits/{run.pk}/timeline?before=201").text
    assert [int(s) for _, s in rendered_rows(first)] == list(range(1, 201)) and "Load earlier" not in first


def test_it_never_cuts_a_principal_group_across_two_windows(alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    recorder = Recorder(run.pk)
    audit_principals(recorder, [f"p{i}" for i in range(80)], findings_each=4)  # 400 events
    tail = timeline.window(run)
    older = timeline.window(run, before=tail.earlier)
    for window in (tail, older):
        assert not any(row.get("pending") for row in window.rows)
    shown = [r["seq"] for r in older.rows + tail.rows]
    assert sorted(shown) == list(range(min(shown), 401))


def test_it_filters_older_windows_on_the_server(client, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    recorder = Recorder(run.pk)
    recorder.emit("finding", "[CRITICAL] root keys", None, {"finding": make_finding("crit", severity="critical")})
    audit_principals(recorder, ["a", "b"])
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/timeline?before=999&sev=critical").text
    assert rendered_rows(text) == [("finding", "1")]
    text = client.get(f"/audits/{run.pk}/timeline?before=999&type=principal&search=analyzing role 'b'").text
    assert rendered_rows(text) == [("principal", "7")]


def test_it_sends_the_counts_before_a_seek_point(client, alice):
    run = make_run(alice, status=AuditRun.Status.COMPLETED)
    audit_principals(Recorder(run.pk), ["a", "b"])
    client.force_login(alice)
    response = client.get(f"/audits/{run.pk}/timeline?before=4")
    assert json.loads(response["X-Aegis-Counts"])["high"] == 2


@pytest.mark.parametrize("before", ["", "abc", "²", "-1", "99999999999999999999"])
def test_it_refuses_a_bad_seq_with_a_400(client, alice, before):
    run = make_run(alice)
    client.force_login(alice)
    response = client.get(f"/audits/{run.pk}/timeline?before={before}")
    assert response.status_code == 400 and "whole number" in response.text


def test_it_hides_the_timeline_and_header_from_strangers(client, alice, bob):
    run = make_run(alice)
    client.force_login(bob)
    assert client.get(f"/audits/{run.pk}/timeline?before=5").status_code == 404
    assert client.get(f"/audits/{run.pk}/head").status_code == 404
    assert client.post(f"/audits/{run.pk}/timeline?before=5").status_code == 405


def test_it_counts_every_severity_and_relabels_the_counters_when_finished(client, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    recorder = Recorder(run.pk)
    for sev in ("low", "info"):
        recorder.emit("finding", sev, None, {"finding": make_finding(sev, severity=sev)})
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    assert 'id="stat-low">1<' in text and 'id="stat-info">1<' in text
    assert ">Findings so far<" in text
    AuditRun.objects.filter(pk=run.pk).update(status=AuditRun.Status.CANCELLED)
    assert ">Findings so far<" not in client.get(f"/audits/{run.pk}/").text


def test_it_announces_summaries_not_rows(client, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    timeline_tag = re.search(r'<ol class="timeline"[^>]*>', text).group()
    assert "aria-live" not in timeline_tag and 'role="log"' not in timeline_tag
    assert re.search(r'<p id="announcer"[^>]*aria-live="polite"', text)


def test_it_fills_the_header_in_once_the_worker_starts(client, alice):
    run = make_run(alice, status=AuditRun.Status.QUEUED)
    client.force_login(alice)
    assert "waiting for a worker" in client.get(f"/audits/{run.pk}/").text
    from django.utils import timezone

    AuditRun.objects.filter(pk=run.pk).update(account_id="123456789012", started=timezone.now())
    head = client.get(f"/audits/{run.pk}/head", HTTP_HX_REQUEST="true").text
    assert head.lstrip().startswith('<p class="meta" id="run-meta"') and "123456789012" in head
    assert "waiting for a worker" not in head
