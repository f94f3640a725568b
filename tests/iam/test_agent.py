import json
import time
from pathlib import Path

import pytest

from audits.iam import CHECKS, FRAMEWORKS, AuditOutcome, ResumeState, run_audit
from audits.iam.snapshot import load_snapshot
from tests.iam.builders import OTHER, allow, audit, doc, healthy, managed, role, trust_doc, user

SAMPLES = Path(__file__).parent / "data" / "samples"
AUTHZ_SAMPLES = sorted(p for p in SAMPLES.glob("*.json") if "authorization-details" in p.name or "example" in p.name)


def busy_account():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    keys = managed("keys", doc(allow("iam:CreateAccessKey")))
    users = [user(f"dev{i}", policies=(keys,)) for i in range(6)] + [user("boss", policies=(admin,))]
    roles = [role("ProdAdmin", policies=(admin,)), role("ext", trust=trust_doc({"AWS": f"arn:aws:iam::{OTHER}:root"}))]
    return healthy(users=users, roles=roles, policies=[admin, keys], password_policy=None)


def test_it_exports_the_contract():
    assert callable(run_audit) and CHECKS and set(FRAMEWORKS) >= {"cis"}
    assert AuditOutcome("completed", {}).status == "completed"


def test_it_emits_events_in_contract_order_with_monotonic_progress():
    events, outcome = audit(busy_account(), frameworks=("cis",))
    kinds = [e[0] for e in events]
    assert kinds[0] == "start" and 2 <= events[0][2] <= 5
    assert kinds[-1] == "complete" and events[-1][2] == 100
    progress = [e[2] for e in events]
    assert progress == sorted(progress)
    assert {"progress", "thinking", "finding", "principal", "stats"} <= set(kinds)
    assert any(e[1].startswith("Discovering IAM principals: 7 users, 4 roles, 0 groups, 4 policies") for e in events)
    assert outcome.status == "completed" and outcome.result == events[-1][3]["result"]


def test_it_plans_administrators_first_and_says_why():
    events, _ = audit(busy_account())
    thinking = [e[1] for e in events if e[0] == "thinking"]
    expected = "Discovered 7 users. Prioritizing 'boss' first: AdministratorAccess attached"
    assert any(t.startswith(expected) for t in thinking)
    first = next(e for e in events if e[0] == "principal")
    assert first[3]["principal"]["name"] in ("boss", "ProdAdmin", "AdministratorAccess")


def test_it_emits_a_principal_event_after_its_findings():
    events, _ = audit(busy_account())
    pending = []
    for kind, _message, _progress, payload in events:
        if kind == "finding":
            pending.append(payload["finding"])
        elif kind == "principal":
            assert all(f["principal_arn"] == payload["principal"]["arn"] for f in pending)
            assert sum(payload["counts"].values()) == len(pending)
            assert payload["checkpoint"] == {"principals_done": payload["index"]}
            pending = []


def test_it_produces_complete_finding_dicts():
    events, _ = audit(busy_account())
    found = [e[3]["finding"] for e in events if e[0] == "finding"]
    keys = {
        "check_id",
        "category",
        "severity",
        "principal_arn",
        "principal_type",
        "principal_name",
        "policy",
        "title",
        "detail",
        "evidence",
        "remediation",
        "controls",
        "fingerprint",
    }
    for f in found:
        assert keys <= set(f)
    assert len({f["fingerprint"] for f in found}) == len(found)


def test_it_summarises_the_result():
    _, outcome = audit(busy_account(), frameworks=("cis", "nist_800_53"))
    r = outcome.result
    assert r["success"] is True and 0 <= r["risk_score"] <= 100
    assert r["risk_band"] in ("low", "medium", "high", "critical")
    summary = r["audit_summary"]
    assert summary["principals"] == {"users": 7, "roles": 4, "groups": 0, "policies": 4}
    assert summary["findings"] == sum(summary["by_severity"].values()) == sum(summary["by_category"].values())
    assert r["frameworks"] == ["cis", "nist_800_53"] and set(r["compliance"]) == {"cis", "nist_800_53"}
    assert r["top_risks"][0]["severity"] == "critical"
    assert any(p["id"].startswith("shared_risky_policy") for p in r["patterns"])


def test_it_warns_about_missing_data():
    snap = busy_account()
    snap.credential_report = None
    events, _ = audit(snap)
    warnings = [e[1] for e in events if e[0] == "warning"]
    assert any("credential report" in w for w in warnings)


