"""External access through resource policies, after IAM Access Analyzer: positives and the near-misses that stay
quiet (an organization condition naming our organization, Block Public Access, an RCP perimeter)."""

import json
from datetime import UTC, datetime

import pytest

from audits.iam import external_access, organization
from audits.iam.resources import parse_resources
from tests.iam.builders import identity_perimeter

OWN = "111122223333"
PARTNER = "999988887777"
MEMBER = "444455556666"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
ORG = organization.parse_organization(
    {
        "id": "o-ours12345",
        "management_account_id": "222222222222",
        "nodes": [
            {"id": "r-1", "type": "ROOT", "name": "Root"},
            {"id": OWN, "type": "ACCOUNT", "name": "prod", "parent": "r-1"},
            {"id": MEMBER, "type": "ACCOUNT", "name": "dev", "parent": "r-1"},
        ],
        "policies": [],
    }
)


def bucket(name: str, *statements: dict, block: dict | None = None) -> dict:
    return {
        "type": "s3:bucket",
        "arn": f"arn:aws:s3:::{name}",
        "name": name,
        "block_public_access": block,
        "policy": {"Version": "2012-10-17", "Statement": list(statements)},
    }


def queue(name: str, *statements: dict) -> dict:
    return {
        "type": "sqs:queue",
        "arn": f"arn:aws:sqs:us-east-1:{OWN}:{name}",
        "name": name,
        "policy": {"Version": "2012-10-17", "Statement": list(statements)},
    }


def public_read(name: str, **extra) -> dict:
    return {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*",
        **extra,
    }


def found(resources, org=ORG, account_block=None):
    return external_access.analyse(parse_resources(resources), OWN, org, NOW, account_block)


def test_it_reports_a_public_bucket():
    (access,) = found([bucket("site", public_read("site"))])
    assert (access.who, access.principal, access.actions) == ("public", "*", ("s3:GetObject",))
    assert access.conditions == () and not access.blocked_by_bpa
    assert access.statements[-1]["sid"] == "" and access.statements[-1]["index"] == 1


def test_a_bucket_open_to_our_organization_only_stays_quiet():
    statement = public_read("shared", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-ours12345"}})
    assert found([bucket("shared", statement)]) == []


def test_an_organization_condition_we_cannot_check_is_named():
    statement = public_read("shared", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-ours12345"}})
    (access,) = found([bucket("shared", statement)], org=None)
    assert [c.key for c in access.conditions] == ["aws:PrincipalOrgID"]
    assert external_access.limiting(access.conditions)


def test_block_public_access_is_applied_before_calling_a_bucket_public():
    everything = dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    (by_account,) = found([bucket("b", public_read("b"))], account_block=everything)
    assert by_account.blocked_by_bpa
    (by_bucket,) = found([bucket("b", public_read("b"), block={"RestrictPublicBuckets": True})])
    assert by_bucket.blocked_by_bpa
    # BlockPublicPolicy alone stops new public policies; the existing one still works.
    (not_blocked,) = found([bucket("b", public_read("b"), block={"BlockPublicPolicy": True})])
    assert not not_blocked.blocked_by_bpa


def test_a_grant_to_one_prefix_opens_that_prefix():
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::docs/public/*",
    }
    (access,) = found([bucket("docs", statement)])
    assert access.actions == ("s3:GetObject",)


def test_it_reports_an_account_outside_the_organization_but_not_a_member():
    statements = [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"}, "Action": "sqs:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": MEMBER}, "Action": "sqs:*", "Resource": "*"},
    ]
    accesses = found([queue("jobs", *statements)])
    assert [(a.who, a.principal) for a in accesses] == [("account", PARTNER)]
    assert "sqs:ReceiveMessage" in accesses[0].actions


def test_it_reports_a_service_that_can_be_used_for_another_account():
    from_sns = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": "*",
    }
    (access,) = found([queue("q", from_sns)])
    assert (access.who, access.principal) == ("service", "sns.amazonaws.com")


def test_a_service_grant_pinned_to_our_topic_stays_quiet():
    pinned = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": "*",
        "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:sns:us-east-1:{OWN}:t"}},
    }
    assert found([queue("q", pinned)]) == []


def test_an_ip_condition_leaves_the_access_conditional_and_named():
    statement = public_read("b", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})
    (access,) = found([bucket("b", statement)])
    assert [c.key for c in access.conditions] == ["aws:SourceIp"]
    assert "203.0.113.0/24" in access.conditions[0].describe()


def test_an_explicit_deny_for_outsiders_closes_it():
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": OWN}},
    }
    assert found([bucket("b", public_read("b"), deny)]) == []


def test_an_rcp_perimeter_closes_a_path_that_the_policy_opens():
    perimeter = {
        "id": "p-rcp",
        "type": organization.RCP,
        "name": "perimeter",
        "document": json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [identity_perimeter("s3:*", "o-ours12345")],
            }
        ),
    }
    org = organization.parse_organization(
        {
            **ORG,
            "policies": [perimeter],
            "nodes": [{**n, "policies": ["p-rcp"] if n["type"] == "ROOT" else []} for n in ORG["nodes"]],
        }
    )
    assert found([bucket("b", public_read("b"))], org=org) == []
    assert found([bucket("b", public_read("b"))]) != [], "the same bucket without the RCP is public"


@pytest.mark.parametrize(
    "kind, arn, action",
    [
        ("kms:key", f"arn:aws:kms:us-east-1:{OWN}:key/k", "kms:Decrypt"),
        (
            "secretsmanager:secret",
            f"arn:aws:secretsmanager:us-east-1:{OWN}:secret:s-AbCd",
            "secretsmanager:GetSecretValue",
        ),
        ("lambda:function", f"arn:aws:lambda:us-east-1:{OWN}:function:f", "lambda:InvokeFunction"),
        ("ecr:repository", f"arn:aws:ecr:us-east-1:{OWN}:repository/r", "ecr:BatchGetImage"),
        ("sns:topic", f"arn:aws:sns:us-east-1:{OWN}:t", "sns:Publish"),
    ],
)
def test_every_resource_type_is_asked(kind, arn, action):
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": action, "Resource": "*"}],
    }
    (access,) = found([{"type": kind, "arn": arn, "name": "x", "policy": policy}])
    assert access.who == "public" and action in access.actions


def test_the_audit_reports_external_access_of_the_sample_bundle():
    from pathlib import Path

    from audits.iam import run_audit
    from audits.iam.snapshot import load_snapshot

    sample = Path(__file__).resolve().parents[2] / "audits" / "iam" / "data" / "sample_org_bundle.json"
    found: list[dict] = []
    outcome = run_audit(
        load_snapshot(sample.read_bytes()),
        lambda t, m, p, pl=None: found.append(pl["finding"]) if t == "finding" else None,
        frameworks=["soc2"],
    )
    external = {(f["check_id"], f["policy"].rsplit(":", 1)[-1]) for f in found if f["category"] == "external_access"}
    assert ("resource_public_access", "acme-public-assets") in external
    assert ("resource_external_account_access", "key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b") in external
    assert ("resource_service_confused_deputy", "order-events") in external
    named = {name for _, name in external}
    # Our organization's own condition, Block Public Access and the secrets RCP keep these quiet.
    assert not named & {"acme-org-shared", "acme-backups", "alerts", "repository/web", "secret:prod/db-AbCdEf"}
    soc2 = {c["id"]: c["status"] for c in outcome.result["compliance"]["soc2"]["controls"]}
    assert soc2["CC6.6"] == "fail"
