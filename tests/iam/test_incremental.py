"""The analysis after a change, built from the one before (audits.iam.incremental), finds exactly what a fresh
analysis of the changed snapshot finds: for every principal and policy, and in the graph's routes."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from audits.iam import incremental
from audits.iam.account import dicts_of
from audits.iam.analysis import Analysis
from audits.iam.snapshot import load_snapshot
from audits.iam.whatif import apply_ops
from tests.iam.builders import allow, arn, deny, doc, group, managed, role, snapshot, trust_doc, user

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
ROOT = Path(__file__).resolve().parents[2]
ADMIN = doc(allow("*"))
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
# Statements a random change writes: grants of escalation actions, Denies that cut them, admin, harmless reads.
STATEMENTS = [
    allow("*"),
    allow("iam:*"),
    allow(["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"]),
    allow("sts:AssumeRole"),
    allow(["iam:AttachUserPolicy", "iam:AttachRolePolicy", "iam:PutRolePolicy"]),
    allow("iam:CreatePolicyVersion"),
    allow("iam:AddUserToGroup"),
    allow(["ec2:RunInstances", "iam:PassRole"]),
    allow("s3:GetObject", "arn:aws:s3:::bucket/*"),
    deny("iam:PassRole"),
    deny(["iam:*", "sts:*"]),
    deny("sts:AssumeRole"),
    deny("*", "arn:aws:iam::*:role/*"),
]


def literature():
    return load_snapshot((SCENARIOS / "literature_account.json").read_text())


def synthetic(n_roles: int, seed: int):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from engine import synthetic_account
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return load_snapshot(synthetic_account(n_roles, seed=seed))


def views(analysis: Analysis) -> dict:
    """Everything an audit reads from an analysis: every principal's findings, the plan, the graph's routes."""
    out: dict = {}
    for p in (*analysis.principals(), *analysis.policy_principals()):
        out[(p.type, p.arn)] = sorted((f["fingerprint"], repr(f)) for f in analysis.findings(p))
    out["plan"] = [(s.principal.arn, s.priority, s.reason) for s in analysis.plan()]
    out["routes"] = {arn: (e.path, e.target, e.proof) for arn, e in analysis.graph.escalations.items()}
    out["admins"] = sorted(analysis.admins)
    out["warnings"] = analysis.warnings()
    # The indexes a patched account rebuilds for the changed principals only, list order included.
    account = analysis.account
    # Key order too: readers take the first policy that answers.
    out["attachments"] = [(arn, [p.arn for p in ps]) for arn, ps in account.attachments.items()]
    out["missing"] = sorted(account.missing_policies)
    out["holders"] = [(arn, [p.arn for p in ps]) for arn, ps in analysis._holders.items()]
    out["graph_holders"] = [(arn, [p.arn for p in ps]) for arn, ps in analysis.graph.policy_holders.items()]
    out["rank"] = list(analysis.graph._rank.items())
    return out


def assert_same(before: Analysis, ops: list[dict]) -> None:
    outcome = apply_ops(before.snapshot, ops)
    fresh = views(Analysis(outcome.snapshot))
    reused = views(incremental.after(before, outcome))
    assert reused.keys() == fresh.keys()
    for key in fresh:
        assert reused[key] == fresh[key], (key, ops)


def random_ops(snap, rng: random.Random, count: int) -> list[dict]:
    users = [u["UserName"] for u in snap.users]
    roles = [r["RoleName"] for r in snap.roles if not str(r.get("Path", "")).startswith("/aws-")]
    groups = [g["GroupName"] for g in snap.groups]
    policies = [p["Arn"] for p in snap.policies]
    customer = [a for a in policies if ":aws:policy/" not in a]
    names = {"User": users, "Role": roles, "Group": groups}

    def document() -> dict:
        return doc(*rng.sample(STATEMENTS, rng.randint(1, 3)))

    def one() -> dict:
        kind = rng.choice([k for k, v in names.items() if v])
        name = rng.choice(names[kind])
        key = f"{kind}Name"
        roll = rng.randrange(12)
        if roll == 0:
            return {"Operation": f"Put{kind}Policy", key: name, "PolicyName": "random", "PolicyDocument": document()}
        if roll == 1:
            entry = next(e for e in (*snap.users, *snap.roles, *snap.groups) if e.get(key) == name)
            inline = entry.get(f"{kind}PolicyList") or [{"PolicyName": "none"}]
            return {"Operation": f"Delete{kind}Policy", key: name, "PolicyName": rng.choice(inline)["PolicyName"]}
        if roll == 2 and policies:
            return {"Operation": f"Attach{kind}Policy", key: name, "PolicyArn": rng.choice([*policies, ADMIN_ARN])}
        if roll == 3:
            entry = next(e for e in (*snap.users, *snap.roles, *snap.groups) if e.get(key) == name)
            attached = entry.get("AttachedManagedPolicies") or [{"PolicyArn": ADMIN_ARN}]
            return {"Operation": f"Detach{kind}Policy", key: name, "PolicyArn": rng.choice(attached)["PolicyArn"]}
        if roll == 4 and customer:
            return {
                "Operation": "CreatePolicyVersion",
                "PolicyArn": rng.choice(customer),
                "PolicyDocument": document(),
                "SetAsDefault": rng.random() < 0.8,
            }
        if roll == 5 and users and groups:
            return {"Operation": "AddUserToGroup", "UserName": rng.choice(users), "GroupName": rng.choice(groups)}
        if roll == 6 and users and groups:
            user_name = rng.choice(users)
            entry = next(u for u in snap.users if u["UserName"] == user_name)
            joined = entry.get("GroupList") or groups
            return {"Operation": "RemoveUserFromGroup", "UserName": user_name, "GroupName": rng.choice(joined)}
        if roll == 7 and roles:
            trusted = rng.choice([*(arn("user", u) for u in users[:5]), *(arn("role", r) for r in roles[:5])])
            principal = rng.choice([{"AWS": trusted}, {"AWS": f"arn:aws:iam::{snap.account_id}:root"}])
            return {"Operation": "UpdateAssumeRolePolicy", "RoleName": rng.choice(roles),
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]}}  # fmt: skip
        if roll == 8 and kind != "Group" and customer:
            boundary = rng.choice(customer)
            return {"Operation": f"Put{kind}PermissionsBoundary", key: name, "PermissionsBoundary": boundary}
        if roll == 9 and kind != "Group":
            return {"Operation": f"Delete{kind}PermissionsBoundary", key: name}
        if roll == 10:
            policy_name = f"random-{rng.randrange(1000)}"
            return {"Operation": "CreatePolicy", "PolicyName": policy_name, "PolicyDocument": document()}
        new_role_trust: dict[str, str] | str = {"AWS": arn("user", rng.choice(users))} if users else "*"
        return {"Operation": "CreateRole", "RoleName": f"new-{rng.randrange(1000)}",
                "AssumeRolePolicyDocument": trust_doc(new_role_trust)}  # fmt: skip

    return [one() for _ in range(count)]


@pytest.fixture(scope="module")
def literature_before() -> Analysis:
    return Analysis(literature())


@pytest.mark.parametrize("seed", range(12))
def test_it_matches_a_fresh_analysis_on_random_changes_to_the_literature_account(literature_before, seed):
    rng = random.Random(seed)
    assert_same(literature_before, random_ops(literature_before.snapshot, rng, rng.randint(1, 8)))


@pytest.mark.parametrize("seed", range(6))
def test_it_matches_a_fresh_analysis_on_random_changes_to_synthetic_accounts(seed):
    before = Analysis(synthetic(150, seed))
    rng = random.Random(seed)
    for _ in range(3):  # several "after" analyses from one "before": each leaves it as it was
        assert_same(before, random_ops(before.snapshot, rng, rng.randint(1, 10)))


def small_account():
    shared = managed("shared", doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*")))
    return snapshot(
        users=[
            user("dev", inline={"assume": doc(allow("sts:AssumeRole", arn("role", "deploy")))}, groups=("devs",)),
            user("intern", inline={"assume": doc(allow("sts:AssumeRole"))}),
            user("reader", policies=(shared,)),
        ],
        roles=[
            role("deploy", trust=trust_doc({"AWS": arn("user", "dev")}), policies=(shared,)),
            role("app", trust=trust_doc({"AWS": "arn:aws:iam::111122223333:root"})),
        ],
        groups=[group("devs"), group("admins", inline={"all": ADMIN})],
        policies=[shared],
    )


def test_it_makes_everyone_who_reaches_a_new_administrator_escalate():
    before = Analysis(small_account())
    assert "arn:aws:iam::111122223333:user/dev" not in before.escalating
    ops = [{"Operation": "PutRolePolicy", "RoleName": "deploy", "PolicyName": "all", "PolicyDocument": ADMIN}]
    after = incremental.after(before, apply_ops(before.snapshot, ops))
    assert arn("role", "deploy") in after.admins
    assert arn("user", "dev") in after.escalating
    assert_same(before, ops)


def test_it_follows_a_managed_policy_new_default_version_to_every_holder():
    before = Analysis(small_account())
    shared = "arn:aws:iam::111122223333:policy/shared"
    ops = [{"Operation": "CreatePolicyVersion", "PolicyArn": shared, "PolicyDocument": ADMIN, "SetAsDefault": True}]
    after = incremental.after(before, apply_ops(before.snapshot, ops))
    assert {arn("role", "deploy"), arn("user", "reader")} <= after.admins
    assert arn("user", "dev") in after.escalating
    assert_same(before, ops)


def test_it_sees_a_deny_cut_a_path_and_a_trust_change_open_one():
    snap = small_account()
    grant = [{"Operation": "PutRolePolicy", "RoleName": "deploy", "PolicyName": "all", "PolicyDocument": ADMIN}]
    before = Analysis(apply_ops(snap, grant).snapshot)
    assert arn("user", "dev") in before.escalating
    cut = [{"Operation": "PutUserPolicy", "UserName": "dev", "PolicyName": "fence",
            "PolicyDocument": doc(deny("sts:AssumeRole"))}]  # fmt: skip
    after = incremental.after(before, apply_ops(before.snapshot, cut))
    assert arn("user", "dev") not in after.escalating
    assert_same(before, cut)
    trust = [{"Operation": "UpdateAssumeRolePolicy", "RoleName": "deploy",
              "PolicyDocument": trust_doc({"AWS": arn("user", "intern")})}]  # fmt: skip
    after = incremental.after(before, apply_ops(before.snapshot, trust))
    assert arn("user", "intern") in after.escalating and arn("user", "dev") not in after.escalating
    assert_same(before, trust)


def test_it_follows_group_membership():
    before = Analysis(small_account())
    join = [{"Operation": "AddUserToGroup", "UserName": "reader", "GroupName": "admins"}]
    after = incremental.after(before, apply_ops(before.snapshot, join))
    assert arn("user", "reader") in after.admins
    assert_same(before, join)
    grant = [{"Operation": "PutGroupPolicy", "GroupName": "devs", "PolicyName": "all", "PolicyDocument": ADMIN}]
    after = incremental.after(before, apply_ops(before.snapshot, grant))
    assert arn("user", "dev") in after.admins
    assert_same(before, grant)


def test_it_leaves_the_analysis_before_as_it_was():
    before = Analysis(small_account())
    seen = views(before)
    ops = [{"Operation": "AttachUserPolicy", "UserName": "intern", "PolicyArn": ADMIN_ARN}]
    incremental.after(before, apply_ops(before.snapshot, ops))
    assert views(before) == seen


def chain_account():
    """a -> hub -> top (admin) by AssumeRole, b -> hub too, c -> top alone, hopper -> mid -> side; writer can rewrite
    "spare" and would assume it; joiner can join the group "ops"."""
    assume = doc(allow("sts:AssumeRole"))
    return snapshot(
        users=[
            user("a", inline={"assume": assume}),
            user("b", inline={"assume": assume}),
            user("c", inline={"assume": doc(allow("sts:AssumeRole", arn("role", "top")))}),
            user("writer", inline={"write": doc(allow(["iam:PutRolePolicy", "sts:AssumeRole"], arn("role", "spare")))}),
            user("joiner", inline={"join": doc(allow("iam:AddUserToGroup"))}),
            user("hopper", inline={"assume": assume}),
        ],
        roles=[
            role("hub", trust=trust_doc({"AWS": [arn("user", "a"), arn("user", "b")]}), inline={"assume": assume}),
            role("top", trust=trust_doc({"AWS": [arn("role", "hub"), arn("user", "c")]}), inline={"all": ADMIN}),
            role("spare", trust=trust_doc({"AWS": arn("user", "c")})),
            role("mid", trust=trust_doc({"AWS": arn("user", "hopper")}), inline={"assume": assume}),
            role("side", trust=trust_doc({"AWS": arn("role", "mid")})),
        ],
        groups=[group("ops", inline={"read": doc(allow("s3:GetObject"))})],
    )


def test_it_makes_everyone_upstream_of_a_new_administrator_escalate():
    before = Analysis(chain_account())
    assert not {arn("user", "hopper"), arn("role", "mid")} & before.escalating
    ops = [{"Operation": "PutRolePolicy", "RoleName": "side", "PolicyName": "all", "PolicyDocument": ADMIN}]
    after = incremental.after(before, apply_ops(before.snapshot, ops))
    assert arn("role", "side") in after.admins
    assert {arn("user", "hopper"), arn("role", "mid")} <= after.escalating
    assert_same(before, ops)


def test_it_cuts_everyone_whose_route_went_through_the_fenced_principal():
    before = Analysis(chain_account())
    assert {arn("user", "a"), arn("user", "b"), arn("user", "c")} <= before.escalating
    ops = [{"Operation": "PutRolePolicy", "RoleName": "hub", "PolicyName": "fence",
            "PolicyDocument": doc(deny("sts:AssumeRole"))}]  # fmt: skip
    after = incremental.after(before, apply_ops(before.snapshot, ops))
    assert not {arn("role", "hub"), arn("user", "a"), arn("user", "b")} & after.escalating
    assert arn("user", "c") in after.escalating
    assert_same(before, ops)


def test_it_follows_trust_changes_into_and_out_of_a_route():
    before = Analysis(chain_account())
    widen = [{"Operation": "UpdateAssumeRolePolicy", "RoleName": "top",
              "PolicyDocument": trust_doc({"AWS": "arn:aws:iam::111122223333:root"})}]  # fmt: skip
    after = incremental.after(before, apply_ops(before.snapshot, widen))
    assert {arn("user", "hopper"), arn("role", "mid")} <= after.escalating
    assert_same(before, widen)
    narrow = [{"Operation": "UpdateAssumeRolePolicy", "RoleName": "top",
               "PolicyDocument": trust_doc({"AWS": arn("user", "c")})}]  # fmt: skip
    after = incremental.after(before, apply_ops(before.snapshot, narrow))
    assert arn("user", "a") not in after.escalating and arn("user", "c") in after.escalating
    assert_same(before, narrow)
    # The writer could always rewrite "spare"; a trust that admits it makes that a way to admin.
    admit = [{"Operation": "UpdateAssumeRolePolicy", "RoleName": "spare",
              "PolicyDocument": trust_doc({"AWS": arn("user", "writer")})}]  # fmt: skip
    after = incremental.after(before, apply_ops(before.snapshot, admit))
    assert arn("user", "writer") in after.escalating
    assert_same(before, admit)


def test_it_sees_a_group_becoming_worth_joining_for_those_outside_it():
    before = Analysis(chain_account())
    assert arn("user", "joiner") not in before.escalating
    ops = [{"Operation": "PutGroupPolicy", "GroupName": "ops", "PolicyName": "all", "PolicyDocument": ADMIN}]
    after = incremental.after(before, apply_ops(before.snapshot, ops))
    assert arn("user", "joiner") in after.escalating
    assert_same(before, ops)


@pytest.mark.parametrize("seed", range(4))
def test_it_matches_a_fresh_analysis_when_built_from_an_analysis_that_was_itself_built_after_a_change(seed):
    rng = random.Random(100 + seed)
    before = Analysis(synthetic(120, seed))
    first = incremental.after(before, apply_ops(before.snapshot, random_ops(before.snapshot, rng, 4)))
    assert_same(first, random_ops(first.snapshot, rng, rng.randint(1, 6)))


@pytest.mark.parametrize("seed", range(12, 24))
def test_it_matches_a_fresh_analysis_on_more_random_changes_to_the_literature_account(literature_before, seed):
    rng = random.Random(seed)
    assert_same(literature_before, random_ops(literature_before.snapshot, rng, rng.randint(1, 3)))


@pytest.mark.parametrize("seed", range(4))
def test_a_what_if_comparison_reports_what_two_full_audits_report(literature_before, seed):
    # The comparison reads findings without fixes, patterns or compliance: its findings and risk scores must be
    # those of a full audit of each snapshot all the same.
    from audits.iam.whatif_report import audit_findings, compare

    rng = random.Random(100 + seed)
    snap = literature_before.snapshot
    ops = random_ops(snap, rng, rng.randint(1, 8))
    report = compare(snap, ops)
    before, before_result = audit_findings(snap)
    after, after_result = audit_findings(apply_ops(snap, ops).snapshot)
    old, new = {f["fingerprint"] for f in before}, {f["fingerprint"] for f in after}
    assert {f["fingerprint"] for f in report.added} == new - old
    assert {f["fingerprint"] for f in report.removed} == old - new
    assert report.risk_score == (before_result["risk_score"], after_result["risk_score"])


@pytest.mark.parametrize("seed", range(8))
def test_it_matches_a_fresh_analysis_when_a_new_policy_is_attached_in_the_same_change(literature_before, seed):
    # The fixes' managed fences: a policy created and attached at once (the account is patched, not rebuilt, and a
    # policy that allows nothing leaves everyone's own ways up as they were); also one that allows something.
    rng = random.Random(200 + seed)
    snap = literature_before.snapshot
    document = doc(*rng.sample(STATEMENTS[-4:], 2)) if seed % 2 == 0 else doc(*rng.sample(STATEMENTS, 2))
    kind, entries = rng.choice([("User", snap.users), ("Role", [r for r in snap.roles if "/aws-" not in r["Path"]])])
    name = rng.choice(entries)[f"{kind}Name"]
    ops = [
        {"Operation": "CreatePolicy", "PolicyName": f"fence-{seed}", "PolicyDocument": document},
        {"Operation": f"Attach{kind}Policy", f"{kind}Name": name, "PolicyArn": arn("policy", f"fence-{seed}")},
        *random_ops(snap, rng, rng.randint(0, 3)),
    ]
    assert_same(literature_before, ops)


def removal_ops(snap, rng: random.Random, count: int) -> list[dict]:
    """Changes that only take rights away, as the fixes' are: fences of Deny statements, detaching or deleting
    what only allows, leaving groups, an inline policy losing some of its Allow statements."""
    ops: list[dict] = []
    kinds = [("User", snap.users), ("Role", [r for r in snap.roles if "/aws-" not in str(r.get("Path", ""))])]
    for _ in range(count):
        kind, entries = rng.choice([k for k in kinds if k[1]])
        entry = rng.choice(entries)
        key, name = f"{kind}Name", entry[f"{kind}Name"]
        inline = [i for i in entry.get(f"{kind}PolicyList") or [] if isinstance(i.get("PolicyDocument"), dict)]
        allows = [
            i for i in inline if all(s.get("Effect") == "Allow" for s in dicts_of(i["PolicyDocument"].get("Statement")))
        ]
        roll = rng.randrange(4)
        if roll == 0 or not (allows or entry.get("AttachedManagedPolicies") or entry.get("GroupList")):
            fence = doc(*rng.sample([deny("iam:PassRole"), deny(["iam:*", "sts:*"]), deny("sts:AssumeRole"),
                                     deny("*", "arn:aws:iam::*:role/*")], 2))  # fmt: skip
            ops.append({"Operation": f"Put{kind}Policy", key: name, "PolicyName": f"fence-{rng.randrange(99)}",
                        "PolicyDocument": fence})  # fmt: skip
        elif roll == 1 and allows:
            chosen = rng.choice(allows)
            statements = dicts_of(chosen["PolicyDocument"].get("Statement"))
            kept = statements[: rng.randrange(len(statements))] if statements else []
            if kept:
                ops.append({"Operation": f"Put{kind}Policy", key: name, "PolicyName": chosen["PolicyName"],
                            "PolicyDocument": {**chosen["PolicyDocument"], "Statement": kept}})  # fmt: skip
            else:
                ops.append({"Operation": f"Delete{kind}Policy", key: name, "PolicyName": chosen["PolicyName"]})
        elif roll == 2 and entry.get("AttachedManagedPolicies"):
            arn_ = rng.choice(entry["AttachedManagedPolicies"])["PolicyArn"]
            ops.append({"Operation": f"Detach{kind}Policy", key: name, "PolicyArn": arn_})
        elif kind == "User" and entry.get("GroupList"):
            ops.append(
                {"Operation": "RemoveUserFromGroup", "UserName": name, "GroupName": rng.choice(entry["GroupList"])}
            )
    return ops


@pytest.mark.parametrize("seed", range(16))
def test_it_matches_a_fresh_analysis_on_changes_that_only_take_rights_away(literature_before, seed):
    # The shortcut for such changes (a principal's way to raise another is kept unless its target changed) must
    # give what a fresh analysis gives; most of these change sets take it.
    rng = random.Random(300 + seed)
    before = literature_before if seed % 2 == 0 else Analysis(synthetic(150, seed))
    ops = removal_ops(before.snapshot, rng, rng.randint(1, 6))
    assert_same(before, ops)


def test_removal_only_change_sets_take_the_shortcut(literature_before):
    rng = random.Random(7)
    taken = 0
    for _ in range(12):
        outcome = apply_ops(literature_before.snapshot, removal_ops(literature_before.snapshot, rng, 3))
        taken += incremental.after(literature_before, outcome).graph.previous.shrinks
    assert taken >= 6


@pytest.mark.parametrize("seed", range(12))
def test_a_change_that_only_takes_rights_away_from_a_hub_places_again_everyone_behind_it(seed):
    # Denies on, or detaching from, principals others route through (a claimant or an administrator): the search
    # places again only those whose route passed through them, and must find what a fresh search finds.
    before = literature_before_for_hubs() if seed % 3 == 0 else Analysis(synthetic(150, seed))
    graph = before.graph
    rng = random.Random(400 + seed)
    hubs = sorted({e.path[0].target for e in graph.escalations.values() if e.path} | set(graph.admin_proofs))
    hubs = [a for a in hubs if a in graph.nodes]
    ops = []
    for arn_ in rng.sample(hubs, min(len(hubs), rng.randint(1, 3))):
        p = graph.nodes[arn_]
        kind = "User" if p.type == "user" else "Role"
        if p.managed and rng.random() < 0.5:
            ops.append({"Operation": f"Detach{kind}Policy", f"{kind}Name": p.name, "PolicyArn": rng.choice(p.managed)})
        else:
            fence = doc(*rng.sample([deny("iam:PassRole"), deny(["iam:*", "sts:*"]), deny("sts:AssumeRole"),
                                     deny("*"), deny("lambda:*")], 2))  # fmt: skip
            ops.append({"Operation": f"Put{kind}Policy", f"{kind}Name": p.name, "PolicyName": "fence",
                        "PolicyDocument": fence})  # fmt: skip
    after = incremental.after(before, apply_ops(before.snapshot, ops))
    assert after.graph.previous is not None and after.graph.previous.shrinks
    assert_same(before, ops)


def literature_before_for_hubs() -> Analysis:
    return Analysis(literature())
