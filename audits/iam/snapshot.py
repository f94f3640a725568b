"""Loading an AWS account's IAM state into one plain-data AccountSnapshot.

Accepted inputs:
  (a) the raw output of `aws iam get-account-authorization-details`;
  (b) a bundle {"authorization_details": (a), "credential_report": ..., "password_policy": ...,
      "account_summary": ..., "collected_at": ..., "account_id": ...}, which is also what
      AccountSnapshot.to_dict() writes.

Every policy document in the result is a dict whose "Statement" is a list; AWS keys are kept as they are.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

MAX_SNAPSHOT_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 64
# AWS caps a policy document at 6,144 characters (managed) or 10,240 (inline), a few hundred statements at most. A
# document far past that cannot come from AWS, and compiling each statement costs the audit several KB of memory.
MAX_STATEMENTS_PER_POLICY = 2_000
BUNDLE_FORMAT = "aegis-iam-snapshot"
SOURCES = ("demo", "snapshot", "live")
DEMO_PATH = Path(__file__).parent / "data" / "demo_account.json"

LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
# Which key names each entry, and where its policy documents live: (list key, document key).
NAME_KEY = {
    "UserDetailList": "UserName",
    "GroupDetailList": "GroupName",
    "RoleDetailList": "RoleName",
    "Policies": "PolicyName",
}
INLINE_KEY = {
    "UserDetailList": "UserPolicyList",
    "GroupDetailList": "GroupPolicyList",
    "RoleDetailList": "RolePolicyList",
}

_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):")
# Text no later step can carry: lone surrogates (from JSON escapes such as "\ud800") cannot be encoded as UTF-8 for
# the stream, the exports or PostgreSQL, and NUL is refused by PostgreSQL's text and jsonb. Both become U+FFFD.
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")
_UNSAFE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
# Python refuses to convert integers longer than this between text and int (CVE-2020-10735); JSON has no such limit.
_MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300


class SnapshotError(ValueError):
    """The message is shown to the user as-is: it names what is wrong and where."""


@dataclass
class AccountSnapshot:
    account_id: str
    users: list[dict]
    groups: list[dict]
    roles: list[dict]
    policies: list[dict]
    credential_report: list[dict] | None
    password_policy: dict | None
    account_summary: dict | None
    collected_at: str | None
    source: str
    password_policy_known: bool = False
    # Resource-based policies, S3 account Block Public Access and the organization (audits.iam.resources and
    # audits.iam.organization); empty / None when the bundle has none.
    resources: list[dict] = field(default_factory=list)
    account_block_public_access: dict | None = None
    organization: dict | None = None
    # Every account id the principals' ARNs carry, when there is more than one: a file joining two accounts'
    # exports. Derived from the ARNs at load, so to_dict() need not carry it.
    principal_accounts: tuple[str, ...] = ()

    @property
    def mixed_accounts(self) -> bool:
        return len(self.principal_accounts) > 1

    def to_dict(self) -> dict:
        """A bundle that load_snapshot() turns back into an equal snapshot (the portal stores it to resume runs)."""
        return {
            "format": BUNDLE_FORMAT,
            "version": 1,
            "account_id": self.account_id,
            "source": self.source,
            "collected_at": self.collected_at,
            "authorization_details": {
                "UserDetailList": self.users,
                "GroupDetailList": self.groups,
                "RoleDetailList": self.roles,
                "Policies": self.policies,
            },
            "credential_report": self.credential_report,
            "password_policy": self.password_policy,
            "password_policy_known": self.password_policy_known,
            "account_summary": self.account_summary,
            "resources": self.resources,
            "account_block_public_access": self.account_block_public_access,
            "organization": self.organization,
        }


def load_demo_snapshot() -> AccountSnapshot:
    return load_snapshot(DEMO_PATH.read_bytes(), source="demo")


def load_snapshot(data: bytes | str | dict, *, source: str = "snapshot") -> AccountSnapshot:
    """Parse and check a snapshot; raises SnapshotError naming what is wrong.

    A bundle written by to_dict() keeps its own "source" unless the caller asks for a non-default one.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    if isinstance(data, dict):
        top = _checked(data)
    elif isinstance(data, bytes | bytearray | str):
        top = _parse_json(data)
    else:
        raise SnapshotError(f"Snapshot must be JSON text or an object, not {type(data).__name__}")
    if not isinstance(top, dict):
        raise SnapshotError(f"Snapshot must be a JSON object at the top level, not {_kind(top)}")

    if "authorization_details" in top:
        bundle, details, prefix = top, top["authorization_details"], "authorization_details."
        if not isinstance(details, dict):
            raise SnapshotError(f"authorization_details must be an object, not {_kind(details)}")
    elif any(key in top for key in LISTS):
        bundle, details, prefix = {}, top, ""
    else:
        part = _bundle_part(top)
        if part is not None:
            raise SnapshotError(_alone_message(*part))
        raise SnapshotError(
            "Not an IAM snapshot: expected the output of `aws iam get-account-authorization-details` "
            "(UserDetailList, GroupDetailList, RoleDetailList, Policies) or a bundle with 'authorization_details'"
        )

    lists = _auth_lists(details, prefix)
    if bundle.get("format") == BUNDLE_FORMAT and source == "snapshot" and bundle.get("source") in SOURCES:
        source = bundle["source"]
    password_policy = _password_policy(bundle.get("password_policy"))
    account_id = bundle.get("account_id") or _account_from_arns(lists)
    if not isinstance(account_id, str) or not re.fullmatch(r"\d{12}|", account_id):
        raise SnapshotError("account_id must be a 12-digit string")
    collected_at = bundle.get("collected_at")
    if collected_at is not None and not isinstance(collected_at, str):
        raise SnapshotError("collected_at must be an ISO 8601 string")

    return AccountSnapshot(
        account_id=account_id,
        users=lists["UserDetailList"],
        groups=lists["GroupDetailList"],
        roles=lists["RoleDetailList"],
        policies=lists["Policies"],
        credential_report=_credential_report(bundle.get("credential_report")),
        password_policy=password_policy,
        account_summary=_account_summary(bundle.get("account_summary")),
        collected_at=collected_at,
        source=source,
        # A bundle that carries the key (even as null) says what the account has; a raw export says nothing.
        password_policy_known=bool(bundle.get("password_policy_known", "password_policy" in bundle)),
        principal_accounts=_principal_accounts(lists),
        **_resource_sections(bundle),
    )


