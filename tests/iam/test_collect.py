import base64
import io
import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from moto import mock_aws

from audits.iam.collect import CollectionError, collect_snapshot, session_for
from audits.iam.snapshot import load_snapshot

ACCOUNT = "123456789012"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def doc(statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


TRUST_EC2 = doc([{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}])
PARTNER = {"AWS": "arn:aws:iam::999988887777:root"}
TRUST_PARTNER = doc([{"Effect": "Allow", "Principal": PARTNER, "Action": "sts:AssumeRole"}])


def start_moto(monkeypatch, **env):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        **env,
    }.items():
        monkeypatch.setenv(key, value)
    return mock_aws()


@pytest.fixture
def aws(monkeypatch):
    with start_moto(monkeypatch):
        yield boto3.Session(region_name="us-east-1")


@pytest.fixture
def aws_managed(monkeypatch):
    """Slower: moto loads every AWS-managed policy, as the real endpoint knows them."""
    with start_moto(monkeypatch, MOTO_IAM_LOAD_MANAGED_POLICIES="true"):
        yield boto3.Session(region_name="us-east-1")


def build_account(session) -> None:
    iam = session.client("iam")
    deploy = iam.create_policy(
        PolicyName="deploy",
        PolicyDocument=doc([{"Effect": "Allow", "Action": ["iam:PassRole", "lambda:CreateFunction"], "Resource": "*"}]),
    )["Policy"]["Arn"]
    iam.create_policy_version(
        PolicyArn=deploy,
        SetAsDefault=True,
        PolicyDocument=doc([{"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*"}]),
    )
    iam.create_group(GroupName="Admins")
    iam.attach_group_policy(GroupName="Admins", PolicyArn=ADMIN)
    iam.put_group_policy(
        GroupName="Admins",
        PolicyName="extra",
        PolicyDocument=doc([{"Effect": "Deny", "Action": "cloudtrail:StopLogging", "Resource": "*"}]),
    )
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password="Sup3r-secret-pw!")
    iam.add_user_to_group(GroupName="Admins", UserName="alice")
    iam.create_access_key(UserName="alice")
    iam.create_user(UserName="ci-deployer")
    iam.attach_user_policy(UserName="ci-deployer", PolicyArn=deploy)
    iam.create_access_key(UserName="ci-deployer")
    iam.create_access_key(UserName="ci-deployer")
    iam.put_user_policy(
        UserName="ci-deployer",
        PolicyName="s3",
        PolicyDocument=doc([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]),
    )
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST_EC2)
    everything = doc([{"Effect": "Allow", "Action": "*", "Resource": "*"}])
    iam.put_role_policy(RoleName="app", PolicyName="all", PolicyDocument=everything)
    iam.create_role(RoleName="PartnerAccess", AssumeRolePolicyDocument=TRUST_PARTNER)
    iam.attach_role_policy(RoleName="PartnerAccess", PolicyArn=ADMIN)


def dump_like_the_cli(session) -> bytes:
    """What `aws iam get-account-authorization-details` and friends would have saved to files."""
    iam = session.client("iam")
    raw = iam.get_paginator("get_account_authorization_details").paginate().build_full_result()
    iam.generate_credential_report()
    iam.generate_credential_report()
    bundle = {
        "authorization_details": raw,
        "credential_report": {"Content": base64.b64encode(iam.get_credential_report()["Content"]).decode()},
        "password_policy": None,
        "account_summary": iam.get_account_summary(),
    }
    return json.dumps(bundle, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)).encode()


def test_it_collects_what_a_file_export_holds(aws_managed):
    build_account(aws_managed)
    warnings = []
    live = collect_snapshot(aws_managed, warnings.append, sleep=lambda s: None)
    from_file = load_snapshot(dump_like_the_cli(aws_managed))

    assert warnings == []
    assert live.source == "live" and live.account_id == ACCOUNT and live.collected_at.endswith("Z")
    assert live.users == from_file.users and live.groups == from_file.groups and live.roles == from_file.roles
    # The file keeps every AWS-managed policy the endpoint listed; the collector keeps the ones in use.
    assert live.policies == [
        p for p in from_file.policies if not p["Arn"].startswith("arn:aws:iam::aws:") or p["Arn"] == ADMIN
    ]
    assert [row["user"] for row in live.credential_report] == [row["user"] for row in from_file.credential_report]
    assert live.password_policy is None and live.password_policy_known
    assert live.account_summary["Users"] == 2
    assert load_snapshot(live.to_dict()) == live


def test_it_gives_the_same_findings_live_and_from_a_file(aws_managed):
    iam_engine = pytest.importorskip("audits.iam")
    if not hasattr(iam_engine, "run_audit"):
        pytest.skip("analysis engine not built yet")
    build_account(aws_managed)
    live = collect_snapshot(aws_managed, lambda message: None, sleep=lambda s: None)
    from_file = load_snapshot(dump_like_the_cli(aws_managed))

    def fingerprints(snapshot):
        found = []

        def emit(kind, message, progress=None, payload=None):
            if kind == "finding":
                found.append(payload["finding"]["fingerprint"])

        iam_engine.run_audit(snapshot, emit)
        return sorted(found)

    assert fingerprints(live) == fingerprints(from_file) != []


def test_it_reads_a_password_policy_when_one_is_set(aws):
    aws.client("iam").update_account_password_policy(MinimumPasswordLength=8)
    snap = collect_snapshot(aws, lambda message: None, sleep=lambda s: None)
    assert snap.password_policy["MinimumPasswordLength"] == 8 and snap.password_policy_known