def test_it_rejects_unknown_frameworks():
    with pytest.raises(ValueError, match="unknown frameworks"):
        audit(busy_account(), frameworks=("iso27001",))


def run_with_control(snap, commands, resume=None):
    events = []
    queue = list(commands)
    outcome = run_audit(
        snap, lambda *e: events.append(e), resume=resume, control=lambda: queue.pop(0) if queue else None
    )
    return events, outcome


@pytest.mark.parametrize("command", ["pause", "cancel"])
def test_it_stops_at_a_checkpoint_when_told(command):
    events, outcome = run_with_control(busy_account(), [None, None, command])
    assert outcome == AuditOutcome("paused" if command == "pause" else "cancelled", None)
    assert events[-1][0] == ("paused" if command == "pause" else "cancelled")
    assert events[-1][3] == {"checkpoint": {"principals_done": 3}}
    assert not any(e[0] == "complete" for e in events)


def test_it_resumes_where_it_paused_without_repeating_anything():
    snap = busy_account()
    _, full = run_with_control(snap, [])
    first, _ = run_with_control(snap, [None, None, None, "pause"])
    done_findings = [e[3]["finding"] for e in first if e[0] == "finding"]
    # Storage may hand earlier findings back in another order: the result must not depend on it.
    state = ResumeState(principals_done=4, findings=done_findings[::-1], progress=first[-1][2])
    second, outcome = run_with_control(busy_account(), [], resume=state)
    assert second[0][0] == "resumed" and second[0][1].startswith("Resuming at principal 5/")
    assert second[0][2] >= state.progress
    assert [e[2] for e in second] == sorted(e[2] for e in second)
    later = [e[3]["finding"]["fingerprint"] for e in second if e[0] == "finding"]
    assert not set(later) & {f["fingerprint"] for f in done_findings}
    assert outcome.result == full.result
    assert len(done_findings) + len(later) == full.result["audit_summary"]["findings"]


def test_it_is_deterministic_across_runs():
    a, _ = audit(busy_account())
    b, _ = audit(busy_account())
    assert [(e[0], e[1]) for e in a] == [(e[0], e[1]) for e in b]


@pytest.mark.parametrize("path", AUTHZ_SAMPLES, ids=lambda p: p.name)
def test_it_audits_every_sample(path):
    snap = load_snapshot(path.read_bytes())
    _, outcome = audit(snap, frameworks=tuple(FRAMEWORKS))
    assert outcome.status == "completed"
    assert outcome.result["audit_summary"]["principals"]["roles"] == len(snap.roles)


def test_it_audits_cloudsplainings_example_quickly():
    snap = load_snapshot((SAMPLES / "cloudsplaining__examples_files_example.json").read_bytes())
    audit(snap)  # warm the action index
    started = time.process_time()  # CPU time: a busy CI machine must not make this flaky
    events, _ = audit(snap, frameworks=tuple(FRAMEWORKS))
    assert time.process_time() - started < 1.0
    json.dumps(events)  # every payload is JSON-able as emitted


def test_it_audits_the_cloudmapper_account_with_its_credential_report():
    prefix = "cloudmapper__account-data_demo_us-east-1_iam-get-"

    def sample(name):
        return json.loads((SAMPLES / f"{prefix}{name}.json").read_text())

    bundle = {
        "authorization_details": sample("account-authorization-details"),
        "credential_report": sample("credential-report"),
        "account_summary": sample("account-summary"),
        "collected_at": "2019-06-01T00:00:00Z",
    }
    events, outcome = audit(load_snapshot(bundle), frameworks=("cis",))
    found = {(e[3]["finding"]["check_id"], e[3]["finding"]["principal_name"]) for e in events if e[0] == "finding"}
    assert {
        ("root_access_keys", "123456789012"),
        ("console_user_without_mfa", "user"),
        ("access_key_never_used", "auditor_tmp"),
        ("trust_any_principal", "bad_role"),
        ("role_admin_access", "bad_role"),
    } <= found
    assert ("root_mfa_disabled", "123456789012") not in found
    assert any("not in the authorization details" in e[1] for e in events if e[0] == "warning")
    cis = {c["id"]: c["status"] for c in outcome.result["compliance"]["cis"]["controls"]}
    assert cis["1.4"] == "fail" and cis["1.5"] == "pass" and cis["1.8"] == "not_evaluated"


