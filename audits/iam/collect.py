"""Collecting an AccountSnapshot from a live AWS account through boto3 (read-only IAM calls)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from audits.iam.resource_collect import collect_resources
from audits.iam.snapshot import AccountSnapshot, SnapshotError, load_snapshot, parse_credential_csv

CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 10}, connect_timeout=10, read_timeout=60)
AUTH_FILTERS = ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"]
REPORT_WAIT_SECONDS = 60.0
REPORT_POLL_SECONDS = 2.0

# Error codes that mean "these credentials will not work": stop with one clear message.
FATAL_CODES = {
    "ExpiredToken": "The AWS session token has expired; refresh your credentials and try again.",
    "ExpiredTokenException": "The AWS session token has expired; refresh your credentials and try again.",
    "RequestExpired": "The AWS request expired; check this machine's clock and your credentials.",
    "InvalidClientTokenId": "The AWS access key ID is not valid (InvalidClientTokenId).",
    "UnrecognizedClientException": "The AWS access key or session token is not valid (UnrecognizedClientException).",
    "SignatureDoesNotMatch": "The AWS secret access key does not match the access key ID (SignatureDoesNotMatch).",
    "AuthFailure": "AWS did not accept these credentials (AuthFailure).",
}
DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


class CollectionError(Exception):
    """Fatal: the account cannot be read at all. The message is shown to the user as-is."""


# Its return value is ignored: a caller may pass a function that returns something (stderr.write, emit).
Warn = Callable[[str], object]


def session_for(
    role_arn: str | None = None, external_id: str | None = None, *, region: str = "us-east-1"
) -> boto3.Session:
    """The default credential chain, or a session for role_arn assumed from it (with ExternalId when given)."""
    base = boto3.Session(region_name=region)
    if not role_arn:
        return base
    params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "aegis-iam-audit", "DurationSeconds": 3600}
    if external_id:
        params["ExternalId"] = external_id
    with _fatal_errors():
        try:
            creds = base.client("sts", config=CONFIG).assume_role(**params)["Credentials"]
        except ClientError as exc:
            if _code(exc) in FATAL_CODES:
                raise
            raise CollectionError(f"Cannot assume role {role_arn}: {_message(exc)}") from None
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


def collect_snapshot(
    session: Any, warn: Warn, *, sleep: Callable[[float], None] = time.sleep, resources: bool = True
) -> AccountSnapshot:
    """Read the account's IAM state (and, unless told not to, its resource-based policies in every enabled region).
    A missing permission costs a warning and the checks that need it."""
    with _fatal_errors():
        account_id = session.client("sts", config=CONFIG).get_caller_identity()["Account"]
        iam = session.client("iam", config=CONFIG)
        collected_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            details = _authorization_details(iam)
        except ClientError as exc:
            if _code(exc) in DENIED_CODES:
                raise CollectionError(
                    "Missing permission iam:GetAccountAuthorizationDetails - the audit cannot run without it "
                    "(attach the SecurityAudit managed policy to the auditing identity)"
                ) from None
            raise
        _fill_role_last_used(iam, details["RoleDetailList"], warn)
        bundle = {
            "account_id": account_id,
            "collected_at": collected_at,
            "authorization_details": details,
            "credential_report": _credential_report(iam, warn, sleep),
            "account_summary": _optional(
                iam.get_account_summary, "iam:GetAccountSummary", "root account checks skipped", warn, "SummaryMap"
            ),
        }
        bundle.update(_password_policy(iam, warn))
        if resources:
            bundle.update(collect_resources(session, account_id, warn))
    try:
        return load_snapshot(_plain(bundle), source="live")
    except SnapshotError as exc:
        raise CollectionError(f"AWS returned data the audit cannot read: {exc}") from None


def _authorization_details(iam: Any) -> dict[str, list]:
    out: dict[str, list] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    for page in iam.get_paginator("get_account_authorization_details").paginate(Filter=AUTH_FILTERS):
        for key, items in out.items():
            items.extend(page.get(key, []))
    out["Policies"] = _referenced_policies(out)
    return out


def _referenced_policies(details: dict[str, list]) -> list[dict]:
    # AWS-managed policies nobody attaches grant nothing here; some endpoints return all ~1,300 of them.
    used = {
        attached["PolicyArn"]
        for key in ("UserDetailList", "GroupDetailList", "RoleDetailList")
        for entry in details[key]
        for attached in entry.get("AttachedManagedPolicies", [])
    }
    used |= {
        entry["PermissionsBoundary"]["PermissionsBoundaryArn"]
        for key in ("UserDetailList", "RoleDetailList")
        for entry in details[key]
        if entry.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
    }
    return [p for p in details["Policies"] if not p["Arn"].startswith("arn:aws:iam::aws:") or p["Arn"] in used]


def _fill_role_last_used(iam: Any, roles: list[dict], warn: Warn) -> None:
    for role in roles:
        if "RoleLastUsed" in role:
            continue
        try:
            role["RoleLastUsed"] = iam.get_role(RoleName=role["RoleName"])["Role"].get("RoleLastUsed", {})
        except ClientError as exc:
            if _code(exc) == "NoSuchEntity":  # deleted since the listing
                continue
            if _code(exc) in DENIED_CODES:
                warn("Missing permission iam:GetRole - role last-used dates unknown, unused-role checks skipped")
                return
            raise


def _credential_report(iam: Any, warn: Warn, sleep: Callable[[float], None]) -> list[dict] | None:
    skipped = "credential checks skipped"
    deadline = time.monotonic() + REPORT_WAIT_SECONDS
    try:
        while iam.generate_credential_report().get("State") != "COMPLETE":
            if time.monotonic() >= deadline:
                warn(f"The credential report was not ready after {REPORT_WAIT_SECONDS:.0f} s - {skipped}")
                return None
            sleep(REPORT_POLL_SECONDS)
    except ClientError as exc:
        if _code(exc) not in DENIED_CODES:
            raise
        # A report generated earlier may still be readable with only iam:GetCredentialReport.
    content = _optional(iam.get_credential_report, "iam:GetCredentialReport", skipped, warn, "Content")
    if content is None:
        return None
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    return parse_credential_csv(text)


def _password_policy(iam: Any, warn: Warn) -> dict:
    try:
        return {"password_policy": iam.get_account_password_policy()["PasswordPolicy"], "password_policy_known": True}
    except ClientError as exc:
        if _code(exc) == "NoSuchEntity":
            return {"password_policy": None, "password_policy_known": True}
        if _code(exc) in DENIED_CODES:
            warn("Missing permission iam:GetAccountPasswordPolicy - password policy checks skipped")
            return {"password_policy": None, "password_policy_known": False}
        raise


def _optional(call: Callable[[], dict], permission: str, consequence: str, warn: Warn, key: str) -> Any:
    try:
        return call()[key]
    except ClientError as exc:
        if _code(exc) in DENIED_CODES or _code(exc) in {"ReportNotPresent", "ReportExpired", "ReportInProgress"}:
            reason = f"Missing permission {permission}" if _code(exc) in DENIED_CODES else f"{permission}: {_code(exc)}"
            warn(f"{reason} - {consequence}")
            return None
        raise


@contextmanager
def _fatal_errors() -> Iterator[None]:
    """Turns credential and connection failures into CollectionError with a plain message."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise CollectionError(
            "No AWS credentials found: configure a profile, environment variables or an instance role"
        ) from None
    except EndpointConnectionError as exc:
        raise CollectionError(f"Cannot reach AWS: {exc}") from None
    except ClientError as exc:
        code = _code(exc)
        if code in FATAL_CODES:
            raise CollectionError(FATAL_CODES[code]) from None
        raise CollectionError(f"AWS refused {exc.operation_name}: {code} - {_message(exc)}") from None
    except BotoCoreError as exc:
        raise CollectionError(f"AWS call failed: {exc}") from None


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _message(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Message", "") or _code(exc)


def _plain(value: Any) -> Any:
    """boto3 returns datetimes; the snapshot is JSON data, with the ISO 8601 strings the AWS CLI prints."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