def _resource_sections(bundle: dict) -> dict:
    from audits.iam.organization import parse_organization
    from audits.iam.resources import ResourceFormatError, block_settings, parse_resources

    try:
        return {
            "resources": parse_resources(bundle.get("resources")),
            "account_block_public_access": block_settings(
                bundle.get("account_block_public_access"), "account_block_public_access"
            ),
            "organization": parse_organization(bundle.get("organization")),
        }
    except ResourceFormatError as exc:
        raise SnapshotError(str(exc)) from None


# --- parsing and structural limits -------------------------------------------------------------------------------


def _parse_json(data: bytes | bytearray | str) -> Any:
    size = len(data) if not isinstance(data, str) else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(
            f"Snapshot is {size / 1024 / 1024:.1f} MB; the limit is {MAX_SNAPSHOT_BYTES // 1024 // 1024} MB"
        )
    if not isinstance(data, str):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SnapshotError(f"Snapshot is not UTF-8 text (bad byte at offset {exc.start})") from None
    if not data.strip():
        raise SnapshotError("Snapshot is empty")
    try:
        parsed = json.loads(data, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        if data.lstrip("\ufeff \r\n\t").startswith("user,arn,"):
            raise SnapshotError(_alone_message("a credential report", "credential_report", text=True)) from None
        raise SnapshotError(f"Snapshot is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        # The C parser gives up on very deep input before we could count it.
        raise SnapshotError(f"Snapshot is nested too deeply (more than {MAX_DEPTH} levels)") from None
    except SnapshotError:  # from _refuse_constant: already names the problem
        raise
    except ValueError:  # the only other ValueError json.loads raises: an integer past Python's digit limit
        raise SnapshotError(_TOO_MANY_DIGITS) from None
    # Strict UTF-8 and JSON put no surrogate or NUL in the text itself, only \u escapes can: without one of those
    # escapes (the usual case) the walk need not look at every string. ASCII text holds no surrogate and text
    # without "\\u" no escape, which substring tests tell faster than the regexes.
    unsafe_text = "\x00" in data or (not data.isascii() and _UNSAFE_TEXT.search(data) is not None)
    unsafe_escape = "\\u" in data and _UNSAFE_ESCAPE.search(data) is not None
    return _checked(parsed, scan_text=unsafe_text or unsafe_escape)


_TOO_MANY_DIGITS = f"Snapshot contains a number with more than {_MAX_INT_DIGITS} digits, which no IAM value has"


def _checked(root: Any, scan_text: bool = True) -> Any:
    """The document after its structural checks, with unsafe text replaced (a copy only when there was some)."""
    return safe_text(root) if _check_depth(root, scan_text) else root


def _check_depth(root: Any, scan_text: bool = True) -> bool:
    """Iterative, so a hostile document cannot exhaust the stack while being measured.

    Also refuses NaN, infinities and integers too long to print in an already-parsed document: they are not JSON
    the portal could store. Returns whether any key or string holds unsafe text (see _UNSAFE_TEXT)."""
    # With nothing to look for, start as if already found: the `or` below then skips every string check.
    unsafe = not scan_text
    # Bits per decimal digit is log2(10) < 3.33, so fewer bits than this always fits the digit limit.
    max_bits = int(_MAX_INT_DIGITS * 3.32)
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SnapshotError(f"Snapshot is nested too deeply (more than {MAX_DEPTH} levels)")
        children: Iterable[Any]
        if isinstance(node, dict):
            children = node.values()
            unsafe = unsafe or any(_is_unsafe(key) for key in node)
        elif isinstance(node, list):
            children = node
        else:
            continue
        for child in children:
            if unsafe and type(child) is str:
                continue  # the common leaf, with nothing to look for in it
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif isinstance(child, str):
                unsafe = unsafe or _is_unsafe(child)
            elif isinstance(child, float) and not math.isfinite(child):
                raise SnapshotError("Snapshot contains NaN or Infinity, which are not valid JSON numbers")
            elif isinstance(child, int) and child.bit_length() > max_bits:
                raise SnapshotError(_TOO_MANY_DIGITS)
    return scan_text and (unsafe or _is_unsafe(root))


def _is_unsafe(text: Any) -> bool:
    # isascii() is a flag check, so the common all-ASCII string costs one membership test for NUL.
    return isinstance(text, str) and ("\x00" in text or (not text.isascii() and _UNSAFE_TEXT.search(text) is not None))


def safe_text(node: Any) -> Any:
    """A copy with every unsafe character in keys and strings replaced by U+FFFD (depth is already checked)."""
    if isinstance(node, str):
        return _UNSAFE_TEXT.sub("\ufffd", node)
    if isinstance(node, dict):
        return {safe_text(key): safe_text(value) for key, value in node.items()}
    if isinstance(node, list):
        return [safe_text(item) for item in node]
    return node


def _refuse_constant(name: str) -> Any:
    raise SnapshotError(f"Snapshot contains {name}, which is not valid JSON")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


# --- authorization details ----------------------------------------------------------------------------------------


def _auth_lists(details: dict, prefix: str) -> dict[str, list[dict]]:
    missing = [key for key in LISTS if key not in details]
    if missing:
        raise SnapshotError(
            f"{prefix or 'Snapshot '}is missing {', '.join(missing)} "
            "(export with `aws iam get-account-authorization-details` and no --filter)"
        )
    if details.get("IsTruncated") is True:
        raise SnapshotError(
            f"{prefix}IsTruncated is true: this is one page of the export; save all pages (the AWS CLI does by default)"
        )
    out = {}
    for key in LISTS:
        entries = details[key]
        if not isinstance(entries, list):
            raise SnapshotError(f"{prefix}{key} must be a list, not {_kind(entries)}")
        out[key] = [_entry(key, i, entry, prefix) for i, entry in enumerate(entries)]
    return out


def _entry(key: str, index: int, entry: Any, prefix: str) -> dict:
    path = f"{prefix}{key}[{index}]"
    if not isinstance(entry, dict):
        raise SnapshotError(f"{path} must be an object, not {_kind(entry)}")
    arn, name_key = entry.get("Arn"), NAME_KEY[key]
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise SnapshotError(f"{path} has no Arn")
    entry = dict(entry)  # shallow copy: the caller's data is never modified
    if name_key not in entry:
        # Some emulators (moto) leave PolicyName out; the ARN's last segment is the name.
        entry[name_key] = arn.rsplit("/", 1)[-1]
    elif not isinstance(entry[name_key], str):
        raise SnapshotError(f"{path}.{name_key} must be a string, not {_kind(entry[name_key])}")
    if key == "Policies":
        entry["PolicyVersionList"] = _documents(entry, "PolicyVersionList", "Document", path)
    else:
        entry[INLINE_KEY[key]] = _documents(entry, INLINE_KEY[key], "PolicyDocument", path)
    if key == "RoleDetailList" and "AssumeRolePolicyDocument" in entry:
        entry["AssumeRolePolicyDocument"] = _document(
            entry["AssumeRolePolicyDocument"], f"{path}.AssumeRolePolicyDocument"
        )
    return entry


def _documents(entry: dict, list_key: str, doc_key: str, path: str) -> list[dict]:
    items = entry.get(list_key) or []
    if not isinstance(items, list):
        raise SnapshotError(f"{path}.{list_key} must be a list, not {_kind(items)}")
    out = []
    for i, item in enumerate(items):
        item_path = f"{path}.{list_key}[{i}]"
        if not isinstance(item, dict):
            raise SnapshotError(f"{item_path} must be an object, not {_kind(item)}")
        if doc_key not in item:
            raise SnapshotError(f"{item_path} has no {doc_key}")
        out.append({**item, doc_key: _document(item[doc_key], f"{item_path}.{doc_key}")})
    return out


def _document(doc: Any, path: str) -> dict:
    if isinstance(doc, str):
        text = doc.strip()
        if not text.startswith("{"):
            # The raw IAM API returns documents URL-encoded (RFC 3986); the CLI and boto3 decode them.
            text = unquote(text).strip()
            if not text.startswith("{"):
                raise SnapshotError(f"{path} is URL-encoded but does not decode to a JSON policy document")
        try:
            doc = json.loads(text, parse_constant=_refuse_constant)
        except (json.JSONDecodeError, RecursionError):
            raise SnapshotError(f"{path} is not valid JSON") from None
        except SnapshotError:
            raise
        except ValueError:
            raise SnapshotError(f"{path}: {_TOO_MANY_DIGITS[len('Snapshot ') :]}") from None
        doc = _checked(doc)
    if not isinstance(doc, dict):
        raise SnapshotError(f"{path} must be a policy document object, not {_kind(doc)}")
    statements = doc.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise SnapshotError(f"{path}.Statement must be a list or an object, not {_kind(statements)}")
    if len(statements) > MAX_STATEMENTS_PER_POLICY:
        raise SnapshotError(
            f"{path} has {len(statements):,} statements; the limit is {MAX_STATEMENTS_PER_POLICY:,} per policy "
            "(AWS itself accepts no policy document longer than 10,240 characters)"
        )
    for i, statement in enumerate(statements):
        if not isinstance(statement, dict):
            raise SnapshotError(f"{path}.Statement[{i}] must be an object, not {_kind(statement)}")
    return {**doc, "Statement": statements}


def _principal_accounts(lists: dict[str, list[dict]]) -> tuple[str, ...]:
    """The account ids of the users', groups' and roles' ARNs, when they name more than one; () otherwise."""
    found = {
        match.group(1)
        for key in ("UserDetailList", "GroupDetailList", "RoleDetailList")
        for entry in lists[key]
        if (match := _ACCOUNT_IN_ARN.match(entry["Arn"]))
    }
    return tuple(sorted(found)) if len(found) > 1 else ()


def mixed_accounts_warning(snapshot: AccountSnapshot) -> tuple[str, dict] | None:
    """The audit's warning for a snapshot whose principals belong to several accounts, or None."""
    if not snapshot.mixed_accounts:
        return None
    accounts = list(snapshot.principal_accounts)
    return (
        f"This snapshot mixes principals of {len(accounts)} accounts ({', '.join(accounts[:5])}"
        + (", ..." if len(accounts) > 5 else "")
        + f"); it is audited as account {snapshot.account_id or 'unknown'}. Paths between principals of different "
        "accounts (CreateAccessKey, PassRole, AssumeRole through an account's trust) need both accounts to allow "
        "them and are not assumed; upload one account per snapshot, or audit the organization.",
        {"detail": {"mixed_accounts": accounts[:50]}},
    )


def _account_from_arns(lists: dict[str, list[dict]]) -> str:
    # The most common account among the account's own principals and customer-managed policies.
    counts = Counter(
        match.group(1) for key in LISTS for entry in lists[key] if (match := _ACCOUNT_IN_ARN.match(entry["Arn"]))
    )
    return counts.most_common(1)[0][0] if counts else ""


def _bundle_part(top: dict) -> tuple[str, str] | None:
    """(what it is, its bundle key) for a file that is one of a bundle's other parts uploaded on its own."""
    if "SummaryMap" in top:
        return "an account summary", "account_summary"
    if "Content" in top and ("GeneratedTime" in top or "ReportFormat" in top):
        return "a credential report", "credential_report"
    if "PasswordPolicy" in top:
        return "a password policy", "password_policy"
    return None


def _alone_message(what: str, key: str, text: bool = False) -> str:
    # CSV text goes into the bundle as a string (--rawfile), a JSON part as itself (--slurpfile).
    read, part = ("--rawfile p part.csv", "$p") if text else ("--slurpfile p part.json", "$p[0]")
    return (
        f"Not an IAM snapshot: this is {what}, which Aegis reads only inside a snapshot bundle, next to the output "
        "of `aws iam get-account-authorization-details` (format: docs/snapshot-bundle.schema.json). Combine them: "
        f"jq -n --slurpfile a auth.json {read} '{{authorization_details: $a[0], {key}: {part}}}' > bundle.json"
    )


# --- the rest of a bundle -----------------------------------------------------------------------------------------


def _credential_report(value: Any) -> list[dict] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        # CloudMapper and the CLI save the get-credential-report response: {"Content": ..., "GeneratedTime": ...}.
        if "Content" not in value:
            raise SnapshotError("credential_report object has no Content")
        value = value["Content"]
    if isinstance(value, list):
        rows = []
        for i, row in enumerate(value):
            if not isinstance(row, dict):
                raise SnapshotError(f"credential_report[{i}] must be an object, not {_kind(row)}")
            rows.append({str(k): "" if v is None else str(v) for k, v in row.items()})
        _check_report_columns(rows[0].keys() if rows else ("user", "arn"))
        return rows
    if not isinstance(value, str):
        raise SnapshotError(f"credential_report must be CSV text, base64 CSV or a list of rows, not {_kind(value)}")
    return parse_credential_csv(_maybe_base64(value))


def parse_credential_csv(text: str) -> list[dict]:
    # Reading the header can fail too (a field over csv.field_size_limit(), 128 KB by default), so both are
    # inside the try. The limit stays: it is process-wide, and no real credential report has such a field.
    reader = csv.DictReader(io.StringIO(safe_text(text.lstrip("\ufeff"))))
    try:
        _check_report_columns(reader.fieldnames or ())
        return [{k: v or "" for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise SnapshotError(
                f"credential_report has a field longer than {csv.field_size_limit() // 1024} KB; "
                "a credential report's fields are short: is this the right file?"
            ) from None
        raise SnapshotError(f"credential_report is not valid CSV: {exc}") from None


def _maybe_base64(text: str) -> str:
    if text.lstrip("\ufeff").startswith("user,"):
        return text
    try:
        return base64.b64decode(text, validate=False).decode("utf-8")
    except (binascii.Error, ValueError):
        raise SnapshotError("credential_report is neither CSV text nor base64-encoded CSV") from None


def _check_report_columns(columns: Any) -> None:
    missing = [c for c in ("user", "arn") if c not in columns]
    if missing:
        raise SnapshotError(f"credential_report has no {' or '.join(repr(c) for c in missing)} column")


def _password_policy(value: Any) -> dict | None:
    if isinstance(value, dict) and "PasswordPolicy" in value:
        value = value["PasswordPolicy"]
    if value is not None and not isinstance(value, dict):
        raise SnapshotError(f"password_policy must be an object or null, not {_kind(value)}")
    return value


def _account_summary(value: Any) -> dict | None:
    if isinstance(value, dict) and "SummaryMap" in value:
        value = value["SummaryMap"]
    if value is not None and not isinstance(value, dict):
        raise SnapshotError(f"account_summary must be an object or null, not {_kind(value)}")
    return value
