"""The run page, its results block, findings filters, finding detail and the replay page."""

import pytest

from audits.models import AuditRun, Finding
from audits.runs.recorder import Recorder
from tests.helpers import make_run
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_it_renders_history_with_seqs_types_and_live_stats(client, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    recorder = Recorder(run.pk)
    recorder.emit("thinking", "Prioritizing roles", 20)
    recorder.emit("finding", "Admin role", 30, {"finding": make_finding("x", severity="critical")})
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    assert 'class="event ev-thinking" data-seq="1"' in text
    assert 'class="event ev-finding sev-critical" data-seq="2"' in text
    assert 'id="stat-critical">1<' in text
    assert '<progress id="progress" max="100" value="30"' in text
    assert 'data-control="pause">' in text  # a running audit can be paused...
    assert 'data-control="resume" hidden' in text  # ...not resumed
    assert 'hx-trigger="aegis:complete from:body"' in text


def test_it_shows_paused_when_the_paused_event_is_stored_before_the_runs_status(client, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    recorder = Recorder(run.pk)
    recorder.emit("principal", "Analyzed alice", 40)
    recorder.emit("paused", "Paused after alice", 40)  # the worker has not marked the run paused yet
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    assert 'id="run-status" role="status">Paused<' in text
    assert 'data-status="paused"' in text
    assert 'data-control="resume">' in text and 'data-control="pause" hidden' in text


def test_a_page_drawn_before_the_account_is_known_asks_for_the_header_again(client, alice):
    # The worker has claimed the run (started is set) but not yet read the account: the first live event must
    # still refresh the header, or it would read "not known yet" until the run ends.
    from django.utils import timezone

    run = make_run(alice, status=AuditRun.Status.RUNNING, started=timezone.now(), account_id="")
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    assert 'data-started=""' in text and "not known yet" in text
    AuditRun.objects.filter(pk=run.pk).update(account_id="123456789012")
    text = client.get(f"/audits/{run.pk}/").text
    assert 'data-started="1"' in text and "123456789012" in text


def test_it_renders_results_directly_for_a_finished_run(client, alice):
    run = make_completed_run(alice, [make_finding("a", severity="critical"), make_finding("b")])
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    assert 'id="results"' in text and "aegis:complete" not in text
    assert 'class="gauge band-high"' in text and 'stroke-dasharray="64 100"' in text
    assert "Finding a" in text and "Finding b" in text
    assert "Access is least privilege" in text and "not evaluated" in text
    assert 'data-control="cancel" hidden' in text


def test_it_serves_the_results_partial_to_htmx(client, alice):
    run = make_completed_run(alice, [make_finding("a")])
    client.force_login(alice)
    response = client.get(f"/audits/{run.pk}/results", **HTMX)
    assert response.text.lstrip().startswith('<section id="results"')
    assert "<html" not in response.text
    assert client.get(f"/audits/{run.pk}/results")["Location"] == f"/audits/{run.pk}/#results"


def test_it_reads_the_result_from_the_complete_event_before_the_worker_stores_it(client, alice):
    run = make_completed_run(alice, [make_finding("a")], risk_score=77)
    AuditRun.objects.filter(pk=run.pk).update(result=None, status=AuditRun.Status.RUNNING)
    client.force_login(alice)
    assert 'stroke-dasharray="77 100"' in client.get(f"/audits/{run.pk}/results", **HTMX).text


def test_it_filters_findings_with_real_links_and_an_htmx_partial(client, alice):
    run = make_completed_run(
        alice,
        [
            make_finding("crit-role", severity="critical", category="privilege_escalation"),
            make_finding("low-user", severity="low", principal_name="deploy-bot", controls={"hipaa": ["164.312"]}),
        ],
        frameworks=("pci_dss", "hipaa"),
    )
    client.force_login(alice)
    page = client.get(f"/audits/{run.pk}/?severity=critical").text
    table = page.split('<section id="findings"')[1]
    assert "Finding crit-role" in table and "Finding low-user" not in table
    partial = client.get(f"/audits/{run.pk}/?q=deploy", HTTP_HX_TARGET="findings", **HTMX).text
    assert partial.lstrip().startswith('<section id="findings"')
    assert "Finding low-user" in partial and "Finding crit-role" not in partial
    by_framework = client.get(f"/audits/{run.pk}/?framework=hipaa", HTTP_HX_TARGET="findings", **HTMX).text
    assert "Finding low-user" in by_framework and "Finding crit-role" not in by_framework
    by_category = client.get(f"/audits/{run.pk}/?category=privilege_escalation", HTTP_HX_TARGET="findings", **HTMX)
    assert "Finding crit-role" in by_category.text and "Finding low-user" not in by_category.text
    assert f'href="/audits/{run.pk}/?severity=high#findings"' in page


def test_it_shows_a_findings_statements_and_escalation_path(client, alice):
    evidence = {
        "method": "CreatePolicyVersion",
        "how": "Replace a policy with one granting *",
        "actions": ["iam:CreatePolicyVersion"],
        "statements": [{"policy": "Dev", "sid": "S1", "statement": {"Action": "iam:Create*"}}],
    }
    run = make_completed_run(alice, [make_finding("esc", evidence=evidence, title="<img src=x> escalation")])
    finding = Finding.objects.get(run=run)
    client.force_login(alice)
    page = client.get(f"/audits/{run.pk}/findings/{finding.pk}/").text
    assert "CreatePolicyVersion" in page and "Replace a policy with one granting *" in page
    assert "&quot;iam:Create*&quot;" in page and "Scope the policy down." in page
    assert "&lt;img src=x&gt; escalation" in page and "<img src=x>" not in page
    partial = client.get(f"/audits/{run.pk}/findings/{finding.pk}/", **HTMX).text
    assert partial.lstrip().startswith("<article") and "<html" not in partial


def test_it_escapes_names_from_aws_data(client, alice):
    run = make_completed_run(alice, [make_finding("f", principal_name="<script>alert(1)</script>")])
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_it_has_a_replay_page_following_the_replay_stream(client, alice):
    run = make_completed_run(alice, [])
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/playback?speed=16").text
    assert f'data-events-url="/audits/{run.pk}/replay?speed=16"' in text
    assert f'href="/audits/{run.pk}/playback?speed=4"' in text


@pytest.mark.parametrize("speed", ["abc", "1000", "0", "-4"])
def test_it_says_clearly_when_a_replay_speed_is_out_of_range(client, alice, speed):
    run = make_completed_run(alice, [])
    client.force_login(alice)
    response = client.get(f"/audits/{run.pk}/playback?speed={speed}")
    assert response.status_code == 400
    assert 'id="speed-error"' in response.text and "choose a number from 0.25 to 100" in response.text
    assert "data-events-url" in response.text and "run.js" not in response.text  # nothing plays at a wrong speed


def test_it_has_no_inline_scripts_or_styles(client, alice):
    run = make_completed_run(alice, [make_finding("a")])
    client.force_login(alice)
    finding = Finding.objects.get(run=run)
    for url in (
        "/audits/",
        "/audits/new",
        f"/audits/{run.pk}/",
        f"/audits/{run.pk}/playback",
        f"/audits/{run.pk}/findings/{finding.pk}/",
        f"/audits/{run.pk}/compare",
        "/audits/connections/",
        f"/audits/{run.pk}/cancel",
        "/audits/99999/",
    ):
        text = client.get(url).text
        assert " style=" not in text, url
        assert "<script>" not in text and "<style" not in text, url
        assert " on" + "click=" not in text, url


def test_it_hides_every_run_page_from_strangers(client, alice, bob, reviewer):
    run = make_completed_run(alice, [make_finding("a")])
    finding = Finding.objects.get(run=run)
    urls = [
        f"/audits/{run.pk}/results",
        f"/audits/{run.pk}/playback",
        f"/audits/{run.pk}/compare",
        f"/audits/{run.pk}/findings/{finding.pk}/",
        f"/audits/{run.pk}/export/log.txt",
    ]
    client.force_login(bob)
    for url in urls:
        assert client.get(url, **HTMX).status_code == 404, url
    client.force_login(reviewer)
    assert client.get(f"/audits/{run.pk}/playback").status_code == 200


def test_it_refuses_the_wrong_methods_on_run_pages(client, alice):
    run = make_completed_run(alice, [make_finding("a")])
    finding = Finding.objects.get(run=run)
    client.force_login(alice)
    for url in (
        f"/audits/{run.pk}/results",
        f"/audits/{run.pk}/playback",
        f"/audits/{run.pk}/compare",
        f"/audits/{run.pk}/findings/{finding.pk}/",
        f"/audits/{run.pk}/export/log.txt",
    ):
        assert client.post(url).status_code == 405, url


def test_it_shows_run_controls_to_the_owner_only(client, alice, reviewer):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    client.force_login(reviewer)
    text = client.get(f"/audits/{run.pk}/").text
    assert not any(f'data-control="{c}"' in text for c in ("pause", "resume", "cancel", "retry"))
    client.force_login(alice)
    assert 'data-control="pause"' in client.get(f"/audits/{run.pk}/").text


def test_it_shows_plain_evidence_as_text_and_the_rest_as_json(client, alice):
    evidence = {"policies": ["AdministratorAccess", "PowerUser"], "key": {"age_days": 400}}
    run = make_completed_run(alice, [make_finding("e", evidence=evidence)])
    finding = Finding.objects.get(run=run)
    client.force_login(alice)
    page = client.get(f"/audits/{run.pk}/findings/{finding.pk}/").text
    assert '<span class="mono">AdministratorAccess, PowerUser</span>' in page
    assert "&quot;age_days&quot;: 400" in page


def test_compliance_rows_link_to_the_findings_that_fail_them(client, alice, settings):
    from audits.models import AuditRun, Finding
    from audits.runs import start, worker

    settings.AEGIS_DEMO_STEP_MS = 0
    run = start.start_run(alice, source="demo", frameworks=["cis"])
    assert worker.execute(run.pk) == "completed"
    run = AuditRun.objects.get(pk=run.pk)
    failing = next(c for c in run.result["compliance"]["cis"]["controls"] if c["findings"])
    client.force_login(alice)
    page = client.get(f"/audits/{run.pk}/").text
    link = f"/audits/{run.pk}/?control=cis%3A{failing['id']}#findings"
    assert link.replace("&", "&amp;") in page or link in page
    filtered = client.get(f"/audits/{run.pk}/", {"control": f"cis:{failing['id']}", "page_size": 200}).text
    shown = {f.pk for f in Finding.objects.filter(run=run) if f"/findings/{f.pk}/" in filtered}
    expected = set(Finding.objects.filter(run=run, fingerprint__in=failing["findings"]).values_list("pk", flat=True))
    assert shown == expected and 'id="control-filter"' in filtered
    # A malformed or unknown control is ignored, not an error.
    assert client.get(f"/audits/{run.pk}/", {"control": "nonsense"}).status_code == 200
