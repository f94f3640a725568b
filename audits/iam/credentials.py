"""Credential hygiene from the credential report, root-account checks and the password policy."""

from __future__ import annotations

from datetime import UTC, datetime

from audits.iam.checks import Spec

KEY_MAX_AGE_DAYS = 90
UNUSED_DAYS = 45
INACTIVE_DAYS = 90
ROOT_RECENT_DAYS = 30


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or value in ("", "N/A", "no_information", "not_supported"):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def days_since(value: object, now: datetime) -> int | None:
    when = parse_time(value)
    return None if when is None else (now - when).days


def _true(row: dict, key: str) -> bool:
    return str(row.get(key, "")).lower() == "true"


def user_specs(row: dict, now: datetime) -> list[Spec]:
    """Findings on one IAM user's row of the credential report."""
    specs = []
    console = _true(row, "password_enabled")
    if console and not _true(row, "mfa_active"):
        specs.append(
            Spec(
                "console_user_without_mfa",
                "",
                "",
                "The user can sign in with a password alone.",
                {"password_enabled": True, "mfa_active": False, "password_last_used": row.get("password_last_used")},
            )
        )
    if console:
        unused = days_since(row.get("password_last_used"), now)
        created = days_since(row.get("user_creation_time"), now)
        idle = unused if unused is not None else created
        if idle is not None and idle >= UNUSED_DAYS:
            what = f"last used {unused} days ago" if unused is not None else f"never used ({created} days old)"
            specs.append(
                Spec(
                    "console_access_unused",
                    "",
                    "",
                    f"Console password {what}.",
                    {"password_last_used": row.get("password_last_used"), "days": idle},
                )
            )
    active = [n for n in (1, 2) if _true(row, f"access_key_{n}_active")]
    if len(active) == 2:
        specs.append(Spec("two_active_access_keys", "", "", "Both access keys are active.", {"keys": [1, 2]}))
    for n in active:
        rotated = row.get(f"access_key_{n}_last_rotated")
        last_used = row.get(f"access_key_{n}_last_used_date")
        age = days_since(rotated, now)
        used = days_since(last_used, now)
        key = f"key{n}"
        evidence = {
            "key": n,
            "last_rotated": rotated,
            "last_used": last_used,
            "last_used_service": row.get(f"access_key_{n}_last_used_service"),
        }
        if age is not None and age > KEY_MAX_AGE_DAYS:
            specs.append(
                Spec(
                    "access_key_not_rotated",
                    "",
                    key,
                    f"Access key {n} is {age} days old.",
                    {**evidence, "age_days": age},
                )
            )
        if used is None:
            at_creation = rotated and rotated[:16] == str(row.get("user_creation_time", ""))[:16]
            specs.append(
                Spec(
                    "access_key_never_used",
                    "",
                    key,
                    f"Access key {n} is active and has never been used"
                    + (" (created with the user)." if at_creation else "."),
                    evidence,
                )
            )
        elif used >= UNUSED_DAYS:
            specs.append(
                Spec(
                    "access_key_unused",
                    "",
                    key,
                    f"Access key {n} was last used {used} days ago.",
                    {**evidence, "days": used},
                )
            )
    last_activity = [
        d
        for d in (
            days_since(row.get("password_last_used"), now),
            *(days_since(row.get(f"access_key_{n}_last_used_date"), now) for n in (1, 2)),
        )
        if d is not None
    ]
    created = days_since(row.get("user_creation_time"), now)
    idle = min(last_activity) if last_activity else created
    if idle is not None and idle >= INACTIVE_DAYS and (console or active):
        specs.append(
            Spec(
                "inactive_user",
                "",
                "",
                f"No sign-in or key use for {idle} days" + ("" if last_activity else " (never used)") + ".",
                {"days": idle, "user_creation_time": row.get("user_creation_time")},
            )
        )
    return specs


