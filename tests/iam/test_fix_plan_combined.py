"""One plan for many fixes: every admin and escalation finding of an account fixed by one merged change set, applied
exactly as printed (its AWS CLI lines read back), with fewer operations than the findings' fixes one by one."""

from __future__ import annotations

import io
import json
from functools import cache
from pathlib import Path

import pytest

from audits.iam.analysis import Analysis
from audits.iam.changeset import parse_cli
from audits.iam.fix_plan import (
    ESCALATION,
    ESCALATION_FAMILY,
    FENCE_POLICY,
    HANDLED,
    PRINCIPAL_ADMIN,
    merge_ops,
    plan_account,
)
from audits.iam.snapshot import load_demo_snapshot, load_snapshot
from audits.iam.whatif import apply_ops
from audits.iam.whatif_report import audit_findings
from audits.management.commands.audit import main

LITERATURE = Path(__file__).resolve().parent / "scenarios" / "literature_account.json"


def literature():
    return load_snapshot(LITERATURE.read_bytes())


@cache
def planned(name: str):
    """The account, its findings and its combined plan, once per test session (the literature account's takes s)."""
    snapshot = load_demo_snapshot() if name == "demo" else literature()
    findings, _ = audit_findings(snapshot)
    return snapshot, findings, plan_account(snapshot, findings)


def risks_left(snapshot, targets: list[dict]) -> list[dict]:
    """The targets whose risk a fresh audit of `snapshot` still finds on their principal."""
    after, _ = audit_findings(snapshot)
    held: dict[str, set[str]] = {}
    for f in after:
        held.setdefault(f["principal_arn"], set()).add(f["check_id"])
    left = []
    for target in targets:
        same = {target["check_id"]}
        if target["check_id"] in PRINCIPAL_ADMIN:
            same |= {"principal_privilege_escalation"}
        if target["check_id"] in ESCALATION:
            same |= ESCALATION_FAMILY
        if same & held.get(target["principal_arn"], set()):
            left.append(target)
    return left


@pytest.mark.parametrize("name", ["demo", "literature"])
def test_it_removes_every_admin_and_escalation_finding_with_fewer_ops(name):
    snapshot, findings, plan = planned(name)
    targets = [f for f in findings if f["check_id"] in HANDLED]
    assert targets and len(plan.targets) == len(targets) and not plan.errors

    as_printed = parse_cli("\n".join(plan.to_dict()["cli"]))
    outcome = apply_ops(snapshot, as_printed)
    assert not outcome.errors
    left = risks_left(outcome.snapshot, targets)
    # Only what no IAM change can touch is left: roles AWS protects, which their owner changes outside IAM.
    assert {f["fingerprint"] for f in left} == {f["fingerprint"] for f in plan.outside_iam}
    assert not plan.remaining and len(plan.gone) == len(targets) - len(plan.outside_iam)
    assert all("/aws-reserved/" in f["principal_arn"] or ":aws:policy/" in f["principal_arn"] for f in left)
    assert bool(plan.outside_iam) == bool(plan.owner_steps)
    assert len(plan.ops) < plan.separate_ops
    assert plan.separate_ops == sum(len(f["fix"].get("ops") or []) for f in targets)


def test_it_writes_one_fence_per_principal():
    _, _, plan = planned("literature")
    fenced = [
        (op["Operation"], op.get("UserName") or op.get("RoleName"))
        for op in plan.ops
        if op.get("PolicyName") == FENCE_POLICY or str(op.get("PolicyName", "")).startswith(f"{FENCE_POLICY}-")
    ]
    assert fenced and len(fenced) == len(set(fenced))
    assert len({json.dumps(op, sort_keys=True) for op in plan.ops}) == len(plan.ops)


def test_the_cli_prints_the_plan_and_exits_0_when_every_finding_is_gone():
    out, err = io.StringIO(), io.StringIO()
    assert main(["fixes", "--snapshot", str(LITERATURE), "--format", "json"], stdout=out, stderr=err) == 0
    body = json.loads(out.getvalue())
    assert body["complete"] and not body["remaining"] and body["operations"] < body["separate_operations"]

    script = io.StringIO()
    assert main(["fixes", "--snapshot", str(LITERATURE), "--format", "cli"], stdout=script, stderr=err) == 0
    assert parse_cli(script.getvalue()) == body["ops"]  # the header is comments: the script runs as printed


def test_the_cli_exits_1_when_a_finding_is_left_and_says_which():
    out, err = io.StringIO(), io.StringIO()
    assert main(["fixes", "--demo", "--format", "cli"], stdout=out, stderr=err) == 1
    assert "# left: role_admin_access" in out.getvalue() and "# outside IAM:" in out.getvalue()
    terraform = io.StringIO()
    assert main(["fixes", "--demo", "--format", "terraform"], stdout=terraform, stderr=err) == 1
    assert 'resource "aws_iam_' in terraform.getvalue() and terraform.getvalue().startswith("# ")
    bad = io.StringIO()
    assert main(["fixes", "--demo", "--format", "sarif"], stdout=out, stderr=bad) == 2
    assert "fixes --format is json, cli or terraform" in bad.getvalue()


def test_merging_keeps_one_rewrite_per_policy_and_deletes_policies_last():
    analysis = Analysis(load_demo_snapshot())
    keep = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    first = {"Version": "2012-10-17", "Statement": [keep, {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}
    second = {"Version": "2012-10-17", "Statement": [keep, {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    arn = "arn:aws:iam::123456789012:policy/some-policy"
    put = {"Operation": "PutUserPolicy", "UserName": "terraform", "PolicyName": "p"}
    detach = {"Operation": "DetachRolePolicy", "RoleName": "ci", "PolicyArn": arn}
    merged = merge_ops(
        [
            {"Operation": "DeletePolicy", "PolicyArn": arn},
            {**put, "PolicyDocument": first},
            detach,
            {"Operation": "CreatePolicyVersion", "PolicyArn": arn, "PolicyDocument": first, "SetAsDefault": True},
            {**put, "PolicyDocument": second},
            detach,
        ],
        analysis,
    )
    assert merged == [detach, {**put, "PolicyDocument": {**second, "Statement": [keep]}}, merged[-1]]
    assert merged[-1] == {"Operation": "DeletePolicy", "PolicyArn": arn}