def test_it_assumes_a_role_with_an_external_id(aws):
    aws.client("iam").create_role(RoleName="auditor", AssumeRolePolicyDocument=TRUST_PARTNER)
    session = session_for(f"arn:aws:iam::{ACCOUNT}:role/auditor", "ext-123")
    assert session.get_credentials().access_key != "testing"
    assert collect_snapshot(session, lambda message: None, sleep=lambda s: None).account_id == ACCOUNT


class Raw(io.BytesIO):
    def stream(self, **kwargs):
        yield self.getvalue()


def test_it_retries_when_throttled(aws, monkeypatch):
    throttled, slept = [], []
    monkeypatch.setattr("time.sleep", slept.append)  # botocore's back-off, without the wait

    def throttle_once(request, **kwargs):
        if not throttled:
            throttled.append(request.url)
            body = (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
                b"</Error><RequestId>1</RequestId></ErrorResponse>"
            )
            return AWSResponse(request.url, 400, {}, Raw(body))
        return None

    class ThrottledSession:
        def client(self, name, **kwargs):
            client = aws.client(name, **kwargs)
            if name == "iam":
                client.meta.events.register_first("before-send.iam.GetAccountSummary", throttle_once)
            return client

    snap = collect_snapshot(ThrottledSession(), lambda message: None, sleep=lambda s: None)
    assert throttled and slept and snap.account_summary is not None


# --- faults through botocore's Stubber ------------------------------------------------------------------------------


def stubbed_session():
    creds = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "y"}
    clients = {"sts": boto3.client("sts", **creds), "iam": boto3.client("iam", **creds)}
    stubs = {name: Stubber(client) for name, client in clients.items()}

    class Session:
        def client(self, name, **kwargs):
            return clients[name]

    return Session(), stubs


ROLE = {
    "Path": "/",
    "RoleName": "app",
    "RoleId": "AROAEXAMPLEEXAMPLE01",
    "Arn": f"arn:aws:iam::{ACCOUNT}:role/app",
    "CreateDate": datetime(2025, 1, 1, tzinfo=UTC),
    "AssumeRolePolicyDocument": TRUST_EC2,
}
CALLER = {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/auditor", "UserId": "AIDAEXAMPLE"}
ROLE_DETAIL = {**ROLE, "RolePolicyList": [], "AttachedManagedPolicies": [], "InstanceProfileList": []}


def test_it_warns_and_continues_without_the_credential_report():
    session, stubs = stubbed_session()
    stubs["sts"].add_response("get_caller_identity", CALLER)
    iam = stubs["iam"]
    page = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [ROLE_DETAIL], "Policies": []}
    iam.add_response("get_account_authorization_details", page)
    last_used = {"LastUsedDate": datetime(2026, 5, 4, tzinfo=UTC), "Region": "eu-west-1"}
    iam.add_response("get_role", {"Role": {**ROLE, "RoleLastUsed": last_used}}, {"RoleName": "app"})
    iam.add_response("generate_credential_report", {"State": "COMPLETE"})
    iam.add_client_error("get_credential_report", "AccessDenied", "not authorized", 403)
    iam.add_response("get_account_summary", {"SummaryMap": {"AccountMFAEnabled": 1}})
    iam.add_client_error("get_account_password_policy", "NoSuchEntity", "none", 404)
    warnings = []
    with stubs["sts"], iam:
        snap = collect_snapshot(session, warnings.append, sleep=lambda s: None, resources=False)
    assert warnings == ["Missing permission iam:GetCredentialReport - credential checks skipped"]
    assert snap.credential_report is None
    assert snap.roles[0]["RoleLastUsed"] == {"LastUsedDate": "2026-05-04T00:00:00+00:00", "Region": "eu-west-1"}
    assert snap.roles[0]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert snap.password_policy is None and snap.password_policy_known


@pytest.mark.parametrize(
    ("code", "message"), [("ExpiredToken", "has expired"), ("InvalidClientTokenId", "access key ID is not valid")]
)
def test_it_stops_on_bad_credentials(code, message):
    session, stubs = stubbed_session()
    stubs["sts"].add_client_error("get_caller_identity", code, "bad", 403)
    with stubs["sts"], pytest.raises(CollectionError, match=message):
        collect_snapshot(session, lambda message: None)


def test_it_stops_when_authorization_details_are_denied():
    session, stubs = stubbed_session()
    stubs["sts"].add_response("get_caller_identity", CALLER)
    stubs["iam"].add_client_error("get_account_authorization_details", "AccessDenied", "no", 403)
    with stubs["sts"], stubs["iam"], pytest.raises(CollectionError, match="iam:GetAccountAuthorizationDetails"):
        collect_snapshot(session, lambda message: None)


def test_it_stops_without_credentials(monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CollectionError, match="No AWS credentials found"):
        collect_snapshot(session_for(), lambda message: None)


def test_it_collects_resource_policies_with_the_account(aws):
    aws.client("s3").create_bucket(Bucket="reports")
    public = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}
    aws.client("s3").put_bucket_policy(Bucket="reports", Policy=doc([public]))
    snap = collect_snapshot(aws, lambda message: None, sleep=lambda s: None)
    (bucket,) = [r for r in snap.resources if r["type"] == "s3:bucket"]
    assert bucket["policy"]["Statement"][0]["Principal"] == "*"
    # The stored bundle brings them back for a resumed run.
    assert load_snapshot(snap.to_dict()).resources == snap.resources
