"""The offline policy simulator: SimulateCustomPolicy's request in, AWS's EvaluationResults out (docs/simulate.md)."""

import json

import pytest

from audits.iam.simulate import SimulationError, as_table, load_request, parse_request, simulate, statement_spans

ACCOUNT = "111122223333"
OTHER = "444455556666"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BUCKET = "arn:aws:s3:::reports"
OBJECT = "arn:aws:s3:::reports/q1.csv"


def policy(*statements: dict, indent: int | None = None) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=indent)


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def run(**request) -> list[dict]:
    response = simulate(parse_request(request))
    assert response["IsTruncated"] is False
    return response["EvaluationResults"]


def one(**request) -> dict:
    results = run(**request)
    assert len(results) == 1
    return results[0]


def test_it_allows_and_points_at_the_matching_statement_as_aws_does():
    text = policy(allow("s3:ListBucket", BUCKET), allow("s3:GetObject", f"{BUCKET}/*"), indent=2)
    got = one(PolicyInputList=[text], ActionNames=["s3:GetObject"], ResourceArns=[OBJECT])
    assert got["EvalActionName"] == "s3:GetObject" and got["EvalResourceName"] == OBJECT
    assert got["EvalDecision"] == "allowed" and got["MissingContextValues"] == []
    [matched] = got["MatchedStatements"]
    assert matched["SourcePolicyId"] == "PolicyInputList.1" and matched["SourcePolicyType"] == "none"
    # The second statement's "{" opens line 9 at column 5; its "}" closes line 13 at column 5 (End is one past).
    lines = text.splitlines()
    assert lines[8] == "    {" and lines[12] == "    }"
    assert matched["StartPosition"] == {"Line": 9, "Column": 5}
    assert matched["EndPosition"] == {"Line": 13, "Column": 6}
    assert "AegisConditionalDecision" not in got


def test_it_reports_an_explicit_deny_with_the_denying_statement():
    got = one(
        PolicyInputList=[policy(allow("s3:*")), policy(deny("s3:DeleteBucket"))],
        ActionNames=["s3:DeleteBucket"],
        ResourceArns=[BUCKET],
    )
    assert got["EvalDecision"] == "explicitDeny"
    assert [m["SourcePolicyId"] for m in got["MatchedStatements"]] == ["PolicyInputList.2"]
    assert got["AegisReason"] == "explicit deny in PolicyInputList.2"


def test_it_denies_implicitly_what_nothing_allows():
    got = one(PolicyInputList=[policy(allow("s3:GetObject"))], ActionNames=["iam:CreateUser"])
    assert got["EvalDecision"] == "implicitDeny" and got["MatchedStatements"] == []
    assert got["EvalResourceName"] == "*" and "ResourceSpecificResults" not in got


