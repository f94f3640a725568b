"""Timeline filters and search answered by the server over every stored event, and counters taken from the same
snapshot as the rows they sit beside."""

import json
import re

import pytest

from audits import timeline
from audits.models import SEVERITIES, AuditEvent, AuditRun, Finding
from audits.runs.recorder import Recorder
from audits.stream import opening
from audits.stream.errors import StreamError
from tests.helpers import make_run
from tests.view_helpers import make_finding

pytestmark = pytest.mark.django_db
ARN = "arn:aws:iam::111122223333:user/{}"


def rendered_seqs(text: str) -> list[int]:
    return [int(s) for s in re.findall(r'<li class="event [^"]*" data-seq="(\d+)"', text)]


def long_run(owner, *, events: int = 1000, critical_every: int = 60) -> AuditRun:
    """A finished run of `events` events; every `critical_every`th one a critical finding, the rest progress lines.
    Event 5 is bob.dev's principal line, far before the rendered tail."""
    run = make_run(owner, status=AuditRun.Status.COMPLETED)
    rows, findings = [], []
    for seq in range(1, events + 1):
        if seq % critical_every == 0:
            finding = make_finding(f"crit-{seq}", severity="critical")
            message = f"[CRITICAL] {finding['title']}"
            rows.append(AuditEvent(run=run, seq=seq, type="finding", message=message, payload={"finding": finding}))
            rows[-1].severity = "critical"
            findings.append(Finding(run=run, seq=seq, **finding))
        elif seq == 5:
            principal = {"type": "user", "name": "bob.dev", "arn": ARN.format("bob.dev")}
            message = "Analyzing user 'bob.dev' (1/9)... no issues"
            rows.append(
                AuditEvent(run=run, seq=seq, type="principal", message=message, payload={"principal": principal})
            )
            rows[-1].principal_arn = principal["arn"]
        else:
            rows.append(AuditEvent(run=run, seq=seq, type="progress", message=f"step {seq}"))
    AuditEvent.objects.bulk_create(rows)
    Finding.objects.bulk_create(findings)
    AuditRun.objects.filter(pk=run.pk).update(last_seq=events)
    run.refresh_from_db()
    return run


def test_a_severity_filter_finds_every_match_in_the_run_not_only_the_loaded_tail(client, alice):
    run = long_run(alice)
    client.force_login(alice)
    page = client.get(f"/audits/{run.pk}/").text
    loaded = rendered_seqs(page)
    critical = [seq for seq in range(60, 1001, 60)]
    assert len(critical) == 16 and len([seq for seq in critical if seq in loaded]) < 16
    response = client.get(f"/audits/{run.pk}/timeline?sev=critical&upto={run.last_seq}", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert rendered_seqs(response.text) == critical  # newest last, as the timeline reads
    assert response["X-Aegis-Matches"] == "16"
    assert "Load earlier" not in response.text


def test_a_search_reaches_events_long_before_the_tail(client, alice):
    run = long_run(alice)
    client.force_login(alice)
    assert 5 not in rendered_seqs(client.get(f"/audits/{run.pk}/").text)
    response = client.get(f"/audits/{run.pk}/timeline?search=BOB.DEV")
    assert rendered_seqs(response.text) == [5]
    assert response["X-Aegis-Matches"] == "1"
    assert client.get(f"/audits/{run.pk}/timeline?search=nobody-here")["X-Aegis-Matches"] == "0"


def test_matches_come_a_page_at_a_time_newest_first_with_the_total(client, alice):
    run = long_run(alice, events=1000, critical_every=2)  # 500 critical findings
    client.force_login(alice)
    first = client.get(f"/audits/{run.pk}/timeline?type=finding", HTTP_HX_REQUEST="true")
    seqs = rendered_seqs(first.text)
    assert first["X-Aegis-Matches"] == "500"
    assert seqs == list(range(602, 1001, 2))  # the newest 200 matches
    earlier = re.search(r'hx-get="[^"]*\?before=(\d+)"', first.text).group(1)
    assert int(earlier) == 602 and 'hx-include="#timeline-filters"' in first.text
    second = client.get(f"/audits/{run.pk}/timeline?before={earlier}&type=finding", HTTP_HX_REQUEST="true")
    assert rendered_seqs(second.text) == list(range(202, 601, 2))
    assert "X-Aegis-Matches" not in second  # counted once, on the first page


def test_a_search_stops_at_the_last_event_the_viewer_has(client, alice):
    """The stream brings what follows `upto`: the search must not count those rows as well."""
    run = long_run(alice)
    client.force_login(alice)
    response = client.get(f"/audits/{run.pk}/timeline?sev=critical&upto=600")
    assert rendered_seqs(response.text) == list(range(60, 601, 60))
    assert response["X-Aegis-Matches"] == "10"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?type=bogus",
        "?upto=10",
        "?before=abc&sev=high",
        "?sev=high&upto=x",
        "?sev=high&upto=%C2%B2",
        "?search=a&upto=-1",
    ],
)
def test_it_refuses_a_timeline_request_it_cannot_answer_with_a_400(client, alice, query):
    run = long_run(alice, events=20)
    client.force_login(alice)
    response = client.get(f"/audits/{run.pk}/timeline{query}")
    assert response.status_code == 400 and "whole number" in response.text