def root_specs(report: list[dict] | None, summary: dict | None, now: datetime) -> list[Spec]:
    row = next((r for r in report or () if r.get("user") == "<root_account>"), None)
    specs = []
    if row is not None:
        keys = [n for n in (1, 2) if _true(row, f"access_key_{n}_active")]
        if keys:
            specs.append(
                Spec(
                    "root_access_keys",
                    "",
                    "",
                    f"The root user has {len(keys)} active access key(s).",
                    {
                        "keys": keys,
                        **{f"access_key_{n}_last_used_date": row.get(f"access_key_{n}_last_used_date") for n in keys},
                    },
                )
            )
        if not _true(row, "mfa_active"):
            specs.append(Spec("root_mfa_disabled", "", "", "The root user has no MFA device.", {"mfa_active": False}))
        uses = {
            k: days_since(row.get(k), now)
            for k in ("password_last_used", "access_key_1_last_used_date", "access_key_2_last_used_date")
        }
        recent = {k: d for k, d in uses.items() if d is not None and d <= ROOT_RECENT_DAYS}
        if recent:
            specs.append(
                Spec(
                    "root_recently_used",
                    "",
                    "",
                    f"The root user was used {min(recent.values())} day(s) ago.",
                    {k: row.get(k) for k in recent},
                )
            )
    elif summary is not None:
        # Without a credential report, the account summary still answers keys and MFA.
        if summary.get("AccountAccessKeysPresent"):
            specs.append(
                Spec(
                    "root_access_keys",
                    "",
                    "",
                    "The root user has access keys (account summary).",
                    {"AccountAccessKeysPresent": summary.get("AccountAccessKeysPresent")},
                )
            )
        if "AccountMFAEnabled" in summary and not summary.get("AccountMFAEnabled"):
            specs.append(
                Spec(
                    "root_mfa_disabled",
                    "",
                    "",
                    "The root user has no MFA device (account summary).",
                    {"AccountMFAEnabled": summary.get("AccountMFAEnabled")},
                )
            )
    return specs


def password_specs(policy: dict | None) -> list[Spec]:
    if policy is None:
        return [
            Spec(
                "password_policy_missing",
                "",
                "",
                "The account has no password policy: IAM's defaults "
                "allow 8-character passwords with no complexity, reuse or expiry rule.",
                {},
            )
        ]
    specs = []
    length = _number(policy.get("MinimumPasswordLength"))
    if length < 14:
        specs.append(
            Spec(
                "password_min_length",
                "",
                "",
                f"Minimum password length is {length}.",
                {"MinimumPasswordLength": length},
            )
        )
    reuse = _number(policy.get("PasswordReusePrevention"))
    if reuse < 24:
        specs.append(
            Spec(
                "password_reuse",
                "",
                "",
                f"Password reuse prevention remembers {reuse} password(s).",
                {"PasswordReusePrevention": reuse},
            )
        )
    for check_id, key in (
        ("password_require_symbols", "RequireSymbols"),
        ("password_require_numbers", "RequireNumbers"),
        ("password_require_uppercase", "RequireUppercaseCharacters"),
        ("password_require_lowercase", "RequireLowercaseCharacters"),
    ):
        if not policy.get(key):
            specs.append(Spec(check_id, "", "", f"{key} is false.", {key: bool(policy.get(key))}))
    age = _number(policy.get("MaxPasswordAge")) if policy.get("ExpirePasswords", True) else 0
    if not age or age > 90:
        specs.append(
            Spec(
                "password_expiry",
                "",
                "",
                "Passwords never expire." if not age else f"Passwords expire after {age} days.",
                {"MaxPasswordAge": age or None},
            )
        )
    return specs


def _number(value: object) -> int:
    """A password-policy number; anything that is not one counts as unset (0), the weakest reading."""
    if isinstance(value, bool):
        return 0
    try:
        return int(value) if isinstance(value, int | float | str) else 0
    except (ValueError, OverflowError):
        return 0


def now_of(collected_at: str | None) -> datetime:
    return parse_time(collected_at) or datetime.now(UTC)