def test_it_limits_the_caller_with_a_permissions_boundary():
    request = {
        "PolicyInputList": [policy(allow("*"))],
        "PermissionsBoundaryPolicyInputList": [policy(allow("ec2:*"))],
        "ActionNames": ["s3:GetObject", "ec2:DescribeInstances"],
    }
    s3, ec2 = run(**request)
    assert s3["EvalDecision"] == "implicitDeny"
    assert s3["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}
    assert s3["AegisReason"] == "permissions boundary does not allow it"
    assert ec2["EvalDecision"] == "allowed"
    assert ec2["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}


def test_it_applies_every_scp_level_from_the_root_to_the_account():
    request = {
        "PolicyInputList": [policy(allow("*"))],
        "ServiceControlPolicyLevels": [[policy(allow("*"))], [policy(allow("s3:*"), deny("s3:DeleteBucket"))]],
        "ActionNames": ["s3:GetObject", "s3:DeleteBucket", "iam:CreateUser"],
    }
    get, delete, create = run(**request)
    assert get["EvalDecision"] == "allowed"
    assert get["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    assert delete["EvalDecision"] == "explicitDeny"
    assert [m["SourcePolicyId"] for m in delete["MatchedStatements"]] == ["ServiceControlPolicyLevels.2.1"]
    assert delete["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}
    assert create["EvalDecision"] == "implicitDeny"  # the second level does not allow IAM
    assert create["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}


def test_it_applies_resource_control_policies_to_the_services_they_govern():
    rcp = policy(allow("*"), deny("s3:*", Condition={"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}}))
    request = {
        "PolicyInputList": [policy(allow("*"))],
        "ResourceControlPolicyLevels": [[rcp]],
        "ActionNames": ["s3:GetObject"],
        "ResourceArns": [OBJECT],
    }
    assert one(**request, CallerArn=ALICE)["EvalDecision"] == "allowed"
    # With no caller the account is unknown: absent to AWS's simulator (so the Deny applies), open to ours.
    got = one(**request)
    assert got["EvalDecision"] == "explicitDeny" and got["MissingContextValues"] == ["aws:PrincipalAccount"]
    assert got["AegisConditionalDecision"] == "allowed-if"


def test_it_lists_a_missing_context_key_and_says_what_would_allow_it():
    ip_only = policy(allow("s3:GetObject", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))
    got = one(PolicyInputList=[ip_only], ActionNames=["s3:GetObject"], ResourceArns=[OBJECT])
    assert got["EvalDecision"] == "implicitDeny" and got["MatchedStatements"] == []
    assert got["MissingContextValues"] == ["aws:SourceIp"]
    assert got["ResourceSpecificResults"][0]["MissingContextValues"] == ["aws:SourceIp"]
    assert got["AegisConditionalDecision"] == "allowed-if"
    [condition] = got["AegisOpenConditions"]
    assert condition["Key"] == "aws:SourceIp" and condition["Values"] == ["203.0.113.0/24"]
    assert condition["Text"] == "aws:SourceIp in 203.0.113.0/24"


def test_it_decides_once_the_key_is_given():
    ip_only = policy(allow("s3:GetObject", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))

    def asked(ip: str) -> dict:
        entry = {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": [ip], "ContextKeyType": "ip"}
        return one(PolicyInputList=[ip_only], ActionNames=["s3:GetObject"], ContextEntries=[entry])

    inside, outside = asked("203.0.113.7"), asked("198.51.100.1")
    assert inside["EvalDecision"] == "allowed" and inside["MissingContextValues"] == []
    assert outside["EvalDecision"] == "implicitDeny" and outside["MissingContextValues"] == []
    assert "AegisConditionalDecision" not in inside and "AegisConditionalDecision" not in outside


def test_it_keeps_aws_semantics_for_a_negated_condition_on_a_missing_key():
    # AWS's simulator treats the key as absent, so StringNotEquals holds and the Deny applies; ours adds that the
    # request is allowed if the region is given as eu-west-1.
    text = policy(allow("*"), deny("*", Condition={"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}))
    got = one(PolicyInputList=[text], ActionNames=["ec2:RunInstances"])
    assert got["EvalDecision"] == "explicitDeny" and got["MissingContextValues"] == ["aws:RequestedRegion"]
    assert got["AegisConditionalDecision"] == "allowed-if"
    assert got["AegisOpenConditions"][0]["Text"] == "aws:RequestedRegion is eu-west-1"


def test_it_takes_principal_keys_from_the_caller_arn():
    home = policy(allow("s3:GetObject", "arn:aws:s3:::homes/${aws:username}/*"))
    request = {"PolicyInputList": [home], "ActionNames": ["s3:GetObject"]}
    mine = one(**request, ResourceArns=["arn:aws:s3:::homes/alice/notes.txt"], CallerArn=ALICE)
    theirs = one(**request, ResourceArns=["arn:aws:s3:::homes/bob/notes.txt"], CallerArn=ALICE)
    assert mine["EvalDecision"] == "allowed" and theirs["EvalDecision"] == "implicitDeny"
    anonymous = one(**request, ResourceArns=["arn:aws:s3:::homes/alice/notes.txt"])
    assert anonymous["EvalDecision"] == "implicitDeny" and anonymous["MissingContextValues"] == ["aws:username"]


def test_it_lets_a_resource_policy_grant_in_the_same_account_but_not_across():
    bucket_policy = policy(
        {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"}
    )
    request = {
        "PolicyInputList": [policy(allow("ec2:DescribeInstances"))],
        "ResourcePolicy": bucket_policy,
        "CallerArn": ALICE,
        "ActionNames": ["s3:GetObject"],
        "ResourceArns": [OBJECT],
    }
    same = one(**request)
    assert same["EvalDecision"] == "allowed"
    assert [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in same["MatchedStatements"]] == [
        ("ResourcePolicy", "resource")
    ]
    across = one(**request, ResourceOwner=f"arn:aws:iam::{OTHER}:root")
    assert across["EvalDecision"] == "implicitDeny"  # across accounts the identity side must allow too
    assert across["AegisReason"] == "cross-account: no identity policy allows it"


def test_it_answers_for_every_action_and_resource_pair():
    text = policy(allow("s3:GetObject", "arn:aws:s3:::reports/*"))
    results = run(
        PolicyInputList=[text],
        ActionNames=["s3:GetObject", "s3:PutObject"],
        ResourceArns=[OBJECT, "arn:aws:s3:::private/key"],
    )
    assert [(r["EvalActionName"], r["EvalResourceName"], r["EvalDecision"]) for r in results] == [
        ("s3:GetObject", OBJECT, "allowed"),
        ("s3:GetObject", "arn:aws:s3:::private/key", "implicitDeny"),
        ("s3:PutObject", OBJECT, "implicitDeny"),
        ("s3:PutObject", "arn:aws:s3:::private/key", "implicitDeny"),
    ]
    for r in results:
        [specific] = r["ResourceSpecificResults"]
        assert specific["EvalResourceName"] == r["EvalResourceName"]
        assert specific["EvalResourceDecision"] == r["EvalDecision"]


def test_it_limits_a_role_session_with_the_session_policy():
    request = {
        "PolicyInputList": [policy(allow("*"))],
        "SessionPolicyInputList": [policy(allow("s3:GetObject"))],
        "CallerArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci-run",
        "ActionNames": ["s3:GetObject", "s3:PutObject"],
    }
    get, put = run(**request)
    assert get["EvalDecision"] == "allowed" and put["EvalDecision"] == "implicitDeny"
    assert put["AegisReason"] == "session policy does not allow it"


def test_it_pages_with_max_items_and_marker():
    request = {
        "PolicyInputList": [policy(allow("s3:*"))],
        "ActionNames": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
    }
    first = simulate(parse_request({**request, "MaxItems": 2}))
    assert first["IsTruncated"] is True and len(first["EvaluationResults"]) == 2
    rest = simulate(parse_request({**request, "MaxItems": 2, "Marker": first["Marker"]}))
    assert rest["IsTruncated"] is False and "Marker" not in rest
    assert [r["EvalActionName"] for r in rest["EvaluationResults"]] == ["s3:ListBucket"]


@pytest.mark.parametrize(
    ("request_json", "message"),
    [
        ("[1]", "must be a JSON object"),
        ("{", "not valid JSON"),
        ('{"ActionNames": ["s3:GetObject"]}', "PolicyInputList is required"),
        ('{"PolicyInputList": [{}], "ActionNames": ["s3:GetObject"]}', "PolicyInputList.1 must be a policy document"),
        ('{"PolicyInputList": ["{"], "ActionNames": ["s3:GetObject"]}', "PolicyInputList.1 is not valid JSON"),
        ('{"PolicyInputList": ["{}"], "ActionNames": ["s3:GetObject"]}', "a JSON object with a Statement"),
        ('{"PolicyInputList": ["{\\"Statement\\": []}"]}', "ActionNames is required"),
        ('{"PolicyInputList": ["{\\"Statement\\": []}"], "ActionNames": ["s3:*"]}', "no wildcards"),
        ('{"PolicyInputList": ["{\\"Statement\\": []}"], "ActionNames": ["s3:A"], "Extra": 1}', "unknown parameter"),
        (
            '{"PolicyInputList": ["{\\"Statement\\": []}"], "ActionNames": ["s3:A"], "ResourceArns": ["x"]}',
            "not an ARN",
        ),
        (
            '{"PolicyInputList": ["{\\"Statement\\": []}"], "ActionNames": ["s3:A"], '
            '"ResourcePolicy": "{\\"Statement\\": []}"}',
            "CallerArn is required with ResourcePolicy",
        ),
        (
            '{"PolicyInputList": ["{\\"Statement\\": []}"], "ActionNames": ["s3:A"], '
            '"CallerArn": "arn:aws:iam::1:root"}',
            "CallerArn must be the ARN of an IAM user or role",
        ),
        (
            '{"PolicyInputList": ["{\\"Statement\\": []}"], "ActionNames": ["s3:A"], "ContextEntries": '
            '[{"ContextKeyName": "s3:max-keys", "ContextKeyValues": ["ten"], "ContextKeyType": "numeric"}]}',
            "'ten' is not a valid numeric value",
        ),
        (
            '{"PolicyInputList": ["{\\"Statement\\": []}"], "ActionNames": ["s3:A"], "ContextEntries": '
            '[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["1.2.3.4"], "ContextKeyType": "address"}]}',
            "ContextKeyType must be one of string, stringList",
        ),
        ('{"PolicyInputList": ["{\\"Statement\\": []}"], "ActionNames": ["s3:A"], "MaxItems": 0}', "MaxItems"),
    ],
)
def test_it_explains_a_bad_request_in_one_line(request_json, message):
    with pytest.raises(SimulationError) as exc:
        load_request(request_json)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_it_refuses_more_actions_than_the_limit():
    with pytest.raises(SimulationError, match="ActionNames has 101 entries; the limit is 100"):
        parse_request({"PolicyInputList": [policy()], "ActionNames": [f"s3:Get{n}" for n in range(101)]})


def test_it_finds_statements_in_any_layout():
    text = '{"Statement" : {"Effect": "Allow", "Action": "*", "Resource": "}{"}, "Version": "2012-10-17"}'
    [(start, end)] = statement_spans(text)
    assert text[start:end] == '{"Effect": "Allow", "Action": "*", "Resource": "}{"}'
    listed = '{"Id": "x", "Statement": [ {"Sid": "a"} ,\n\t{"Sid": "]"}]}'
    assert [listed[s:e] for s, e in statement_spans(listed)] == ['{"Sid": "a"}', '{"Sid": "]"}']
    assert statement_spans('{"Statement": "nonsense"}') == []


def test_it_prints_a_short_table():
    ip_only = policy(allow("s3:GetObject", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))
    response = simulate(parse_request({"PolicyInputList": [ip_only], "ActionNames": ["s3:GetObject", "s3:PutObject"]}))
    lines = as_table(response).splitlines()
    assert lines[0].split() == ["ACTION", "RESOURCE", "DECISION", "MATCHED", "MISSING", "/", "ALLOWED", "IF"]
    assert lines[1].split()[:4] == ["s3:GetObject", "*", "implicitDeny", "-"]
    assert lines[1].endswith("allowed if aws:SourceIp in 203.0.113.0/24")
