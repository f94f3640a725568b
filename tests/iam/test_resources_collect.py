"""Collecting resource-based policies and the organization with moto; faults with botocore's Stubber."""

import json

import pytest
from botocore.stub import Stubber

from audits.iam import organization, organization_collect, resource_collect, resources
from audits.iam.resource_collect import collect_resources
from audits.iam.resources import ResourceFormatError, parse_resources

ACCOUNT = "123456789012"  # moto's default account
OTHER = "999988887777"


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def build_resources(session) -> None:
    s3 = session.client("s3")
    s3.create_bucket(Bucket="public-site")
    s3.put_bucket_policy(
        Bucket="public-site",
        Policy=doc(
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::public-site/*"}
        ),
    )
    s3.create_bucket(Bucket="locked")
    s3.put_public_access_block(
        Bucket="locked",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    kms = session.client("kms")
    key = kms.create_key(
        Policy=doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                "Action": "kms:Decrypt",
                "Resource": "*",
            }
        )
    )["KeyMetadata"]
    sqs = session.client("sqs")
    queue = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=queue,
        Attributes={
            "Policy": doc(
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs",
                }
            )
        },
    )
    sns = session.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sns.set_topic_attributes(
        TopicArn=topic,
        AttributeName="Policy",
        AttributeValue=doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": topic}),
    )
    secrets = session.client("secretsmanager")
    secret = secrets.create_secret(Name="db-password", SecretString="x")["ARN"]
    secrets.put_resource_policy(
        SecretId=secret,
        ResourcePolicy=doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
            }
        ),
    )
    ecr = session.client("ecr")
    ecr.create_repository(repositoryName="app")
    ecr.set_repository_policy(
        repositoryName="app",
        policyText=doc({"Sid": "pull", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}),
    )
    return key


def test_it_collects_every_resource_policy_type(aws):
    key = build_resources(aws)
    warnings: list[str] = []
    found = collect_resources(aws, ACCOUNT, warnings.append, regions=["us-east-1"])
    by_type = {}
    for item in found["resources"]:
        by_type.setdefault(item["type"], []).append(item)
    assert set(by_type) >= {"s3:bucket", "kms:key", "sqs:queue", "sns:topic", "secretsmanager:secret", "ecr:repository"}
    buckets = {b["name"]: b for b in by_type["s3:bucket"]}
    assert buckets["public-site"]["policy"]["Statement"][0]["Principal"] == "*"
    assert buckets["public-site"]["block_public_access"] is None
    assert buckets["locked"]["block_public_access"]["BlockPublicPolicy"] is True
    assert buckets["locked"]["policy"] is None
    (kms_key,) = by_type["kms:key"]
    assert kms_key["arn"] == key["Arn"]
    assert kms_key["policy"]["Statement"][0]["Principal"]["AWS"].endswith(f"{OTHER}:root")
    assert by_type["sqs:queue"][0]["arn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"
    assert by_type["ecr:repository"][0]["policy"]["Statement"][0]["Sid"] == "pull"
    assert warnings == []
    # What was collected is what a bundle accepts back.
    assert parse_resources(found["resources"]) == found["resources"]


def test_it_reads_every_enabled_region(aws):
    for region in ("eu-west-1", "us-east-1"):
        aws.client("sqs", region_name=region).create_queue(QueueName=f"q-{region}")
    regions = resource_collect.enabled_regions(aws, print)
    assert "eu-west-1" in regions and "us-east-1" in regions
    found = collect_resources(aws, ACCOUNT, print, regions=["eu-west-1", "us-east-1"])
    queues = {q["region"] for q in found["resources"] if q["type"] == "sqs:queue"}
    assert queues == {"eu-west-1", "us-east-1"}


def test_it_reads_the_account_block_public_access(aws):
    aws.client("s3control").put_public_access_block(
        AccountId=ACCOUNT,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    found = collect_resources(aws, ACCOUNT, print, regions=["us-east-1"])
    assert found["account_block_public_access"] == dict.fromkeys(resources.BLOCK_KEYS, True)


class _StubbedSession:
    """A session whose clients for some services are stubbed, the rest real (moto)."""

    def __init__(self, session, stubs: dict) -> None:
        self.session, self.stubs, self.region_name = session, stubs, session.region_name

    def client(self, service, **kwargs):
        return self.stubs.get(service) or self.session.client(service, **kwargs)


def test_it_warns_naming_the_permission_and_goes_on(aws):
    build_resources(aws)
    kms = aws.client("kms", region_name="us-east-1")
    stub = Stubber(kms)
    stub.add_client_error("list_keys", "AccessDeniedException", "not allowed", 400)
    warnings: list[str] = []
    with stub:
        found = collect_resources(_StubbedSession(aws, {"kms": kms}), ACCOUNT, warnings.append, regions=["us-east-1"])
    assert any("kms:ListKeys" in w for w in warnings)
    assert not [r for r in found["resources"] if r["type"] == "kms:key"]
    assert [r for r in found["resources"] if r["type"] == "sqs:queue"], "other services are still read"


def test_it_skips_a_disabled_region_with_a_warning(aws):
    sqs = aws.client("sqs", region_name="ap-east-1")
    stub = Stubber(sqs)
    stub.add_client_error(
        "list_queues", "InvalidClientTokenId", "The security token included in the request is invalid", 403
    )
    warnings: list[str] = []

    class RegionSession(_StubbedSession):
        def client(self, service, region_name=None, **kwargs):
            if region_name == "ap-east-1" and service == "sqs":
                return sqs
            return self.session.client(service, region_name=region_name, **kwargs)

    with stub:
        collect_resources(RegionSession(aws, {}), ACCOUNT, warnings.append, regions=["ap-east-1", "us-east-1"])
    assert any("ap-east-1 is not enabled" in w for w in warnings)


def test_it_uses_adaptive_retries_for_every_client(aws):
    # Stubber answers before botocore's retry handler runs, so throttling retries are botocore's own, configured here.
    client = resource_collect._Reader(aws, print).client("sns", "us-east-1")
    assert client.meta.config.retries["mode"] == "adaptive"
    assert client.meta.config.retries["total_max_attempts"] == 11


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"type": "s3:bucket"}, "arn"),
        ({"type": "ec2:instance", "arn": "arn:aws:ec2:::x"}, "type"),
        ({"type": "s3:bucket", "arn": "arn:aws:s3:::b", "policy": "{not json"}, "JSON"),
        (
            {"type": "s3:bucket", "arn": "arn:aws:s3:::b", "block_public_access": {"BlockPublicPolicy": "yes"}},
            "boolean",
        ),
    ],
)
def test_it_refuses_malformed_resources_clearly(bad, message):
    with pytest.raises(ResourceFormatError, match=message):
        parse_resources([bad])


def test_it_collects_the_organization_tree_and_its_controls(aws):
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    prod = org.create_organizational_unit(ParentId=root, Name="Prod")["OrganizationalUnit"]["Id"]
    account = org.create_account(AccountName="prod-app", Email="p@example.com")["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=prod)
    deny_iam = org.create_policy(
        Name="no-iam-users",
        Type="SERVICE_CONTROL_POLICY",
        Description="",
        Content=doc({"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}),
    )
    org.attach_policy(PolicyId=deny_iam["Policy"]["PolicySummary"]["Id"], TargetId=prod)
    warnings: list[str] = []
    found = organization_collect.collect_organization(aws, warnings.append)
    assert found is not None and found["management_account_id"] == ACCOUNT
    chain = [n["name"] for n in organization.path_to(found, account)]
    assert chain == ["Root", "Prod", "prod-app"]
    levels = organization.control_levels(found, account)
    assert len(levels) == 3
    labels = [label for level in levels for label, _ in level]
    assert any("no-iam-users" in label and "Prod" in label for label in labels)
    assert any("FullAWSAccess" in label for label in labels), "the default SCP is attached at the root"
    assert organization.control_levels(found, ACCOUNT) == [], "SCPs never limit the management account"


def test_it_warns_when_the_account_cannot_read_the_organization(aws):
    warnings: list[str] = []
    assert organization_collect.collect_organization(aws, warnings.append) is None
    assert any("management account" in w for w in warnings)


def test_it_refuses_an_organization_whose_parent_is_unknown():
    with pytest.raises(ResourceFormatError, match="unknown parent"):
        organization.parse_organization({"nodes": [{"id": "1", "type": "ACCOUNT", "parent": "ou-x"}]})


def test_it_ends_a_cyclic_tree_walk():
    org = organization.parse_organization(
        {
            "nodes": [
                {"id": "ou-a", "type": "ORGANIZATIONAL_UNIT", "parent": "ou-b"},
                {"id": "ou-b", "type": "ORGANIZATIONAL_UNIT", "parent": "ou-a"},
                {"id": "111111111111", "type": "ACCOUNT", "parent": "ou-a"},
            ]
        }
    )
    assert [n["id"] for n in organization.path_to(org, "111111111111")] == ["ou-b", "ou-a", "111111111111"]
