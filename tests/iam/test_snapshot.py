import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from audits.iam.snapshot import DEMO_PATH, MAX_SNAPSHOT_BYTES, SnapshotError, load_demo_snapshot, load_snapshot

SAMPLES = Path(__file__).parent / "data" / "samples"
DATA = Path(__file__).parent / "data"
EXAMPLE = SAMPLES / "cloudsplaining__examples_files_example.json"
CLOUDMAPPER = SAMPLES / "cloudmapper__account-data_demo_us-east-1_iam-get-account-authorization-details.json"
CM_REPORT = SAMPLES / "cloudmapper__account-data_demo_us-east-1_iam-get-credential-report.json"
CM_SUMMARY = SAMPLES / "cloudmapper__account-data_demo_us-east-1_iam-get-account-summary.json"


def details(**overrides) -> dict:
    base: dict[str, list] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    return base | overrides


def role(name="app", trust=None, **extra) -> dict:
    trust = trust or {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}},
    }
    return {
        "RoleName": name,
        "Arn": f"arn:aws:iam::111122223333:role/{name}",
        "AssumeRolePolicyDocument": trust,
        "RolePolicyList": [],
        "AttachedManagedPolicies": [],
    } | extra


def error_of(data) -> str:
    with pytest.raises(SnapshotError) as exc:
        load_snapshot(data)
    return str(exc.value)


def test_it_loads_raw_authorization_details():
    snap = load_snapshot(EXAMPLE.read_bytes())
    assert (len(snap.users), len(snap.groups), len(snap.roles), len(snap.policies)) == (44, 5, 78, 84)
    assert snap.account_id == "200611803367"
    assert snap.source == "snapshot"
    assert snap.credential_report is None and snap.password_policy is None and not snap.password_policy_known


def test_it_loads_a_bundle_with_cloudmapper_files():
    bundle = {
        "authorization_details": json.loads(CLOUDMAPPER.read_text()),
        "credential_report": json.loads(CM_REPORT.read_text()),
        "account_summary": json.loads(CM_SUMMARY.read_text()),
        "password_policy": None,
    }
    snap = load_snapshot(json.dumps(bundle))
    assert snap.account_id == "123456789012"
    assert snap.credential_report[0]["user"] == "<root_account>"
    assert snap.credential_report[0]["access_key_1_active"] == "true"
    assert snap.account_summary["AccountMFAEnabled"] == 1
    assert snap.password_policy is None and snap.password_policy_known


@pytest.mark.parametrize("form", ["csv", "base64", "content", "rows"])
def test_it_accepts_every_credential_report_form(form):
    csv_text = "user,arn,mfa_active\nalice,arn:aws:iam::111122223333:user/alice,false\n"
    value = {
        "csv": csv_text,
        "base64": base64.b64encode(csv_text.encode()).decode(),
        "content": {"Content": base64.b64encode(csv_text.encode()).decode(), "ReportFormat": "text/csv"},
        "rows": [{"user": "alice", "arn": "arn:aws:iam::111122223333:user/alice", "mfa_active": "false"}],
    }[form]
    snap = load_snapshot({"authorization_details": details(), "credential_report": value})
    assert snap.credential_report == [
        {"user": "alice", "arn": "arn:aws:iam::111122223333:user/alice", "mfa_active": "false"}
    ]


def test_it_unwraps_password_policy_and_summary():
    policy = {"PasswordPolicy": {"MinimumPasswordLength": 8}}
    bundle = {"authorization_details": details(), "password_policy": policy, "account_summary": {"Users": 3}}
    snap = load_snapshot(bundle)
    assert snap.password_policy == {"MinimumPasswordLength": 8} and snap.password_policy_known
    assert snap.account_summary == {"Users": 3}


def test_it_decodes_url_encoded_documents_and_lists_statements():
    trust = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}}
    document = {"Statement": [{"Effect": "Allow", "Action": "*"}]}
    inline = {"PolicyName": "p", "PolicyDocument": quote(json.dumps(document))}
    snap = load_snapshot(details(RoleDetailList=[role(trust=quote(json.dumps(trust)), RolePolicyList=[inline])]))
    assert snap.roles[0]["AssumeRolePolicyDocument"]["Statement"] == [trust["Statement"]]
    assert snap.roles[0]["RolePolicyList"][0]["PolicyDocument"]["Statement"][0]["Action"] == "*"


def test_it_does_not_modify_the_callers_dict():
    data = details(RoleDetailList=[role()])
    before = json.dumps(data, sort_keys=True)
    load_snapshot(data)
    assert json.dumps(data, sort_keys=True) == before


def test_it_round_trips_through_to_dict():
    for snap in (load_demo_snapshot(), load_snapshot(EXAMPLE.read_bytes())):
        assert load_snapshot(snap.to_dict()) == snap
        assert load_snapshot(json.dumps(snap.to_dict())) == snap


