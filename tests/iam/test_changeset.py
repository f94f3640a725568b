"""Change sets: the AWS CLI lines printed for a list of IAM operations read back as the same operations, so what a
reviewer runs is what the what-if proved."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audits.iam import changeset
from audits.iam.changeset import OPERATIONS, ChangeSetError, cli_lines, parse_cli, terraform

NAMES = st.text(alphabet="abcXYZ019+=,.@_-", min_size=1, max_size=20)
ARNS = st.builds(lambda n: f"arn:aws:iam::111122223333:policy/{n}", NAMES)
DOCS = st.fixed_dictionaries(
    {
        "Version": st.just("2012-10-17"),
        "Statement": st.lists(
            st.fixed_dictionaries(
                {
                    "Effect": st.sampled_from(["Allow", "Deny"]),
                    "Action": st.lists(st.sampled_from(["iam:PassRole", "s3:GetObject", "iam:*", "*"]), min_size=1),
                    "Resource": st.sampled_from(["*", "arn:aws:s3:::it's-a-bucket/*", 'arn:aws:iam::1:role/"q"']),
                }
            ),
            min_size=1,
            max_size=3,
        ),
    }
)


def value_for(param):
    if param.kind == changeset.JSON:
        return DOCS
    if param.kind == changeset.FLAG:
        return st.just(True)
    if param.name.endswith("Arn") or param.name == "PermissionsBoundary":
        return ARNS
    if param.name == "Path":
        return st.just("/team/")
    return NAMES


OPS = st.sampled_from(sorted(OPERATIONS)).flatmap(
    lambda name: st.fixed_dictionaries(
        {"Operation": st.just(name), **{p.name: value_for(p) for p in OPERATIONS[name][1]}}
    )
)


@given(st.lists(OPS, min_size=1, max_size=6))
def test_printed_lines_read_back_as_the_same_operations(ops):
    lines = cli_lines(ops)
    assert all(line.startswith("aws iam ") and "\n" not in line for line in lines)
    assert parse_cli("\n".join(lines)) == ops


def test_it_prints_a_policy_inline_and_quoted():
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"}]}
    (line,) = cli_lines(
        [{"Operation": "PutUserPolicy", "UserName": "bob", "PolicyName": "deny", "PolicyDocument": doc}]
    )
    assert line == (
        "aws iam put-user-policy --user-name bob --policy-name deny --policy-document "
        + "'"
        + json.dumps(doc, separators=(",", ":"))
        + "'"
    )


def test_it_reads_a_script_with_comments_and_continued_lines():
    text = (
        "# fix\naws iam detach-user-policy \\\n"
        "  --user-name bob --policy-arn arn:aws:iam::aws:policy/AdministratorAccess\n\n"
    )
    assert parse_cli(text) == [
        {"Operation": "DetachUserPolicy", "UserName": "bob", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    ]


@pytest.mark.parametrize(
    "text",
    [
        "aws s3 rm s3://bucket --recursive",
        "aws iam delete-account-alias --account-alias x",
        "aws iam put-user-policy --user-name bob --policy-document '{not json'",
        "aws iam attach-user-policy --user-name",
        "aws iam attach-user-policy --bogus x",
        'aws iam put-user-policy --policy-document \'{"a":1}',
        "# only a comment\necho hi",
    ],
)
def test_it_refuses_lines_it_cannot_model(text):
    with pytest.raises(ChangeSetError):
        parse_cli(text)


def test_terraform_writes_new_resources_as_blocks():
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"}]}
    text = terraform(
        [
            {"Operation": "PutRolePolicy", "RoleName": "app", "PolicyName": "deny", "PolicyDocument": doc},
            {"Operation": "DetachUserPolicy", "UserName": "bob", "PolicyArn": "arn:aws:iam::aws:policy/X"},
        ]
    )
    assert 'resource "aws_iam_role_policy" "app_deny" {' in text
    assert '"Action": "iam:PassRole"' in text
    assert "aws_iam_user_policy_attachment of arn:aws:iam::aws:policy/X" in text
