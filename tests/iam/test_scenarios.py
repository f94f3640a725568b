"""The literature account (tests/iam/scenarios/): every escalation method of the public literature flagged on the
principal itself, every near-miss quiet on the principal and on the managed policies it holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audits.iam import run_audit
from audits.iam.snapshot import load_snapshot
from tests.iam.scenarios import build_literature_account

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
EXPECTED: dict[str, dict] = json.loads((SCENARIOS / "expected.json").read_text())["principals"]
POSITIVES = sorted(arn for arn, entry in EXPECTED.items() if entry["expect"] == "positive")
NEAR_MISSES = sorted(arn for arn, entry in EXPECTED.items() if entry["expect"] == "near-miss")
ESCALATION = {"admin_access", "privilege_escalation"}
# The acceptance bar of issue 8: at least this share of escalating principals flagged on the principal itself.
BAR = 0.97


def _name(arn: str) -> str:
    return arn.split(":", 5)[5]


@pytest.fixture(scope="module")
def literature_findings() -> list[dict]:
    snapshot = load_snapshot((SCENARIOS / "literature_account.json").read_text())
    events: list[tuple] = []
    run_audit(snapshot, lambda *event: events.append(event))
    return [event[3]["finding"] for event in events if event[0] == "finding"]


def _escalation_on(findings: list[dict], arns: set[str]) -> list[dict]:
    return [f for f in findings if f["category"] in ESCALATION and f["principal_arn"] in arns]


def test_it_builds_the_account_it_ships():
    assert build_literature_account.main(["--check"]) == 0, "scenario files are stale: rerun the builder"
    assert build_literature_account.build() == build_literature_account.build()


def test_it_keeps_both_sides_of_the_account_large():
    assert len(POSITIVES) >= 80 and len(NEAR_MISSES) >= 40, (len(POSITIVES), len(NEAR_MISSES))


def test_it_flags_at_least_97_percent_of_escalating_principals(literature_findings):
    flagged = {f["principal_arn"] for f in _escalation_on(literature_findings, set(POSITIVES))}
    missed = [f"{_name(arn)} ({EXPECTED[arn]['methods'][0]})" for arn in POSITIVES if arn not in flagged]
    share = 1 - len(missed) / len(POSITIVES)
    assert share >= BAR, f"{share:.1%} of {len(POSITIVES)} flagged on the principal; missed: {'; '.join(missed)}"


@pytest.mark.parametrize("arn", POSITIVES, ids=_name)
def test_it_flags_the_escalating_principal(literature_findings, arn):
    entry = EXPECTED[arn]
    found = _escalation_on(literature_findings, {arn})
    assert found, (
        f"{_name(arn)}: no admin_access/privilege_escalation finding for {entry['methods'][0]} ({entry['source']})"
    )


@pytest.mark.parametrize("arn", NEAR_MISSES, ids=_name)
def test_it_keeps_the_near_miss_quiet(literature_findings, arn):
    entry = EXPECTED[arn]
    on_principal = _escalation_on(literature_findings, {arn})
    assert not on_principal, (
        f"{_name(arn)} ({entry['methods'][0]}) must stay quiet: {entry['reason']}; got "
        f"{[f['check_id'] for f in on_principal]}"
    )
    held = set(entry["managed_policies"])
    on_policies = [f for f in _escalation_on(literature_findings, held) if f["principal_type"] == "policy"]
    assert not on_policies, (
        f"{_name(arn)} ({entry['methods'][0]}): a policy it holds is flagged though "
        f"{entry['reason']}: {[(f['check_id'], f['principal_name']) for f in on_policies]}"
    )


LATENT = sorted(arn for arn, entry in EXPECTED.items() if entry["expect"] == "latent")
POLICIES: dict[str, dict] = json.loads((SCENARIOS / "expected.json").read_text())["policies"]
NOW = {"principal_privilege_escalation", "principal_grants_admin", "user_admin_access", "role_admin_access"}


@pytest.mark.parametrize("arn", LATENT, ids=_name)
def test_it_reports_a_latent_method_as_latent(literature_findings, arn):
    """A method with no target today is told apart: latent on the principal (with what completes it), neither an
    escalation now nor a grant "cancelled" on its policy."""
    entry = EXPECTED[arn]
    on_principal = [f for f in literature_findings if f["principal_arn"] == arn]
    assert not [f["check_id"] for f in on_principal if f["check_id"] in NOW], entry["methods"][0]
    [latent] = [f for f in on_principal if f["check_id"] == "principal_latent_escalation"]
    assert latent["severity"] == "medium" and latent["category"] == "privilege_escalation"
    assert latent["evidence"]["completes"].startswith("any ") and latent["evidence"]["completes"] in latent["detail"]
    held = set(entry["managed_policies"])
    assert not [
        f for f in literature_findings if f["principal_arn"] in held and f["check_id"] == "policy_grant_ineffective"
    ]


def test_it_keeps_latent_scenarios_in_the_account():
    assert len(LATENT) >= 4


@pytest.mark.parametrize("arn", sorted(POLICIES), ids=_name)
def test_it_gives_the_policy_its_expected_finding(literature_findings, arn):
    expected = POLICIES[arn]
    found = [f for f in literature_findings if f["principal_arn"] == arn and f["check_id"] == expected["check_id"]]
    assert [f["severity"] for f in found] == [expected["severity"]], expected["source"]


def test_it_follows_self_changes_hop_by_hop(literature_findings):
    chains = {
        "user/chain-AddUserToGroupThenIamStar-user": ["AddUserToGroup", "PutUserPolicy"],
        "user/chain-BoundaryAllowsSelfRemoval-user": ["DeletePermissionsBoundary", "PutUserPolicy"],
        "role/chain-BoundaryAllowsSelfRemoval-role": ["DeletePermissionsBoundary", "PutRolePolicy"],
    }
    for name, methods in chains.items():
        arn = f"arn:aws:iam::111122223333:{name}"
        [f] = [
            f
            for f in literature_findings
            if f["principal_arn"] == arn and f["check_id"] == "principal_privilege_escalation"
        ]
        assert [hop["method"] for hop in f["evidence"]["path"]] == methods
        assert all(hop["from"] == hop["to"] == arn for hop in f["evidence"]["path"])
