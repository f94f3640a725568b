"""A snapshot mixing two accounts' principals: a warning, and no same-account path between the accounts."""

from audits.iam.snapshot import load_snapshot, mixed_accounts_warning
from tests.iam.builders import ACCOUNT, OTHER, allow, audit, doc, healthy, managed, role, trust_doc, user

ADMIN = managed("AdministratorAccess", doc(allow("*")), aws=True)


def in_account(entry: dict, account: str) -> dict:
    """The builder's principal moved to another account (its ARN is what says where it lives)."""
    return {**entry, "Arn": entry["Arn"].replace(f"::{ACCOUNT}:", f"::{account}:")}


def loaded(**kwargs):
    """Through the loader, as an upload is: it notes the principals' accounts."""
    return load_snapshot(healthy(policies=[ADMIN], **kwargs).to_dict())


def escalations(events: list[tuple], name: str) -> list[str]:
    return [e[1] for e in events if e[0] == "finding" and "Can escalate" in e[1] and f"'{name}'" in e[1]]


def test_it_notes_the_accounts_of_a_mixed_snapshot_and_warns():
    snap = loaded(users=[user("dev"), in_account(user("ops"), OTHER)])
    assert snap.principal_accounts == (ACCOUNT, OTHER)
    events, _ = audit(snap)
    warnings = [e for e in events if e[0] == "warning" and "mixes principals of 2 accounts" in e[1]]
    assert len(warnings) == 1
    assert f"{ACCOUNT}, {OTHER}" in warnings[0][1]
    assert warnings[0][3]["detail"]["mixed_accounts"] == [ACCOUNT, OTHER]


def test_it_says_nothing_of_one_account():
    snap = loaded(users=[user("dev"), user("ops")])
    assert snap.principal_accounts == ()
    assert mixed_accounts_warning(snap) is None
    events, _ = audit(snap)
    assert not [e for e in events if e[0] == "warning" and "mixes principals" in e[1]]


def test_it_finds_create_access_key_within_one_account():
    # The control: the same principals in one account do make the path.
    dev = user("dev", inline={"keys": doc(allow("iam:CreateAccessKey"))})
    events, _ = audit(loaded(users=[dev, user("boss", policies=(ADMIN,))]))
    assert any("CreateAccessKey" in text for text in escalations(events, "dev"))


def test_it_builds_no_cross_account_create_access_key_path():
    dev = user("dev", inline={"keys": doc(allow("iam:CreateAccessKey"))})
    events, _ = audit(loaded(users=[dev, in_account(user("boss", policies=(ADMIN,)), OTHER)]))
    assert not any("CreateAccessKey" in text for text in escalations(events, "dev"))


def test_it_builds_no_path_from_the_other_account_either():
    # The other account's user is not in the snapshot's account: its requests to this account's users cross.
    outsider = in_account(user("outsider", inline={"keys": doc(allow("iam:CreateAccessKey"))}), OTHER)
    events, _ = audit(loaded(users=[outsider, user("boss", policies=(ADMIN,))]))
    assert not any("CreateAccessKey" in text for text in escalations(events, "outsider"))


def test_it_builds_no_assume_role_path_through_another_accounts_root_trust():
    # A role trusting its own account's root lets that account's IAM policies decide; not another account's.
    trusting = role("admin", trust=trust_doc({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), policies=(ADMIN,))
    outsider = in_account(user("outsider", inline={"assume": doc(allow("sts:AssumeRole"))}), OTHER)
    insider = user("insider", inline={"assume": doc(allow("sts:AssumeRole"))})
    events, _ = audit(loaded(users=[outsider, insider], roles=[trusting]))
    assert escalations(events, "insider")
    assert not escalations(events, "outsider")


def test_it_builds_no_cross_account_pass_role_path():
    lambda_admin = in_account(role("lambda-admin", trust=trust_doc({"Service": "lambda.amazonaws.com"}),
                                   policies=(ADMIN,)), OTHER)  # fmt: skip
    dev = user("dev", inline={"pass": doc(allow(["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"]))})
    events, _ = audit(loaded(users=[dev], roles=[lambda_admin]))
    assert not escalations(events, "dev")
