"""Each export carries a finding's fix as the run page shows it: verified or not, its summary, what it takes away,
its side effects and its CLI lines (issue #19)."""

import json

import pytest

from audits.models import AuditRun, Finding
from audits.runs import start, worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(alice, settings) -> AuditRun:
    settings.AEGIS_DEMO_STEP_MS = 0
    run = start.start_run(alice, source="demo", frameworks=["cis"])
    assert worker.execute(run.pk) == "completed"
    return run


def export(client, run, name) -> bytes:
    response = client.get(f"/audits/{run.pk}/export/{name}")
    assert response.status_code == 200
    return b"".join(response.streaming_content) if response.streaming else response.content


def proven(run) -> dict[str, dict]:
    """The run's proven fixes (admin and escalation findings) by fingerprint, as stored."""
    fixes = {f.fingerprint: f.fix for f in Finding.objects.filter(run=run) if "verified" in (f.fix or {})}
    assert any(fix["verified"] for fix in fixes.values()), "the demo account has verified fixes"
    assert any(fix["side_effects"] for fix in fixes.values()), "and fixes with side effects"
    return fixes


def test_sarif_results_carry_the_fix_where_code_scanning_reads_them(client, alice, run):
    fixes = proven(run)
    client.force_login(alice)
    sarif = json.loads(export(client, run, "findings.sarif"))
    results = sarif["runs"][0]["results"]
    seen = 0
    for result in results:
        # GitHub code scanning keys a result by its partial fingerprint and keeps its property bag as is.
        fingerprint = result["partialFingerprints"]["aegisFingerprint/v1"]
        # No `fixes`: SARIF 2.1.0 requires artifactChanges (file edits) in each, and an IAM fix edits no file.
        assert "fixes" not in result
        if fingerprint not in fixes:
            continue
        stored, shown = fixes[fingerprint], result["properties"]["fix"]
        assert shown["verified"] is stored["verified"]
        assert shown["summary"] == stored["summary"]
        assert shown["side_effects"] == stored["side_effects"]
        assert shown["removes"] == stored["removes"]
        assert shown["cli"] == stored["cli"] and all(line.startswith("aws ") for line in shown["cli"])
        seen += 1
    assert seen == len(fixes)
    # A fix that no re-audit proves says so with null, not false.
    other = [r["properties"]["fix"] for r in results if r["partialFingerprints"]["aegisFingerprint/v1"] not in fixes]
    assert other and all(fix["verified"] is None for fix in other if fix)


def test_json_and_ocsf_carry_verified_and_the_side_effects(client, alice, run):
    fixes = proven(run)
    client.force_login(alice)
    document = json.loads(export(client, run, "findings.json"))
    in_json = {f["fingerprint"]: f["fix"] for f in document["findings"] if f["fingerprint"] in fixes}
    assert {fp: (fix["verified"], fix["side_effects"]) for fp, fix in in_json.items()} == {
        fp: (fix["verified"], fix["side_effects"]) for fp, fix in fixes.items()
    }
    events = json.loads(export(client, run, "findings.ocsf.json"))
    in_ocsf = {e["finding_info"]["uid"]: e["unmapped"]["fix"] for e in events if e["finding_info"]["uid"] in fixes}
    assert {fp: (fix["verified"], fix["side_effects"]) for fp, fix in in_ocsf.items()} == {
        fp: (fix["verified"], fix["side_effects"]) for fp, fix in fixes.items()
    }
