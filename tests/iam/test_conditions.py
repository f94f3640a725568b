"""Condition operators, set operators, policy variables and open keys, from the IAM User Guide's rules
("IAM JSON policy elements: Condition operators", "Single-valued vs. multivalued context keys",
"IAM policy elements: Variables and tags"): each rule as a positive and a near-miss."""

from datetime import UTC, datetime, timedelta

import pytest

from audits.iam.conditions import Condition, Context, compile_block, evaluate_all, parse_operator, principal_keys
from audits.iam.evaluator import Subject

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ALICE = Subject(arn="arn:aws:iam::111122223333:user/alice", tags={"team": "blue"}, userid="AIDAALICE")
ROLE = Subject(arn="arn:aws:iam::111122223333:role/app", type="role", tags={"team": "red"})


def holds(block: dict, values: dict | None = None, subject: Subject | None = None):
    """True / False, or None when the condition stays open."""
    context = Context(values or {}, now=NOW)
    derived = principal_keys(subject) if subject else None
    applies, open_ = evaluate_all(compile_block(block), lambda k: context.lookup(k, subject, derived))
    if not applies:
        return False
    return None if open_ else True


# String operators


def test_it_matches_string_equals_case_sensitively_with_case_insensitive_key_names():
    assert holds({"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}, {"AWS:requestedregion": "eu-west-1"})
    assert holds({"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}, {"aws:requestedregion": "EU-WEST-1"}) is False


def test_it_ors_several_values_of_one_key():
    block = {"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}
    assert holds(block, {"aws:requestedregion": "us-east-1"})
    assert holds(block, {"aws:requestedregion": "ap-south-1"}) is False


def test_it_ands_several_keys_and_several_operators():
    block = {
        "StringEquals": {"aws:RequestedRegion": "eu-west-1", "s3:prefix": "home/"},
        "Bool": {"aws:SecureTransport": "true"},
    }
    good = {"aws:requestedregion": "eu-west-1", "s3:prefix": "home/", "aws:securetransport": "true"}
    assert holds(block, good)
    assert holds(block, {**good, "s3:prefix": "other/"}) is False
    assert holds(block, {**good, "aws:securetransport": "false"}) is False


def test_it_negates_string_not_equals_over_all_values():
    block = {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}
    assert holds(block, {"aws:requestedregion": "ap-south-1"})
    assert holds(block, {"aws:requestedregion": "us-east-1"}) is False


def test_it_ignores_case_only_for_the_ignore_case_operators():
    assert holds({"StringEqualsIgnoreCase": {"aws:PrincipalTag/team": "BLUE"}}, subject=ALICE)
    assert holds({"StringNotEqualsIgnoreCase": {"aws:PrincipalTag/team": "BLUE"}}, subject=ALICE) is False
    assert holds({"StringNotEqualsIgnoreCase": {"aws:PrincipalTag/team": "GREEN"}}, subject=ALICE)


def test_it_matches_string_like_wildcards_star_and_question_mark():
    assert holds({"StringLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "home/alice/notes"})
    assert holds({"StringLike": {"s3:prefix": "home/?"}}, {"s3:prefix": "home/a"})
    assert holds({"StringLike": {"s3:prefix": "home/?"}}, {"s3:prefix": "home/ab"}) is False
    assert holds({"StringLike": {"s3:prefix": "Home/*"}}, {"s3:prefix": "home/x"}) is False
    assert holds({"StringNotLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "tmp/x"})
    assert holds({"StringNotLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "home/x"}) is False


def test_it_treats_string_equals_wildcards_literally():
    assert holds({"StringEquals": {"s3:prefix": "home/*"}}, {"s3:prefix": "home/x"}) is False
    assert holds({"StringEquals": {"s3:prefix": "home/*"}}, {"s3:prefix": "home/*"})


# Absent keys


def test_it_is_false_on_an_absent_key_and_true_for_negated_operators():
    assert holds({"StringEquals": {"aws:SourceVpc": "vpc-1"}}, {"aws:sourcevpc": None}) is False
    assert holds({"StringNotEquals": {"aws:SourceVpc": "vpc-1"}}, {"aws:sourcevpc": None})
    assert holds({"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:*:t"}}, {"aws:sourcearn": None})
    assert holds({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": None})


def test_it_treats_if_exists_as_true_on_an_absent_key_and_as_the_operator_otherwise():
    block = {"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}}
    assert holds(block, {"aws:sourcevpc": None})
    assert holds(block, {"aws:sourcevpc": "vpc-1"})
    assert holds(block, {"aws:sourcevpc": "vpc-2"}) is False
    assert holds({"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {"s3:max-keys": None})
    assert holds({"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {"s3:max-keys": "20"}) is False


def test_it_checks_presence_with_null():
    assert holds({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:tokenissuetime": None})
    assert holds({"Null": {"aws:TokenIssueTime": "false"}}, {"aws:tokenissuetime": None}) is False
    assert holds({"Null": {"aws:SourceVpc": "false"}}, {"aws:sourcevpc": "vpc-1"})
    assert holds({"Null": {"aws:SourceVpc": "true"}}, {"aws:sourcevpc": "vpc-1"}) is False


def test_it_leaves_unknown_keys_open_never_true_or_false():
    assert holds({"Bool": {"aws:MultiFactorAuthPresent": "true"}}) is None
    assert holds({"StringNotEquals": {"aws:SourceVpc": "vpc-1"}}) is None
    assert holds({"Null": {"aws:SourceVpc": "true"}}) is None


def test_it_is_false_when_a_known_part_fails_even_if_another_is_open():
    block = {"Bool": {"aws:MultiFactorAuthPresent": "true"}, "StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
    assert holds(block, {"aws:requestedregion": "us-east-1"}) is False
    assert holds(block, {"aws:requestedregion": "eu-west-1"}) is None


# Numeric, date, bool, binary, IP, ARN


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("NumericEquals", "10", True),
        ("NumericEquals", "11", False),
        ("NumericNotEquals", "11", True),
        ("NumericNotEquals", "10", False),
        ("NumericLessThan", "11", True),
        ("NumericLessThan", "10", False),
        ("NumericLessThanEquals", "10", True),
        ("NumericLessThanEquals", "9", False),
        ("NumericGreaterThan", "9", True),
        ("NumericGreaterThan", "10", False),
        ("NumericGreaterThanEquals", "10", True),
        ("NumericGreaterThanEquals", "10.5", False),
    ],
)
def test_it_compares_numbers(operator, value, expected):
    assert holds({operator: {"s3:max-keys": value}}, {"s3:max-keys": "10"}) is expected


def test_it_never_matches_a_number_that_does_not_parse():
    assert holds({"NumericEquals": {"s3:max-keys": "ten"}}, {"s3:max-keys": "10"}) is False


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("DateEquals", "2026-11-24T12:00:00Z", True),
        ("DateEquals", "2026-11-24T12:00:01Z", False),
        ("DateNotEquals", "2026-11-24T12:00:01Z", True),
        ("DateNotEquals", "2026-11-24T12:00:00Z", False),
        ("DateLessThan", "2027-01-01T00:00:00Z", True),
        ("DateLessThan", "2026-01-01", False),
        ("DateLessThanEquals", "2026-11-24T12:00:00Z", True),
        ("DateGreaterThan", "2026-01-01T00:00:00Z", True),
        ("DateGreaterThan", "2027-01-01T00:00:00Z", False),
        ("DateGreaterThanEquals", "2026-11-24T12:00:00+00:00", True),
        ("DateLessThan", str(int((NOW + timedelta(days=1)).timestamp())), True),  # epoch seconds
        ("DateGreaterThan", str(int((NOW + timedelta(days=1)).timestamp())), False),
    ],
)
def test_it_compares_dates_in_iso_8601_and_epoch_form(operator, value, expected):
    assert holds({operator: {"aws:CurrentTime": value}}) is expected


def test_it_knows_the_audit_time_as_current_and_epoch_time():
    assert holds({"NumericGreaterThan": {"aws:EpochTime": str(int(NOW.timestamp()) - 1)}})
    assert holds({"DateLessThan": {"aws:EpochTime": "2020-01-01T00:00:00Z"}}) is False


def test_it_never_lets_a_token_issued_before_2020_be_in_use_today():
    block = {"DateLessThan": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}}
    assert holds(block, subject=ROLE) is False
    assert holds(block, subject=ALICE) is False


def test_it_holds_a_token_issued_after_a_past_date_for_roles_and_leaves_it_open_for_users():
    # Role sessions always carry aws:TokenIssueTime, at most 36 hours old; a user has it only with session
    # credentials, so for a user it depends on how they sign in.
    block = {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}}
    assert holds(block, subject=ROLE) is True
    assert holds(block, subject=ALICE) is None
    recent = {"DateGreaterThan": {"aws:TokenIssueTime": (NOW - timedelta(hours=1)).isoformat()}}
    assert holds(recent, subject=ROLE) is None  # a token from yesterday would not pass


def test_it_compares_bool_values_case_insensitively():
    assert holds({"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": "TRUE"})
    assert holds({"Bool": {"aws:SecureTransport": True}}, {"aws:securetransport": "true"})
    assert holds({"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": "false"}) is False


def test_it_compares_binary_values_exactly():
    assert holds({"BinaryEquals": {"custom:blob": "QmluYXJ5"}}, {"custom:blob": "QmluYXJ5"})
    assert holds({"BinaryEquals": {"custom:blob": "QmluYXJ5"}}, {"custom:blob": "qmluyxj5"}) is False


def test_it_matches_ipv4_and_ipv6_ranges():
    assert holds({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:sourceip": "203.0.113.7"})
    assert holds({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:sourceip": "203.0.114.7"}) is False
    assert holds({"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:sourceip": "203.0.113.7"})
    assert holds({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws:sourceip": "2001:db8:1::5"})
    assert (
        holds({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}, {"aws:sourceip": "2001:db8::1"})
        is False
    )
    assert holds({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": "192.0.2.1"})


def test_it_matches_arns_segment_by_segment():
    arn = "arn:aws:sns:eu-west-1:111122223333:topic"
    assert holds({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:111122223333:*"}}, {"aws:sourcearn": arn})
    assert holds({"ArnEquals": {"aws:SourceArn": "arn:aws:sns:*:111122223333:topic"}}, {"aws:sourcearn": arn})
    assert holds({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:444455556666:*"}}, {"aws:sourcearn": arn}) is False
    # A `*` inside the region segment does not swallow the account segment; one that ends its segment may
    # ("If the * wildcard is the last character of a resource ARN segment, it can expand to match beyond the colon
    # boundaries": IAM User Guide, IAM JSON policy elements: Resource).
    assert holds({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*1:topic"}}, {"aws:sourcearn": arn}) is False
    assert holds({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:topic"}}, {"aws:sourcearn": arn})
    assert holds({"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:444455556666:*"}}, {"aws:sourcearn": arn})
    assert holds({"ArnNotEquals": {"aws:SourceArn": arn}}, {"aws:sourcearn": arn}) is False


# Set operators on multivalued keys


def test_it_requires_every_request_value_to_match_for_all_values():
    block = {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}
    assert holds(block, {"aws:tagkeys": ["team", "env"]})
    assert holds(block, {"aws:tagkeys": ["team"]})
    assert holds(block, {"aws:tagkeys": ["team", "owner"]}) is False


def test_it_treats_for_all_values_as_true_and_for_any_value_as_false_on_an_empty_key():
    assert holds({"ForAllValues:StringEquals": {"aws:TagKeys": "team"}}, {"aws:tagkeys": []})
    assert holds({"ForAnyValue:StringEquals": {"aws:TagKeys": "team"}}, {"aws:tagkeys": []}) is False
    assert holds({"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "team"}}, {"aws:tagkeys": []})


def test_it_needs_one_matching_request_value_for_any_value():
    block = {"ForAnyValue:StringLike": {"aws:TagKeys": "team*"}}
    assert holds(block, {"aws:tagkeys": ["owner", "team-a"]})
    assert holds(block, {"aws:tagkeys": ["owner", "env"]}) is False


def test_it_negates_per_request_value_under_set_operators():
    # ForAllValues:StringNotEquals: no request value is one of the listed ones
    block = {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["admin", "root"]}}
    assert holds(block, {"aws:tagkeys": ["team", "env"]})
    assert holds(block, {"aws:tagkeys": ["team", "admin"]}) is False
    # ForAnyValue:StringNotEquals: at least one request value is not listed
    block = {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team", "env"]}}
    assert holds(block, {"aws:tagkeys": ["team", "owner"]})
    assert holds(block, {"aws:tagkeys": ["team", "env"]}) is False


# Policy variables


def test_it_substitutes_principal_variables_in_condition_values():
    assert holds({"StringEquals": {"s3:prefix": "home/${aws:username}/"}}, {"s3:prefix": "home/alice/"}, ALICE)
    assert holds({"StringEquals": {"s3:prefix": "home/${aws:username}/"}}, {"s3:prefix": "home/bob/"}, ALICE) is False
    assert holds(
        {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}, {"aws:resourcetag/team": "blue"}, ALICE
    )
    assert holds({"StringEquals": {"custom:id": "${aws:userid}"}}, {"custom:id": "AIDAALICE"}, ALICE)
    assert holds({"StringEquals": {"custom:acct": "${aws:PrincipalAccount}"}}, {"custom:acct": "111122223333"}, ALICE)
    assert holds({"ArnEquals": {"custom:arn": "${aws:PrincipalArn}"}}, {"custom:arn": ALICE.arn}, ALICE)


def test_it_uses_the_default_of_a_variable_without_value():
    block = {"StringEquals": {"s3:prefix": "home/${aws:username, 'shared'}/"}}
    assert holds(block, {"s3:prefix": "home/shared/"}, ROLE)  # roles have no aws:username
    assert holds(block, {"s3:prefix": "home/alice/"}, ALICE)
    assert holds({"StringEquals": {"s3:prefix": "${aws:username, 'it''s'}"}}, {"s3:prefix": "it's"}, ROLE)


def test_it_never_matches_a_variable_without_value_or_default():
    assert holds({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}, {"s3:prefix": "home//x"}, ROLE) is False


def test_it_treats_escaped_special_characters_literally():
    block = {"StringLike": {"s3:prefix": "a${*}b${?}${$}"}}
    assert holds(block, {"s3:prefix": "a*b?$"})
    assert holds(block, {"s3:prefix": "axxb!$"}) is False


def test_it_leaves_a_condition_open_when_a_variable_has_an_unknown_value():
    # a role session's aws:userid includes the session name, which the caller picks
    assert holds({"StringEquals": {"custom:id": "${aws:userid}"}}, {"custom:id": "AROAX:me"}, ROLE) is None
    assert holds({"StringEquals": {"custom:id": "${aws:SourceVpc, 'none'}"}}, {"custom:id": "none"}) is None


def test_it_knows_the_principal_keys_of_the_subject():
    assert holds({"StringEquals": {"aws:PrincipalType": "User"}}, subject=ALICE)
    assert holds({"StringEquals": {"aws:PrincipalType": "AssumedRole"}}, subject=ROLE)
    assert holds({"StringEquals": {"aws:PrincipalTag/team": "blue"}}, subject=ALICE)
    assert holds({"StringEquals": {"aws:PrincipalTag/owner": "x"}}, subject=ALICE) is False  # tag absent
    assert holds({"Null": {"aws:username": "true"}}, subject=ROLE)
    assert Context.for_subject(ALICE, NOW, **{"iam:PassedToService": "lambda.amazonaws.com"}).values[
        "iam:passedtoservice"
    ] == ["lambda.amazonaws.com"]


def test_it_leaves_an_operator_iam_does_not_know_open():
    assert parse_operator("StringEqualz").base is None
    assert holds({"StringEqualz": {"aws:RequestedRegion": "x"}}, {"aws:requestedregion": "x"}) is None


# Describing conditions


def test_it_describes_conditions_and_their_negations():
    assert (
        Condition("BoolIfExists", "aws:MultiFactorAuthPresent", ("false",), negated=True).describe()
        == "aws:MultiFactorAuthPresent is true"
    )
    assert (
        Condition("StringEquals", "iam:PassedToService", ("lambda.amazonaws.com",)).describe()
        == "iam:PassedToService is lambda.amazonaws.com"
    )
    assert (
        Condition("IpAddress", "aws:SourceIp", ("10.0.0.0/8",), negated=True).describe()
        == "not (aws:SourceIp in 10.0.0.0/8)"
    )
    assert (
        Condition("StringNotEquals", "aws:SourceVpc", ("vpc-1",), negated=True).describe() == "aws:SourceVpc is vpc-1"
    )
    assert Condition("Null", "aws:SourceVpc", ("true",)).describe() == "aws:SourceVpc is absent"
    as_dict = Condition("StringLike", "s3:prefix", ("a*", "b*")).to_dict()
    assert as_dict["text"] == "s3:prefix is like one of a*, b*"
    assert as_dict["values"] == ["a*", "b*"] and as_dict["negated"] is False


IF_EXISTS_CASES = [
    ("StringEquals", "a", "a", "b"),
    ("StringNotEquals", "a", "b", "a"),
    ("StringEqualsIgnoreCase", "a", "A", "b"),
    ("StringNotEqualsIgnoreCase", "a", "b", "A"),
    ("StringLike", "a*", "ab", "ba"),
    ("StringNotLike", "a*", "ba", "ab"),
    ("NumericEquals", "1", "1", "2"),
    ("NumericNotEquals", "1", "2", "1"),
    ("NumericLessThan", "1", "0", "1"),
    ("NumericLessThanEquals", "1", "1", "2"),
    ("NumericGreaterThan", "1", "2", "1"),
    ("NumericGreaterThanEquals", "1", "1", "0"),
    ("DateEquals", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
    ("DateNotEquals", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
    ("DateLessThan", "2026-01-01T00:00:00Z", "2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z"),
    ("DateLessThanEquals", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
    ("DateGreaterThan", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
    ("DateGreaterThanEquals", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2025-12-31T00:00:00Z"),
    ("Bool", "true", "true", "false"),
    ("BinaryEquals", "QQ==", "QQ==", "Qg=="),
    ("IpAddress", "10.0.0.0/8", "10.1.2.3", "11.1.2.3"),
    ("NotIpAddress", "10.0.0.0/8", "11.1.2.3", "10.1.2.3"),
    ("ArnEquals", "arn:aws:s3:::b", "arn:aws:s3:::b", "arn:aws:s3:::c"),
    ("ArnLike", "arn:aws:s3:::b*", "arn:aws:s3:::bb", "arn:aws:s3:::cb"),
    ("ArnNotEquals", "arn:aws:s3:::b", "arn:aws:s3:::c", "arn:aws:s3:::b"),
    ("ArnNotLike", "arn:aws:s3:::b*", "arn:aws:s3:::cb", "arn:aws:s3:::bb"),
]


@pytest.mark.parametrize(("operator", "policy", "good", "bad"), IF_EXISTS_CASES)
def test_it_evaluates_every_operator_and_its_if_exists_form(operator, policy, good, bad):
    plain, if_exists = {operator: {"custom:key": policy}}, {f"{operator}IfExists": {"custom:key": policy}}
    negated = "Not" in operator
    assert holds(plain, {"custom:key": good}) is True
    assert holds(plain, {"custom:key": bad}) is False
    assert holds(plain, {"custom:key": None}) is negated  # absent: false, but true for the negated operators
    assert holds(if_exists, {"custom:key": good}) is True
    assert holds(if_exists, {"custom:key": bad}) is False
    assert holds(if_exists, {"custom:key": None}) is True
    assert holds(if_exists) is None  # unknown stays open