def test_it_finishes_a_run_interrupted_after_its_last_principal():
    snap = busy_account()
    events, full = audit(snap)
    done = [e[3]["finding"] for e in events if e[0] == "finding"]
    total = next(e for e in events if e[0] == "principal")[3]["total"]
    resumed, outcome = run_with_control(snap, [], resume=ResumeState(total, done, 95))
    assert [e[0] for e in resumed[:1]] == ["resumed"] and "after all" in resumed[0][1]
    assert not [e for e in resumed if e[0] in ("finding", "principal")]
    assert outcome.result == full.result


def test_it_keeps_fingerprints_stable_across_runs():
    snap = load_snapshot((SAMPLES / "cloudsplaining__examples_files_example.json").read_bytes())
    first = {e[3]["finding"]["fingerprint"] for e in audit(snap)[0] if e[0] == "finding"}
    again = load_snapshot((SAMPLES / "cloudsplaining__examples_files_example.json").read_bytes())
    second = [e[3]["finding"]["fingerprint"] for e in audit(again)[0] if e[0] == "finding"]
    assert set(second) == first and len(second) == len(first)


def test_it_survives_odd_but_possible_documents():
    odd = {
        "Statement": [
            {"Effect": "allow", "Action": 123, "Resource": None},
            {"Effect": "Allow", "NotAction": "iam:*", "NotResource": ["arn:aws:s3:::x"]},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": ["not", "a", "dict"]},
            {"Effect": "Deny", "Action": [], "Resource": "*"},
            "not a statement",
        ]
    }
    weird_trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": 123456789012}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": ["*"], "Action": ["sts:AssumeRole"]},
            {
                "Effect": "Allow",
                "Principal": {"Federated": "accounts.google.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"Null": "x"},
            },
        ]
    }
    r = role("odd", trust=weird_trust, inline={"odd": odd}, last_used="not a date")
    _, outcome = audit(healthy(users=[user("u", inline={"odd": odd})], roles=[r]), frameworks=tuple(FRAMEWORKS))
    assert outcome.status == "completed"


def test_it_treats_fields_of_the_wrong_type_as_absent():
    u = user("u")
    u.update(
        AttachedManagedPolicies=["x", {"PolicyArn": ["y"]}],
        GroupList=[{"a": 1}, "missing"],
        PermissionsBoundary="x",
        UserPolicyList=[{"PolicyName": ["p"], "PolicyDocument": doc(allow("*"))}],
    )
    r = role(
        "r",
        trust={
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": [{"x": 1}]}, "Action": "sts:AssumeRole", "Condition": ["x"]}
            ]
        },
    )
    r["RoleLastUsed"] = "yesterday"
    r["CreateDate"] = 20240101
    snap = healthy(users=[u], roles=[r], password_policy={"MinimumPasswordLength": "abc", "MaxPasswordAge": [90]})
    _, outcome = audit(snap, frameworks=tuple(FRAMEWORKS))
    assert outcome.status == "completed"


def test_it_leaves_accepted_risks_out_of_score_counts_top_risks_and_compliance():
    from tests.iam.builders import allow, doc, healthy, managed, user

    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    dev = user("dev", inline={"k": doc(allow("iam:CreateAccessKey"))})
    snap = healthy(users=[user("boss", policies=(admin,)), dev], policies=[admin])
    _, plain = audit(snap, frameworks=["cis"])
    events = []
    first = [e for e in audit(snap)[0] if e[0] == "finding"]
    accepted = frozenset(
        e[3]["finding"]["fingerprint"] for e in first if e[3]["finding"]["principal_name"] in ("dev", "boss")
    )
    outcome = run_audit(snap, lambda *e: events.append(e), frameworks=["cis"], accepted=accepted)
    marked = [e[3]["finding"] for e in events if e[0] == "finding" and e[3]["finding"].get("suppressed")]
    assert {f["fingerprint"] for f in marked} == accepted  # still emitted, marked
    result, before = outcome.result, plain.result
    assert result["risk_score"] < before["risk_score"]
    assert result["audit_summary"]["findings"] == before["audit_summary"]["findings"] - len(accepted)
    assert result["audit_summary"]["suppressed_findings"] == len(accepted)
    assert not {r["fingerprint"] for r in result["top_risks"]} & accepted
    failing = {fp for c in result["compliance"]["cis"]["controls"] for fp in c["findings"]}
    assert not failing & accepted
    last_stats = [e for e in events if e[0] == "stats"][-1][3]["stats"]
    assert sum(last_stats.values()) == result["audit_summary"]["findings"]
