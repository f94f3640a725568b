"""Who can…? names the principals outside the account that a resource's own policy lets in: anyone (the public),
any principal of an account it names, a service it names — and leaves out the outsiders it keeps out."""

import json

from audits.iam.query import who_can
from audits.iam.snapshot import load_snapshot

ACCOUNT = "111122223333"
USER = {
    "UserName": "u",
    "Path": "/",
    "Arn": f"arn:aws:iam::{ACCOUNT}:user/u",
    "GroupList": [],
    "AttachedManagedPolicies": [],
    "UserPolicyList": [],
}


def bucket_snapshot(*statements: dict):
    details = {"UserDetailList": [USER], "RoleDetailList": [], "GroupDetailList": [], "Policies": []}
    policy = {"Version": "2012-10-17", "Statement": list(statements)}
    bundle = {
        "account_id": ACCOUNT,
        "authorization_details": details,
        "resources": [{"type": "s3:bucket", "name": "b", "arn": "arn:aws:s3:::b", "policy": policy}],
    }
    return load_snapshot(json.dumps(bundle).encode())


def read(principal) -> dict:
    return {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}


def outside(rows: list[dict]) -> dict[str, str]:
    return {r["name"]: r["decision"] for r in rows if r["type"] in ("anyone", "account", "service")}


def test_a_public_bucket_lists_anyone_with_the_statement_that_lets_them_in():
    rows = who_can(bucket_snapshot(read("*")), "s3:GetObject", "arn:aws:s3:::b/key")
    assert outside(rows) == {"anyone (the public)": "allowed"}
    public = next(r for r in rows if r["type"] == "anyone")
    assert [s["policy"] for s in public["statements"]] == ["s3:bucket b"]


def test_it_lists_a_named_account_and_a_service_but_not_the_public():
    rows = who_can(
        bucket_snapshot(read({"AWS": "arn:aws:iam::999988887777:root"}), read({"Service": "cloudfront.amazonaws.com"})),
        "s3:GetObject",
        "arn:aws:s3:::b/key",
    )
    assert outside(rows) == {
        "any principal of account 999988887777": "allowed",
        "the service cloudfront.amazonaws.com": "allowed",
    }


def test_a_condition_on_the_public_statement_makes_the_public_row_conditional():
    statement = {**read("*"), "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}
    rows = who_can(bucket_snapshot(statement), "s3:GetObject", "arn:aws:s3:::b/key")
    public = next(r for r in rows if r["type"] == "anyone")
    assert public["decision"] == "conditional" and public["conditions"]


def test_a_bucket_for_the_account_only_lists_no_outsider():
    rows = who_can(bucket_snapshot(read({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})), "s3:GetObject", "arn:aws:s3:::b/k")
    assert outside(rows) == {}
