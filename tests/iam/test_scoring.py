from audits.iam import scoring


def f(severity, category="admin_access"):
    return {"severity": severity, "category": category}


def test_it_scores_nothing_as_zero_and_low():
    assert scoring.score([]) == 0
    assert scoring.band(0) == "low"


def test_it_gives_diminishing_returns_within_a_category():
    many_low = scoring.score([f("low", "trust_policy")] * 500)
    assert many_low <= scoring.CATEGORY_CAP
    assert scoring.score([f("high")] * 2) < 2 * scoring.score([f("high")])


def test_it_puts_any_critical_at_least_in_the_high_band():
    value = scoring.score([f("critical")])
    assert value >= 50 and scoring.band(value) in ("high", "critical")


def test_it_caps_at_100():
    spread = [f("critical", c) for c in ("admin_access", "privilege_escalation", "trust_policy", "root_account",
                                          "credential_hygiene", "data_exfiltration")] * 10
    assert scoring.score(spread) == 100
    assert scoring.band(100) == "critical"


def test_it_documents_its_formula():
    assert "diminishing" in scoring.__doc__ and "Bands" in scoring.__doc__


def test_it_puts_any_high_at_least_in_the_medium_band():
    assert scoring.band(scoring.score([f("high")])) == "medium"
    assert scoring.band(scoring.score([f("medium")])) == "low"
