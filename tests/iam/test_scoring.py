import itertools
import json
from pathlib import Path

import pytest

from audits.iam import scoring
from audits.iam.snapshot import load_demo_snapshot, load_snapshot
from tests.iam.builders import audit

SAMPLES = Path(__file__).parent / "data" / "samples"


def f(severity, category="admin_access", **extra):
    return {"severity": severity, "category": category, **extra}


def escalation(name: str, hops: int = 1) -> dict:
    return f(
        "critical",
        "privilege_escalation",
        check_id="principal_privilege_escalation",
        principal_type="user",
        principal_name=name,
        evidence={"target_kind": "admin", "path": [{}] * hops},
    )


def test_it_scores_nothing_as_zero_and_low():
    assert scoring.score([]) == 0
    assert scoring.band(0) == "low"


def test_it_gives_diminishing_returns_but_never_stops_counting():
    assert scoring.score([f("low", "trust_policy")] * 500) < 100
    scores = [scoring.score([escalation(f"u{i}") for i in range(n)]) for n in range(1, 6)]
    assert all(a < b for a, b in itertools.pairwise(scores)), scores  # fixing one moves it
    totals = [sum(scoring.components([escalation(f"u{i}") for i in range(n)]).values()) for n in range(1, 200)]
    assert all(a < b for a, b in itertools.pairwise(totals))
    assert scores[1] - scores[0] > scores[-1] - scores[-2]


def test_it_weighs_short_paths_to_admin_more_than_long_ones():
    assert scoring.score([escalation("a", 1)] * 8) > scoring.score([escalation("a", 4)] * 8)


def test_it_leaves_suppressed_findings_out():
    assert scoring.score([escalation("a"), escalation("b") | {"suppressed": True}]) == scoring.score([escalation("a")])


def test_it_puts_any_critical_at_least_in_the_high_band():
    value = scoring.score([f("critical")])
    assert value >= 50 and scoring.band(value) in ("high", "critical")


def test_it_documents_its_formula():
    assert "diminishing" in scoring.__doc__ and "Bands" in scoring.__doc__ and "hops" in scoring.__doc__


def test_it_puts_any_high_at_least_in_the_medium_band():
    assert scoring.band(scoring.score([f("high")])) == "medium"
    assert scoring.band(scoring.score([f("medium")])) == "low"


def _cloudmapper():
    prefix = "cloudmapper__account-data_demo_us-east-1_iam-get-"
    return load_snapshot(
        {
            "authorization_details": json.loads((SAMPLES / f"{prefix}account-authorization-details.json").read_text()),
            "credential_report": json.loads((SAMPLES / f"{prefix}credential-report.json").read_text()),
            "account_summary": json.loads((SAMPLES / f"{prefix}account-summary.json").read_text()),
        }
    )


@pytest.fixture(scope="module")
def sample_scores() -> dict[str, int]:
    snaps = {
        "demo": load_demo_snapshot(),
        "cloudmapper": _cloudmapper(),
        "cloudsplaining": load_snapshot((SAMPLES / "cloudsplaining__examples_files_example.json").read_bytes()),
    }
    return {name: (audit(snap)[1].result or {})["risk_score"] for name, snap in snaps.items()}


def test_it_ranks_ordinary_messy_accounts_apart_and_below_the_cap(sample_scores):
    assert len(set(sample_scores.values())) == 3, sample_scores
    assert all(0 < v < 100 for v in sample_scores.values()), sample_scores
