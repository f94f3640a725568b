"""Memory per event, finding, stream and export stays bounded whatever the input (size caps, pages)."""

import asyncio
import inspect
import json

import httpx
import pytest
from django.db import transaction

from audits import exports
from audits.iam import CHECKS, report
from audits.iam.remediation import fix_for
from audits.models import AuditEvent, AuditRun, Finding
from audits.runs import inputs, start
from audits.runs.recorder import Recorder
from audits.size_caps import TRUNCATED_NOTE
from audits.stream import opening
from audits.stream.access import Grant, Lease
from audits.stream.auth import Credential
from audits.stream.db import in_request_thread
from tests.helpers import make_finished_run, make_run, session_cookie, status_of, wait_for
from tests.view_helpers import make_completed_run, make_finding

MILLION_VALUES = 1_200_000


def huge_statement(values: int = MILLION_VALUES) -> dict:
    addresses = [f"2001:db8:{i // 65536:04x}:{i % 65536:04x}::1/128" for i in range(values)]
    return {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": addresses}}}


def stored_size(value) -> int:
    return len(json.dumps(value))  # as the database stores JSON


@pytest.mark.django_db
def test_a_finding_with_a_million_condition_values_is_stored_capped_and_marked(alice, settings):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    statement = huge_statement()
    # The same statement shared by many methods, as the engine builds escalation evidence: 1.7 GB as JSON.
    evidence = {"methods": [{"method": f"m{i}", "statements": [{"statement": statement}] * 3} for i in range(40)]}
    finding = make_finding(
        "big", evidence=evidence, detail="values: " + ", ".join(statement["Condition"]["IpAddress"]["aws:SourceIp"])
    )
    event = Recorder(run.pk).emit("finding", f"[HIGH] {finding['title']}", 50, {"finding": finding})

    stored = Finding.objects.get(run=run)
    assert (stored.check_id, stored.severity, stored.principal_arn, stored.title, stored.fingerprint) == (
        finding["check_id"], finding["severity"], finding["principal_arn"], finding["title"], "big",
    )  # fmt: skip
    assert stored.evidence["truncated"] is True and stored.evidence["truncated_note"] == TRUNCATED_NOTE
    assert stored.evidence["methods"][0]["statements"][0]["statement"]["Effect"] == "Allow"  # still the shape
    row = stored.to_dict()
    assert stored_size(row) <= settings.AEGIS_MAX_FINDING_BYTES
    assert stored.detail.endswith("(truncated)")
    payload = AuditEvent.objects.get(pk=event.pk).payload
    assert payload["finding"]["truncated"] is True
    assert stored_size(payload) <= settings.AEGIS_MAX_FINDING_BYTES + 100


@pytest.mark.django_db
def test_an_event_over_its_cap_is_stored_capped_and_keeps_its_checkpoint(alice, settings):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    payload = {"principal": {"arn": "arn:aws:iam::111122223333:user/a"}, "skipped": list(range(500_000)),
               "checkpoint": {"principals_done": 7}}  # fmt: skip
    event = Recorder(run.pk).emit("principal", "x" * 1_000_000, 40, payload)

    stored = AuditEvent.objects.get(pk=event.pk)
    assert len(stored.message) <= settings.AEGIS_MAX_MESSAGE_CHARS and stored.message.endswith("(truncated)")
    assert stored.payload["truncated"] is True
    assert stored.payload["checkpoint"] == {"principals_done": 7}
    assert stored.payload["principal"] == payload["principal"]
    assert stored.payload["skipped"][-1] == f"{500_000 - len(stored.payload['skipped']) + 1} more not shown (truncated)"
    assert stored_size(stored.payload) <= settings.AEGIS_MAX_EVENT_BYTES + 100
    run.refresh_from_db()
    assert run.checkpoint == {"principals_done": 7}


@pytest.mark.django_db
def test_a_complete_event_keeps_its_result_whole_but_cuts_its_long_strings(alice, settings):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    fingerprints = [f"fp{i}" for i in range(20_000)]  # a big account's compliance table lists every finding
    result = {"risk_score": 80, "compliance": {"cis": {"controls": [{"id": "1", "findings": fingerprints}]}},
              "top_risks": [{"title": "t", "detail": "d" * 5_000_000}]}  # fmt: skip
    event = Recorder(run.pk).emit("complete", "done", 100, {"result": result})

    stored = AuditEvent.objects.get(pk=event.pk).payload["result"]
    assert stored["compliance"] == result["compliance"]
    assert len(stored["top_risks"][0]["detail"]) == settings.AEGIS_MAX_RESULT_TEXT_CHARS


@pytest.mark.django_db
def test_an_event_within_its_caps_is_stored_exactly_as_emitted(alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    finding = make_finding("small")
    payload = {"finding": finding, "note": "é" * 100, "checkpoint": {"principals_done": 1}}
    event = Recorder(run.pk).emit("finding", "[HIGH] Finding small", 30, payload)

    stored = AuditEvent.objects.get(pk=event.pk).payload
    # Equal as JSON values; key order is the database's own (PostgreSQL's jsonb sorts keys, SQLite keeps them).
    assert stored == payload and stored["finding"] == finding
    assert "truncated" not in stored["finding"]["evidence"]


def _stream(run: AuditRun, alice, after: int) -> tuple[list[int], list[int]]:
    """(the ids the live stream sends, the size of each page it read) for a viewer resuming after `after`."""
    pages: list[int] = []
    key = session_cookie(alice)["sessionid"]

    async def read(fn, *args):
        result = await in_request_thread(fn, *args)
        pages.append(len(result.frames))
        return result

    async def follow() -> list[bytes]:
        opened = await in_request_thread(opening.open_kind, "events", Credential.of(key, None), run.pk, after)
        assert isinstance(opened, opening.Opening)  # "events" opens the live stream, not a replay
        pages.append(len(opened.backlog))
        lease = Lease(Grant((Credential("session", key), run.pk, alice.pk)))
        return [chunk async for chunk in opening.live_frames(opened, lease, read)]

    body = b"".join(asyncio.run(follow())).decode()
    ids = [int(line[4:]) for line in body.splitlines() if line.startswith("id: ")]
    return ids, pages


@pytest.mark.django_db(transaction=True)
def test_a_stream_serves_a_long_backlog_page_by_page_and_resumes_exactly(alice, settings):
    settings.AEGIS_STREAM_PAGE = 7
    run = make_finished_run(alice, count=40)

    ids, pages = _stream(run, alice, after=0)
    assert ids == list(range(1, 41))  # in order, none missing, none twice
    assert pages == [7, 7, 7, 7, 7, 5]  # never more than a page held at once

    ids, pages = _stream(run, alice, after=23)
    assert ids == list(range(24, 41))
    assert pages == [7, 7, 3]


@pytest.mark.django_db(transaction=True)
def test_log_ndjson_of_a_big_run_streams_page_by_page_under_wsgi_and_asgi(client, alice, settings, monkeypatch):
    settings.AEGIS_EXPORT_PAGE = 50
    monkeypatch.setattr(exports, "EXPORT_CHUNK_BYTES", 4096)
    run = make_finished_run(alice, count=1200)
    client.force_login(alice)
    response = client.get(f"/audits/{run.pk}/export/log.ndjson")
    assert response.status_code == 200 and response.streaming
    expected = [e.to_event_dict() for e in AuditEvent.objects.filter(run=run).order_by("seq")]
    body = b"".join(response.streaming_content)
    assert [json.loads(line) for line in body.decode().splitlines()] == expected

    async def served_as_asgi() -> bytes:
        streamed = exports.response_for(run, "log.ndjson")
        return b"".join([chunk async for chunk in streamed])

    assert asyncio.run(served_as_asgi()) == body

    async def first_chunk_only() -> tuple[bytes, str]:
        streamed = exports.response_for(run, "log.ndjson")
        parts = aiter(streamed)  # how Django's ASGI handler reads a streaming response
        first = await anext(parts)
        state = inspect.getgeneratorstate(streamed._iterator)
        await parts.aclose()
        streamed.close()
        return first, state

    first, state = asyncio.run(first_chunk_only())
    assert state == inspect.GEN_SUSPENDED  # the rest of the log is not read until the client takes this chunk
    assert body.startswith(first) and len(first) < len(body)


@pytest.mark.django_db
def test_findings_exports_of_a_big_run_stream_the_report_bytes(client, alice, settings):
    settings.AEGIS_EXPORT_PAGE = 3
    severities = ["low", "critical", "info", "high", "medium", "weird"]
    findings = [
        make_finding(f"f{i:02d}", severity=severities[i % 6], check_id=f"check_{i % 4}",
                     principal_arn=f"arn:aws:iam::111122223333:role/{'Zz' if i % 2 else 'aa'}-é{i % 3}")
        for i in range(20)
    ]  # fmt: skip
    run = make_completed_run(alice, findings)
    Finding.objects.filter(run=run, fingerprint="f03").update(suppressed=True)
    client.force_login(alice)
    run.refresh_from_db()
    meta = exports.run_meta(run)
    stored = [f.to_dict() | exports.marks(f, {}) for f in Finding.objects.filter(run=run).order_by("?")]
    rows = Finding.objects.filter(run=run)
    ocsf = [f.to_dict() | exports.marks(f, {}) | {"fix": f.fix or fix_for(f.to_dict())} for f in rows]
    expected = {
        "findings.json": report.to_json(meta, run.result or {}, stored),
        "findings.csv": report.to_csv(ocsf, meta),
        "findings.sarif": report.to_sarif(meta, stored, CHECKS),
        "findings.ocsf.json": report.to_ocsf(meta, ocsf, CHECKS),
    }
    for name, text in expected.items():
        response = client.get(f"/audits/{run.pk}/export/{name}")
        assert response.status_code == 200 and response.streaming, name
        assert b"".join(response.streaming_content) == text.encode(), name


@pytest.mark.django_db(transaction=True)
def test_a_40_mb_single_statement_policy_is_audited_by_the_worker_and_its_pages_render(server, worker, alice, settings):
    policy = {"Version": "2012-10-17", "Statement": [huge_statement()]}
    account = "123456789012"
    snapshot = {
        "UserDetailList": [{"UserName": "big", "UserId": "AIDABIG00000000000001",
                            "Arn": f"arn:aws:iam::{account}:user/big", "Path": "/",
                            "CreateDate": "2026-01-01T00:00:00Z", "GroupList": [],
                            "AttachedManagedPolicies": [], "Tags": [],
                            "UserPolicyList": [{"PolicyName": "huge", "PolicyDocument": policy}]}],
        "GroupDetailList": [], "RoleDetailList": [], "Policies": [],
    }  # fmt: skip
    packed = inputs.pack_input(snapshot)
    del snapshot, policy
    with transaction.atomic():
        run = start.start_run(alice, source=AuditRun.Source.SNAPSHOT, frameworks=["cis"], account_id=account)
        inputs.save_input(run, packed)
    wait_for(lambda: status_of(run) in AuditRun.FINISHED, timeout=600, what="the audit to finish")
    assert status_of(run) == AuditRun.Status.COMPLETED

    findings = list(Finding.objects.filter(run=run))
    assert findings and all(stored_size(f.to_dict()) <= settings.AEGIS_MAX_FINDING_BYTES for f in findings)
    capped = [f for f in findings if f.evidence.get("truncated")]
    assert capped, "the finding built from the huge statement is stored capped"
    cookies = session_cookie(alice)
    with httpx.Client(base_url=server, cookies=cookies, timeout=120) as browser:
        page = browser.get(f"/audits/{run.pk}/")
        assert page.status_code == 200 and "big" in page.text
        detail = browser.get(f"/audits/{run.pk}/findings/{capped[0].pk}/")
        assert detail.status_code == 200 and "(truncated)" in detail.text
        export = browser.get(f"/audits/{run.pk}/export/findings.json")
        assert export.status_code == 200
        assert any(f["evidence"].get("truncated") for f in export.json()["findings"])
