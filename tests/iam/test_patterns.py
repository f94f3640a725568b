from audits.iam.patterns import find_patterns
from tests.iam.builders import OTHER, allow, doc, findings, healthy, managed, role, trust_doc, user


def test_it_spots_one_risky_policy_on_many_principals():
    pol = managed("shared", doc(allow("iam:PutUserPolicy")), attachments=3)
    users = [user(f"u{i}", policies=(pol,)) for i in range(3)]
    [p] = [
        p
        for p in find_patterns(findings(healthy(users=users, policies=[pol])))
        if p["id"].startswith("shared_risky_policy")
    ]
    assert p["principals"] == ["u0", "u1", "u2"]
    assert p["severity"] == "high"


def test_it_ignores_a_risky_policy_held_once():
    pol = managed("single", doc(allow("iam:PutUserPolicy")))
    patterns = find_patterns(findings(healthy(users=[user("u", policies=(pol,))], policies=[pol])))
    assert not [p for p in patterns if p["id"].startswith("shared_risky_policy")]


def test_it_spots_many_roles_trusting_one_outside_account():
    trust = trust_doc({"AWS": f"arn:aws:iam::{OTHER}:root"})
    patterns = find_patterns(findings(healthy(roles=[role("a", trust=trust), role("b", trust=trust)])))
    [p] = [p for p in patterns if p["id"] == f"shared_external_trust:{OTHER}"]
    assert p["principals"] == ["a", "b"]
    single = find_patterns(findings(healthy(roles=[role("a", trust=trust)])))
    assert not [p for p in single if p["id"].startswith("shared_external_trust")]


def test_it_spots_admins_unused_for_months():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    idle = role("OldAdmin", policies=(admin,), last_used="2026-01-01T00:00:00Z")
    busy = role("BusyAdmin", policies=(admin,))
    [p] = [
        p for p in find_patterns(findings(healthy(roles=[idle, busy], policies=[admin]))) if p["id"] == "dormant_admins"
    ]
    assert p["principals"] == ["OldAdmin"]


def test_it_spots_mfa_missing_across_console_users():
    from tests.iam.builders import report_row

    users = [user("a"), user("b"), user("c")]
    report = [
        report_row("<root_account>"),
        report_row("a", mfa_active="false"),
        report_row("b", mfa_active="false"),
        report_row("c"),
    ]
    [p] = [p for p in find_patterns(findings(healthy(users=users, report=report))) if p["id"] == "mfa_not_enforced"]
    assert p["principals"] == ["a", "b"]
    one = [report_row("<root_account>"), report_row("a", mfa_active="false"), report_row("b"), report_row("c")]
    assert not [p for p in find_patterns(findings(healthy(users=users, report=one))) if p["id"] == "mfa_not_enforced"]


def test_it_spots_widespread_escalation():
    keys = managed("keys", doc(allow("iam:CreateAccessKey")))
    users = [user(f"u{i}", inline={"k": doc(allow("iam:CreateAccessKey"))}) for i in range(3)]
    boss = user("boss", policies=(admin := managed("AdministratorAccess", doc(allow("*")), aws=True),))
    [p] = [
        p
        for p in find_patterns(findings(healthy(users=[*users, boss], policies=[keys, admin])))
        if p["id"] == "widespread_escalation"
    ]
    assert p["principals"] == ["u0", "u1", "u2"]
    assert not [p for p in find_patterns(findings(healthy(users=users[:2]))) if p["id"] == "widespread_escalation"]
