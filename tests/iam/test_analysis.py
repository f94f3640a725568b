from audits.iam.analysis import Analysis
from tests.iam.builders import allow, doc, findings, healthy, hits, managed, role, snapshot, trust_doc, user


def test_it_flags_roles_unused_for_months():
    snap = healthy(
        roles=[
            role("stale", last_used="2026-05-01T00:00:00Z"),
            role("fresh"),
            role("never", last_used=None, created="2025-01-01T00:00:00Z"),
            role("new", last_used=None, created="2026-11-01T00:00:00Z"),
        ]
    )
    assert sorted(f["principal_name"] for f in hits(snap, "unused_role")) == ["never", "stale"]


def test_it_calls_an_unused_admin_dormant():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    snap = healthy(roles=[role("OldAdmin", policies=(admin,), last_used="2026-03-01T00:00:00Z")], policies=[admin])
    [f] = hits(snap, "dormant_admin")
    assert f["severity"] == "high" and hits(snap, "unused_role") == []


def test_it_skips_usage_of_service_linked_roles():
    snap = healthy(
        roles=[
            role(
                "AWSServiceRoleForX",
                path="/aws-service-role/x.amazonaws.com/",
                last_used=None,
                created="2020-01-01T00:00:00Z",
            )
        ]
    )
    assert hits(snap, "unused_role") == []


def test_it_wants_support_and_security_audit_roles():
    bare = snapshot(password_policy=None)
    ids = {f["check_id"] for f in findings(bare)}
    assert {"no_support_role", "no_security_audit_role"} <= ids
    assert not {"no_support_role", "no_security_audit_role"} & {f["check_id"] for f in findings(healthy())}


def test_it_plans_account_checks_last_and_deterministically():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    snap = healthy(users=[user("zed"), user("alice-admin"), user("root-ops", policies=(admin,))], policies=[admin])
    plan = [s.principal.name for s in Analysis(snap).plan()]
    assert plan[0] in ("root-ops", "AdministratorAccess")
    assert plan.index("alice-admin") < plan.index("zed")
    assert plan[-1] == "111122223333"
    assert plan == [s.principal.name for s in Analysis(snap).plan()]


def test_it_warns_about_attached_policies_missing_from_the_export():
    missing = {"PolicyName": "Gone", "PolicyArn": "arn:aws:iam::111122223333:policy/Gone"}
    u = user("u")
    u["AttachedManagedPolicies"] = [missing]
    warnings = Analysis(healthy(users=[u])).warnings()
    assert any("not in the snapshot" in w for w, _ in warnings)


def test_it_does_not_call_roles_unused_without_last_used_data():
    r = role("old", created="2020-01-01T00:00:00Z")
    del r["RoleLastUsed"]
    analysis = Analysis(snapshot(roles=[r]))
    assert "unused_role" not in analysis.evaluated_checks()
    assert any("RoleLastUsed" in w for w, _ in analysis.warnings())
    assert hits(snapshot(roles=[r]), "unused_role") == []


def test_it_raises_nothing_on_service_linked_roles():
    broad = managed("AWSOrganizationsServiceTrustPolicy", doc(allow(["iam:*", "organizations:*"])), aws=True)
    slr = role(
        "AWSServiceRoleForOrganizations",
        path="/aws-service-role/organizations.amazonaws.com/",
        policies=(broad,),
        inline={"x": doc(allow("*"))},
        trust=trust_doc({"Service": "organizations.amazonaws.com"}),
    )
    snap = healthy(roles=[slr], policies=[broad])
    assert [
        f
        for f in findings(snap)
        if f["principal_name"] in ("AWSServiceRoleForOrganizations", "AWSOrganizationsServiceTrustPolicy")
    ] == []
    assert Analysis(snap).plan()[0].principal.name != "AWSServiceRoleForOrganizations"