def test_it_keeps_a_live_source_from_its_own_bundle():
    snap = load_snapshot(details(), source="live")
    assert load_snapshot(snap.to_dict()).source == "live"
    assert load_snapshot(snap.to_dict(), source="demo").source == "demo"


def test_it_ships_a_demo_account_that_covers_the_checks():
    snap = load_demo_snapshot()
    assert snap.source == "demo" and snap.account_id == "123456789012"
    assert snap.collected_at == "2026-11-20T00:00:00Z"
    assert 12 <= len(snap.users) <= 20 and 20 <= len(snap.roles) <= 30 and 4 <= len(snap.groups) <= 6
    assert snap.password_policy["MinimumPasswordLength"] < 14
    root = next(row for row in snap.credential_report if row["user"] == "<root_account>")
    assert root["access_key_1_active"] == "true"
    trusts = json.dumps([r["AssumeRolePolicyDocument"] for r in snap.roles])
    assert '"Principal": "*"' in trusts and "token.actions.githubusercontent.com" in trusts
    assert DEMO_PATH.stat().st_size < 300 * 1024


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"UserDetailList": [', "not valid JSON: Expecting value (line 1, column 21)"),
        ("", "Snapshot is empty"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("[1, 2]", "JSON object at the top level, not a list"),
        ('{"Users": []}', "Not an IAM snapshot"),
        ({"RoleDetailList": []}, "is missing UserDetailList, GroupDetailList, Policies"),
        (details(RoleDetailList={}), "RoleDetailList must be a list, not an object"),
        (details(RoleDetailList=[role(), "oops"]), "RoleDetailList[1] must be an object, not a string"),
        (details(UserDetailList=[{"UserName": "x"}]), "UserDetailList[0] has no Arn"),
        (details(UserDetailList=[{"UserName": 3, "Arn": "arn:aws:iam::1:user/x"}]), "UserName must be a string"),
        (details(RoleDetailList=[role(), role(trust="{")]), "RoleDetailList[1].AssumeRolePolicyDocument is not valid"),
        (details(RoleDetailList=[role(trust="%7Bbroken")]), "RoleDetailList[0].AssumeRolePolicyDocument is not valid"),
        (details(RoleDetailList=[role(trust="Version%3D1")]), "is URL-encoded but does not decode"),
        (
            details(
                RoleDetailList=[role(RolePolicyList=[{"PolicyName": "p", "PolicyDocument": {"Statement": ["x"]}}])]
            ),
            "RoleDetailList[0].RolePolicyList[0].PolicyDocument.Statement[0] must be an object",
        ),
        (details(IsTruncated=True), "IsTruncated is true"),
        ({"authorization_details": []}, "authorization_details must be an object"),
        ({"authorization_details": details(), "credential_report": "no,header\n1,2"}, "neither CSV text nor base64"),
        ({"authorization_details": details(), "credential_report": [{"name": "x"}]}, "no 'user' or 'arn' column"),
        ({"authorization_details": details(), "password_policy": "weak"}, "password_policy must be an object or null"),
        ({"authorization_details": details(), "account_id": "12"}, "account_id must be a 12-digit string"),
    ],
)
def test_it_names_what_is_wrong(data, message):
    assert message in error_of(data)


def test_it_refuses_oversized_input_before_parsing():
    too_big = b" " * (MAX_SNAPSHOT_BYTES + 1)  # would be "empty" if it were parsed
    assert "limit is 50 MB" in error_of(too_big)


@pytest.mark.parametrize("depth", [65, 100_000])
def test_it_refuses_deep_nesting_without_a_traceback(depth):
    assert "nested too deeply" in error_of("[" * depth + "]" * depth)
    deep = {"x": []}
    node = deep["x"]
    for _ in range(depth if depth < 1000 else 1000):
        node.append([])
        node = node[0]
    assert "nested too deeply" in error_of(details(Tags=deep))


def test_it_accepts_64_levels():
    load_snapshot(json.dumps(details(Tags=json.loads("[" * 63 + "]" * 63))))


@pytest.mark.parametrize("raw", [b"null", b"true", b"42", b"[]"])
def test_it_refuses_a_top_level_value_that_is_not_an_object(raw):
    with pytest.raises(SnapshotError, match="JSON object at the top level"):
        load_snapshot(raw)


@pytest.mark.parametrize("raw", [b'{"UserDetailList": [NaN]}', b'{"x": Infinity}', b'{"x": -Infinity}'])
def test_it_refuses_nan_and_infinity_in_text(raw):
    with pytest.raises(SnapshotError, match="not valid JSON"):
        load_snapshot(raw)


def test_it_refuses_nan_in_an_already_parsed_document():
    with pytest.raises(SnapshotError, match="NaN or Infinity"):
        load_snapshot({"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": [float("nan")]})
