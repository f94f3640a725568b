"""fix_for: a concrete fix with the real names for every check, from stored or contract-shaped findings."""

import json

import pytest

from audits.iam import CHECKS, run_audit
from audits.iam.remediation import fix_for
from audits.iam.snapshot import load_demo_snapshot

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def demo_findings() -> dict[str, dict]:
    """One finding per check the demo account raises (it is built to raise nearly all of them)."""
    found: dict[str, dict] = {}

    def emit(type_, message, progress, payload=None):
        if type_ == "finding":
            finding = payload.get("finding", payload)
            found.setdefault(finding["check_id"], finding)

    run_audit(load_demo_snapshot(), emit, frameworks=["cis"])
    return found


@pytest.fixture(scope="module")
def demo_findings_all() -> list[dict]:
    found: list[dict] = []

    def emit(kind: str, message: str, progress: int, payload: dict) -> None:
        if kind == "finding":
            found.append(payload["finding"])

    run_audit(load_demo_snapshot(), emit)
    return found


def finding(check_id: str, **fields) -> dict:
    check = CHECKS.get(check_id)
    base = {
        "check_id": check_id,
        "category": check.category if check else "",
        "severity": "high",
        "principal_arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
        "principal_type": "user",
        "principal_name": "alice",
        "policy": "",
        "title": "t",
        "detail": "",
        "evidence": {},
        "remediation": "Do the right thing.",
        "controls": {},
        "fingerprint": "f" * 64,
    }
    base.update(fields)
    return base


def assert_complete(fix: dict) -> None:
    assert set(fix) == {"summary", "cli", "policy", "terraform", "docs"}
    assert fix["summary"] and isinstance(fix["cli"], list) and isinstance(fix["terraform"], str)
    assert fix["policy"] is None or fix["policy"]["Version"] == "2012-10-17"
    assert fix["docs"] and all(d["url"].startswith("https://docs.aws.amazon.com/") and d["title"] for d in fix["docs"])
    json.dumps(fix)  # stored in a JSON column


def test_it_fixes_every_check_in_the_catalog(demo_findings):
    for check_id in CHECKS:
        fix = fix_for(demo_findings.get(check_id) or finding(check_id))
        assert_complete(fix)
    assert len(demo_findings) >= 30


def test_it_names_the_principal_and_policy_of_a_user_admin_finding(demo_findings):
    fix = fix_for(demo_findings["user_admin_access"])
    name = demo_findings["user_admin_access"]["principal_name"]
    assert (
        f"aws iam detach-user-policy --user-name {name} --policy-arn arn:aws:iam::aws:policy/AdministratorAccess"
        in fix["cli"]
    )
    assert any(f"arn:aws:iam::{ACCOUNT}:policy/aegis-admin-boundary" in c for c in fix["cli"])
    assert {
        "Sid": "DenyIdentityAndAccountAdministration",
        "Effect": "Deny",
        "Action": ["account:*", "iam:*", "organizations:*"],
        "Resource": "*",
    } in fix["policy"]["Statement"]


def test_it_removes_the_dangerous_actions_from_an_explicit_action_list():
    statement = {"Effect": "Allow", "Action": ["iam:PassRole", "cloudformation:DescribeStacks"], "Resource": "*"}
    fix = fix_for(
        finding(
            "policy_infrastructure_modification",
            principal_type="role",
            principal_name="deployer",
            principal_arn=f"arn:aws:iam::{ACCOUNT}:role/deployer",
            policy="stacks",
            evidence={
                "actions": ["iam:PassRole"],
                "statements": [{"policy": "stacks", "sid": "", "statement": statement}],
            },
        )
    )
    assert fix["policy"]["Statement"] == [
        {"Effect": "Allow", "Action": "cloudformation:DescribeStacks", "Resource": "*"}
    ]
    assert fix["cli"] == [
        "aws iam put-role-policy --role-name deployer --policy-name stacks --policy-document file://fixed-policy.json"
    ]
    assert 'resource "aws_iam_role_policy" "deployer_stacks"' in fix["terraform"]


def test_it_fences_a_wildcard_grant_with_a_deny_on_the_holder():
    statement = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    fix = fix_for(
        finding(
            "policy_privilege_escalation",
            policy="everything",
            evidence={
                "methods": [
                    {
                        "method": "CreateAccessKey",
                        "actions": ["iam:CreateAccessKey"],
                        "statements": [{"policy": "everything", "sid": "", "statement": statement}],
                    },
                    {
                        "method": "PassRoleLambda",
                        "actions": ["iam:PassRole", "lambda:CreateFunction"],
                        "statements": [{"policy": "everything", "sid": "", "statement": statement}],
                    },
                ]
            },
        )
    )
    assert fix["policy"]["Statement"][0]["Effect"] == "Deny"
    # One action per method breaks it: the IAM one, not the workload's lambda:CreateFunction.
    assert fix["policy"]["Statement"][0]["Action"] == ["iam:CreateAccessKey", "iam:PassRole"]
    assert fix["cli"][0].startswith("aws iam put-user-policy --user-name alice --policy-name aegis-policy-privilege")


