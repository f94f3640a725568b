"""A principal that can make another principal an administrator is itself an escalation risk (Rhino Security Labs'
Attach*/Put*/AddUserToGroup methods used on others), even when it cannot become one."""

import json
from pathlib import Path

import pytest

from audits.iam import run_audit
from audits.iam.snapshot import load_snapshot

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


@pytest.fixture(scope="module")
def literature() -> tuple[dict, list[dict]]:
    expected = json.loads((SCENARIOS / "expected.json").read_text())["principals"]
    found: list[dict] = []
    snapshot = load_snapshot((SCENARIOS / "literature_account.json").read_bytes())

    def emit(kind: str, message: str, progress: int, payload: dict) -> None:
        if kind == "finding":
            found.append(payload["finding"])

    run_audit(snapshot, emit)
    return expected, found


def test_it_flags_the_principals_that_grant_administrator_to_others(literature):
    expected, found = literature
    indirect = [arn for arn, entry in expected.items() if entry["expect"] == "indirect"]
    assert len(indirect) == 8
    for arn in indirect:
        (finding,) = [f for f in found if f["principal_arn"] == arn and f["category"] == "privilege_escalation"]
        assert finding["check_id"] == "principal_grants_admin" and finding["severity"] == "high"
        assert finding["evidence"]["target_kind"] == "grants admin to others"
        assert finding["evidence"]["path"][0]["from"] == arn and finding["evidence"]["statements"]


def test_near_misses_stay_quiet_with_it(literature):
    expected, found = literature
    flagged = {f["principal_arn"] for f in found if f["category"] in ("admin_access", "privilege_escalation")}
    assert not [arn for arn, entry in expected.items() if entry["expect"] == "near-miss" and arn in flagged]
