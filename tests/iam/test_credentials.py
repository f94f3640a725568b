import pytest

from audits.iam import credentials
from tests.iam.builders import GOOD_PASSWORD_POLICY, allow, doc, findings, healthy, hits, managed, report_row, user

OLD = "2026-01-01T00:00:00+00:00"


def with_row(**values):
    return healthy(users=[user("u")], report=[report_row("<root_account>"), report_row("u", **values)])


@pytest.mark.parametrize(
    ("check_id", "risky", "decoy"),
    [
        ("console_user_without_mfa", {"mfa_active": "false"}, {"mfa_active": "false", "password_enabled": "false"}),
        (
            "access_key_not_rotated",
            {"access_key_1_last_rotated": OLD},
            {"access_key_1_last_rotated": OLD, "access_key_1_active": "false"},
        ),
        (
            "access_key_unused",
            {"access_key_1_last_used_date": "2026-09-01T00:00:00+00:00"},
            {"access_key_1_last_used_date": "2026-11-01T00:00:00+00:00"},
        ),
        (
            "console_access_unused",
            {"password_last_used": "2026-09-01T00:00:00+00:00"},
            {"password_last_used": "2026-11-01T00:00:00+00:00"},
        ),
        (
            "two_active_access_keys",
            {
                "access_key_2_active": "true",
                "access_key_2_last_rotated": "2026-11-01T00:00:00+00:00",
                "access_key_2_last_used_date": "2026-11-20T00:00:00+00:00",
            },
            {"access_key_2_active": "false"},
        ),
        (
            "access_key_never_used",
            {"access_key_1_last_used_date": "N/A"},
            {"access_key_1_last_used_date": "N/A", "access_key_1_active": "false"},
        ),
        (
            "inactive_user",
            {
                "password_last_used": "2026-06-01T00:00:00+00:00",
                "access_key_1_last_used_date": "2026-06-01T00:00:00+00:00",
            },
            {"password_last_used": "2026-06-01T00:00:00+00:00"},
        ),
    ],
)
def test_it_flags_the_risky_user_and_not_the_decoy(check_id, risky, decoy):
    assert len(hits(with_row(**risky), check_id, "u")) == 1
    assert hits(with_row(**decoy), check_id, "u") == []


def test_it_says_when_an_unused_key_was_created_with_the_user():
    [f] = hits(
        with_row(
            access_key_1_last_used_date="N/A",
            user_creation_time="2026-10-01T00:00:00+00:00",
            access_key_1_last_rotated="2026-10-01T00:00:05+00:00",
        ),
        "access_key_never_used",
    )
    assert "created with the user" in f["detail"]


def test_it_flags_admins_without_mfa_as_critical():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    snap = healthy(
        users=[user("boss", policies=(admin,))],
        policies=[admin],
        report=[report_row("<root_account>"), report_row("boss", mfa_active="false")],
    )
    [f] = hits(snap, "admin_without_mfa", "boss")
    assert f["severity"] == "critical"
    assert hits(snap, "console_user_without_mfa") == []


def root(**values):
    return healthy(report=[report_row("<root_account>", **values)])


@pytest.mark.parametrize(
    ("check_id", "risky", "decoy"),
    [
        ("root_access_keys", {"access_key_1_active": "true"}, {"access_key_1_active": "false"}),
        ("root_mfa_disabled", {"mfa_active": "false"}, {"mfa_active": "true"}),
        (
            "root_recently_used",
            {"password_last_used": "2026-11-20T00:00:00+00:00"},
            {"password_last_used": "2026-06-01T00:00:00+00:00"},
        ),
    ],
)
def test_it_flags_the_root_account(check_id, risky, decoy):
    [f] = hits(root(**risky), check_id)
    assert f["principal_type"] == "account"
    assert hits(root(**decoy), check_id) == []


def test_it_falls_back_to_the_account_summary_for_root():
    snap = healthy(report=None, summary={"AccountMFAEnabled": 0, "AccountAccessKeysPresent": 1})
    snap.credential_report = None
    ids = {f["check_id"] for f in findings(snap)}
    assert {"root_access_keys", "root_mfa_disabled"} <= ids


@pytest.mark.parametrize(
    ("check_id", "change"),
    [
        ("password_min_length", {"MinimumPasswordLength": 8}),
        ("password_reuse", {"PasswordReusePrevention": 5}),
        ("password_require_symbols", {"RequireSymbols": False}),
        ("password_require_numbers", {"RequireNumbers": False}),
        ("password_require_uppercase", {"RequireUppercaseCharacters": False}),
        ("password_require_lowercase", {"RequireLowercaseCharacters": False}),
        ("password_expiry", {"MaxPasswordAge": 365}),
        ("password_expiry", {"ExpirePasswords": False, "MaxPasswordAge": None}),
    ],
)
def test_it_flags_each_weak_password_setting(check_id, change):
    assert len(hits(healthy(password_policy={**GOOD_PASSWORD_POLICY, **change}), check_id)) == 1
    assert hits(healthy(password_policy=GOOD_PASSWORD_POLICY), check_id) == []


def test_it_flags_a_missing_password_policy_only_when_known():
    assert len(hits(healthy(password_policy=None), "password_policy_missing")) == 1
    assert hits(healthy(password_known=False), "password_policy_missing") == []


def test_it_parses_credential_report_dates():
    assert credentials.parse_time("N/A") is None
    assert credentials.parse_time("2026-01-01T00:00:00+00:00").year == 2026
    assert credentials.parse_time("2026-01-01T00:00:00Z").tzinfo is not None


def test_it_leaves_admins_with_mfa_alone():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    snap = healthy(users=[user("boss", policies=(admin,))], policies=[admin])
    assert hits(snap, "admin_without_mfa") == []
    assert len(hits(snap, "user_admin_access")) == 1