def test_it_adds_to_notaction_and_versions_a_customer_managed_policy():
    arn = f"arn:aws:iam::{ACCOUNT}:policy/Power"
    statement = {"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"}
    fix = fix_for(
        finding(
            "policy_marketplace_subscribe",
            principal_type="policy",
            principal_name="Power",
            principal_arn=arn,
            policy=arn,
            evidence={"statements": [{"policy": "Power", "sid": "#0", "statement": statement}]},
        )
    )
    assert fix["policy"]["Statement"][0]["NotAction"] == ["iam:*", "aws-marketplace:Subscribe"]
    assert fix["cli"][0] == (
        f"aws iam create-policy-version --policy-arn {arn} --policy-document file://fixed-policy.json --set-as-default"
    )


def test_it_deletes_a_policy_left_empty():
    statement = {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*"}
    fix = fix_for(
        finding(
            "policy_credentials_exposure",
            evidence={
                "actions": ["iam:PassRole"],
                "statements": [
                    {
                        "policy": "role/github-actions-deploy:inline/pass-any-role",
                        "sid": "",
                        "index": 1,
                        "statement": statement,
                    }
                ],
            },
        )
    )
    assert fix["cli"] == ["aws iam delete-role-policy --role-name github-actions-deploy --policy-name pass-any-role"]
    assert fix["policy"] is None


def test_it_cuts_the_first_hop_of_an_assume_role_path(demo_findings_all):
    (escalation,) = [
        f
        for f in demo_findings_all
        if f["principal_name"] == "github-actions-deploy" and f["check_id"] == "principal_privilege_escalation"
    ]
    fix = fix_for(escalation)
    deny = fix["policy"]["Statement"][0]
    assert deny["Action"] == ["sts:AssumeRole"] and deny["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/ProductionAdmin"
    assert fix["cli"][0].startswith("aws iam put-role-policy --role-name github-actions-deploy ")


def test_it_reads_the_contract_path_and_inline_source_labels():
    fix = fix_for(
        finding(
            "some_future_escalation_path",
            category="privilege_escalation",
            evidence={
                "method": "AssumeRole",
                "path": [
                    {
                        "from": f"arn:aws:iam::{ACCOUNT}:user/alice",
                        "to": f"arn:aws:iam::{ACCOUNT}:role/Admin",
                        "method": "sts:AssumeRole",
                        "via": "",
                        "conditions": [],
                    }
                ],
                "target": f"arn:aws:iam::{ACCOUNT}:role/Admin",
                "target_kind": "admin",
            },
        )
    )
    assert fix["policy"]["Statement"][0]["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/Admin"
    statement = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}
    fix = fix_for(
        finding(
            "policy_data_exfiltration",
            evidence={
                "actions": ["s3:GetObject"],
                "statements": [{"policy": "user/alice:inline/reader", "sid": "", "index": 1, "statement": statement}],
            },
        )
    )
    assert fix["cli"] == [
        "aws iam put-user-policy --user-name alice --policy-name reader --policy-document file://fixed-policy.json"
    ]


@pytest.mark.parametrize(
    ("check_id", "principal", "condition"),
    [
        ("trust_any_principal", {"AWS": "*"}, {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}),
        (
            "trust_service_confused_deputy",
            {"Service": "lambda.amazonaws.com"},
            {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        ),
        (
            "trust_own_account_root",
            {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/<role>"}},
        ),
    ],
)
def test_it_restricts_a_trust_policy_by_who_it_trusts(check_id, principal, condition):
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    fix = fix_for(
        finding(
            check_id,
            category="trust_policy",
            principal_type="role",
            principal_name="app",
            principal_arn=f"arn:aws:iam::{ACCOUNT}:role/app",
            evidence={"statement": statement},
        )
    )
    assert fix["policy"]["Statement"][0]["Condition"] == condition
    assert fix["cli"] == [
        "aws iam update-assume-role-policy --role-name app --policy-document file://trust-policy.json"
    ]


def test_it_uses_the_key_id_from_evidence_when_there_is_one():
    fix = fix_for(finding("access_key_unused", evidence={"key": 2, "access_key_id": "AKIAEXAMPLE1234"}))
    assert "aws iam update-access-key --user-name alice --access-key-id AKIAEXAMPLE1234 --status Inactive" in fix["cli"]
    fix = fix_for(finding("access_key_unused", evidence={"key": 2}))
    assert "[1].AccessKeyId" in fix["cli"][0]


def test_it_sets_the_whole_password_policy_at_once(demo_findings):
    fix = fix_for(demo_findings["password_min_length"])
    assert "MinimumPasswordLength is 6" in fix["summary"]
    assert "--minimum-password-length 14" in fix["cli"][0] and "--password-reuse-prevention 24" in fix["cli"][0]
    assert "aws_iam_account_password_policy" in fix["terraform"]


def test_it_quotes_names_a_shell_would_split():
    fix = fix_for(finding("console_access_unused", principal_name="bob; rm -rf /"))
    assert fix["cli"] == ["aws iam delete-login-profile --user-name 'bob; rm -rf /'"]


@pytest.mark.parametrize(
    "evidence",
    [
        None,
        [],
        "text",
        {"statements": "x", "methods": [1, None]},
        {"path": "a -> b", "hops": [None]},
        {"statement": {"Principal": 5}},
    ],
)
def test_it_never_raises_on_odd_evidence(evidence):
    for check_id in CHECKS:
        assert_complete(fix_for(finding(check_id, evidence=evidence)))


def test_it_gives_an_unknown_check_its_own_remediation():
    fix = fix_for(finding("brand_new_check", category="brand_new"))
    assert fix["summary"] == "Do the right thing."
