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
