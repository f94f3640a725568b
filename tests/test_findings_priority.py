"""What to fix first: groups worst first with their figures, top risks once each, evidence trimmed to what grants
the finding, conditions in words, and AWS managed policies never told to be edited."""

import re

import pytest

from audits.iam.agent import run_audit
from audits.iam.remediation import fix_for
from audits.iam.snapshot import load_demo_snapshot
from audits.models import SEVERITIES, AuditRun, Finding
from audits.runs import worker
from tests.helpers import make_run
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db

SECURITY_AUDIT = "arn:aws:iam::aws:policy/SecurityAudit"
EC2_FULL = "arn:aws:iam::aws:policy/AmazonEC2FullAccess"


def group_headers(text: str) -> list[str]:
    rows = re.findall(r'<tr class="group-row"><th colspan="4" scope="rowgroup">(.*?)</th></tr>', text, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def granting_section(text: str) -> str:
    start = text.index("<h3>Granting statements</h3>")
    ends = [text.find(mark, start + 10) for mark in ("<h3", '<details class="other-statements"')]
    return text[start : min([e for e in ends if e != -1] or [len(text)])]


def principal(name: str, severity: str, fingerprint: str) -> dict:
    return make_finding(
        fingerprint, severity=severity, principal_name=name, principal_arn=f"arn:aws:iam::111122223333:role/{name}"
    )


def test_it_groups_by_principal_worst_first_then_by_count_with_figures(client, alice):
    findings = [
        # "many": three, worst high; "one-crit": one critical; "two-crit": two, worst critical; "low": one low.
        principal("many", "high", "m1"),
        principal("many", "medium", "m2"),
        principal("many", "low", "m3"),
        principal("one-crit", "critical", "c1"),
        principal("two-crit", "low", "t1"),
        principal("two-crit", "critical", "t2"),
        principal("aaa-low", "low", "l1"),
    ]
    run = make_completed_run(alice, findings)
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/?group=principal").text
    assert group_headers(text) == [
        "Role two-crit 2 findings · worst: critical",
        "Role one-crit 1 finding · worst: critical",
        "Role many 3 findings · worst: high",
        "Role aaa-low 1 finding · worst: low",
    ]
    # Within a group, the worst finding comes first.
    titles = re.findall(r'class="finding-link"[^>]*>([^<]+)</a>', text)
    assert titles[:2] == ["Finding t2", "Finding t1"]
    by_check = client.get(f"/audits/{run.pk}/?group=check").text
    assert group_headers(by_check) == ["iam_admin_access · Privilege 7 findings · worst: critical"]


def test_it_counts_the_whole_group_across_pages(client, alice):
    findings = [principal("big", "medium", f"b{i}") for i in range(30)] + [principal("small", "critical", "s")]
    run = make_completed_run(alice, findings)
    client.force_login(alice)
    second = client.get(f"/audits/{run.pk}/?group=principal&per=25&page=2").text
    assert group_headers(second) == ["Role big 30 findings · worst: medium"]


def test_it_lists_each_top_risk_once_worst_first():
    outcome = run_audit(load_demo_snapshot(), lambda *args, **kwargs: None)
    result = outcome.result
    keys = [(r["principal_type"], r["principal"], r["title"]) for r in result["top_risks"]]
    assert len(keys) == len(set(keys)) == 10
    ranks = [SEVERITIES.index(r["severity"]) for r in result["top_risks"]]
    assert ranks == sorted(ranks)
    # terraform holds admin rights through its own inline policy: one risk, where it used to be listed twice.
    assert [r["principal"] for r in result["top_risks"]].count("terraform") == 1


def test_it_shows_only_the_statements_that_grant_a_hop_with_the_action_marked(client, alice, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    run = make_run(alice, status=AuditRun.Status.QUEUED)
    assert worker.execute(run.pk) == "completed"
    finding = Finding.objects.get(run=run, check_id="principal_privilege_escalation", principal_name="helpdesk")
    assert SECURITY_AUDIT in str(finding.evidence["statements"])  # the engine read it on the way
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/findings/{finding.pk}/").text
    granting = granting_section(text)
    assert "<mark>&quot;iam:CreateAccessKey&quot;</mark>" in granting
    assert "SecurityAudit" not in granting and "access-analyzer:GetAnalyzer" not in text
    assert "other statement" in text and "not the grant of these actions" in text
    assert "administrator rights at the end of the path" in text
    assert "AdministratorAccess" not in granting  # the target's rights, at the end of the path


def test_it_folds_a_long_action_list_around_the_matched_action(client, alice):
    actions = [f"svc{i:03d}:Describe*" for i in range(299)] + ["iam:CreateAccessKey"]
    evidence = {
        "method": "CreateAccessKey",
        "actions": ["iam:CreateAccessKey"],
        "path": [{"from": "arn:aws:iam::1:user/a", "to": "arn:aws:iam::1:user/b", "method": "CreateAccessKey"}],
        "statements": [
            {"policy": "Helpdesk", "index": 1, "statement": {"Effect": "Allow", "Action": actions, "Resource": "*"}},
            {
                "policy": SECURITY_AUDIT,
                "index": 1,
                "statement": {"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
            },
        ],
    }
    run = make_completed_run(alice, [make_finding("hop", evidence=evidence)])
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/findings/{Finding.objects.get(run=run).pk}/").text
    granting = granting_section(text)
    assert "<mark>&quot;iam:CreateAccessKey&quot;</mark>" in granting
    assert "and 299 more actions" in granting
    assert granting.count("svc") == 299  # only inside the fold, not in the statement's code
    assert "Show the 299 other actions" in granting
    assert "SecurityAudit" not in granting and "SecurityAudit" in text  # named among the other statements


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        (
            {
                "operator": "Bool",
                "key": "aws:MultiFactorAuthPresent",
                "values": ["true"],
                "negated": False,
                "text": "aws:MultiFactorAuthPresent is true",
            },
            "Only when aws:MultiFactorAuthPresent is true",
        ),
        (
            {"operator": "IpAddress", "key": "aws:SourceIp", "values": ["10.0.0.0/8"], "negated": True},
            "Unless aws:SourceIp in 10.0.0.0/8",
        ),
        (
            {
                "operator": "IpAddress",
                "key": "aws:SourceIp",
                "values": ["10.0.0.0/8"],
                "negated": True,
                "text": "not (aws:SourceIp in 10.0.0.0/8)",
            },
            "Unless aws:SourceIp in 10.0.0.0/8",
        ),
    ],
)
def test_it_says_conditions_in_words_never_as_json(client, alice, condition, words):
    evidence = {
        "conditions": [condition],
        "grants": [{"action": "iam:PassRole", "conditions": [condition]}],
        "statements": [
            {
                "policy": "Ops",
                "statement": {
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                },
            }
        ],
    }
    run = make_completed_run(alice, [make_finding("c", evidence=evidence)])
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/findings/{Finding.objects.get(run=run).pk}/").text
    assert f"<li>{words}</li>" in text
    assert "negated" not in text and "&quot;operator&quot;" not in text
    assert words[0].lower() + words[1:] in text  # the nested one in other evidence, too
    assert "Only when aws:MultiFactorAuthPresent is true." in text  # the statement's own Condition block


def managed_finding(check_id: str = "policy_data_exfiltration", **fields) -> dict:
    arn = fields.pop("principal_arn", EC2_FULL)
    fields = {"principal_name": "AmazonEC2FullAccess", "policy": arn} | fields
    return make_finding(
        "managed",
        check_id=check_id,
        category="data_exfiltration",
        principal_type="policy",
        principal_arn=arn,
        remediation="Scope these actions to the buckets, parameters and secrets the workload owns.",
        evidence={
            "actions": ["ec2:GetPasswordData"],
            "attached_to": ["legacy-jenkins"],
            "statements": [
                {"policy": arn, "index": 1, "statement": {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}}
            ],
        },
        **fields,
    )


@pytest.mark.parametrize("check_id", ["policy_data_exfiltration", "policy_admin_access", "policy_service_wildcard"])
def test_it_tells_to_detach_or_copy_an_aws_managed_policy_never_to_edit_it(check_id):
    fix = fix_for(managed_finding(check_id))
    assert fix["summary"].startswith("AWS manages this policy: detach it from legacy-jenkins or replace it with a ")
    assert "customer-managed copy" in fix["summary"]
    for words in ("narrow", "Remove ", "delete", "List the actions and resources the job needs instead"):
        assert words not in fix["summary"], words
    assert f"aws iam list-entities-for-policy --policy-arn {EC2_FULL}" in fix["cli"]
    assert not any("delete-policy" in line or "create-policy-version" in line for line in fix["cli"])


def test_it_keeps_customer_managed_policies_editable():
    mine = "arn:aws:iam::111122223333:policy/Mine"
    fix = fix_for(managed_finding(principal_arn=mine, principal_name="Mine"))
    assert "AWS manages" not in fix["summary"]


def test_the_finding_page_shows_the_aws_managed_wording_even_for_an_older_stored_fix(client, alice):
    old_fix = {"summary": "Remove ec2:GetPasswordData; narrow the wildcard later.", "cli": [], "docs": []}
    run = make_completed_run(alice, [managed_finding(fix=old_fix)])
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/findings/{Finding.objects.get(run=run).pk}/").text
    assert "AWS manages this policy: detach it from legacy-jenkins" in text
    assert "narrow" not in text and "Scope these actions" not in text