def test_the_search_is_the_owners_only(client, alice, bob):
    run = long_run(alice, events=20)
    client.force_login(bob)
    assert client.get(f"/audits/{run.pk}/timeline?search=bob").status_code == 404


def test_the_counters_stop_at_the_last_rendered_row(client, alice):
    """A finding stored after the page read its rows arrives by the stream; counting it on the page too made
    High 15 show against 12 stored."""
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    recorder = Recorder(run.pk)
    for i in range(3):
        recorder.emit("finding", f"[HIGH] issue {i}", None, {"finding": make_finding(f"h{i}")})
    # As if the worker committed seq 4 between the page's two reads: the row is in the count query's view only.
    Finding.objects.create(run=run, seq=4, **make_finding("late"))
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    assert 'data-last-seq="3"' in text
    assert 'id="stat-high">3<' in text
    assert "Finding late" not in text  # nor in the side feed, which the stream fills too
    assert timeline.severity_counts(run, through=4)["high"] == 4


def test_accepted_risks_are_left_out_of_the_counters_as_the_stream_leaves_them_out(client, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    recorder = Recorder(run.pk)
    recorder.emit("finding", "[CRITICAL] kept", None, {"finding": make_finding("kept", severity="critical")})
    accepted = make_finding("accepted", severity="critical", suppressed=True)
    recorder.emit("finding", "[CRITICAL] accepted (suppressed: accepted risk)", None, {"finding": accepted})
    assert Finding.objects.get(run=run, fingerprint="accepted").suppressed
    client.force_login(alice)
    assert 'id="stat-critical">1<' in client.get(f"/audits/{run.pk}/").text
    seek = client.get(f"/audits/{run.pk}/timeline?before=3")
    assert json.loads(seek["X-Aegis-Counts"]) == {sev: (1 if sev == "critical" else 0) for sev in SEVERITIES}
    # The timeline still lists the accepted finding: it is an event of the run.
    assert client.get(f"/audits/{run.pk}/timeline?sev=critical")["X-Aegis-Matches"] == "2"


@pytest.mark.parametrize("speed", ["0.25", "0.5"])
def test_replays_play_slower_than_real_time(client, alice, speed):
    assert opening.parse_speed(speed) == float(speed)
    run = make_run(alice, status=AuditRun.Status.COMPLETED)
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/playback?speed={speed}").text
    assert f'data-events-url="/audits/{run.pk}/replay?speed={speed}"' in text
    assert f'aria-current="true">{speed}\N{MULTIPLICATION SIGN}<' in text
    assert 'min="0.25"' in text


@pytest.mark.parametrize("speed", ["0.2", "0", "100.5"])
def test_speeds_out_of_range_are_refused(speed):
    with pytest.raises(StreamError, match=r"from 0\.25 to 100"):
        opening.parse_speed(speed)
