#!/usr/bin/env python
"""Property-based fuzzing of snapshot input: the loader, the engine behind it, and the upload form.

Hypothesis generates hostile snapshots of four kinds - random bytes, random JSON, IAM-shaped JSON
built from AWS's own keys and values, and the demo account with random parts replaced, removed,
re-typed or turned into (URL-encoded) JSON strings - and hands them over as bytes, text or a dict.
Every case ends one of three ways:

  accepted     load_snapshot() returned a snapshot; it survives a to_dict() round trip and run_audit()
               with every framework completes, emitting JSON-storable events with monotonic progress;
  clear error  load_snapshot() raised SnapshotError with a short, one-line, plain message;
  crash        anything else: another exception, an unclear message, an engine failure on an accepted
               snapshot, or (--upload) a POST /audits/new that is neither a redirect nor a 400 showing
               the message beside the file field.

It prints the counts (crash must be 0), a few crash examples, and ends with ONE JSON line.

    .venv/bin/python bench/fuzz_snapshot.py                    # 10,000 loader+engine cases, 1,000 uploads
    .venv/bin/python bench/fuzz_snapshot.py --cases 2000 --uploads 200 --seed 7
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import re
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from audits.iam.events import EVENT_TYPES  # noqa: E402
from audits.iam.snapshot import DEMO_PATH, AccountSnapshot, SnapshotError, load_snapshot  # noqa: E402

ALL_FRAMEWORKS = ["cis", "pci_dss", "hipaa", "soc2", "nist_800_53"]
MAX_MESSAGE = 400
LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")

# --------------------------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------------------------

IAM_WORDS = [
    "*", "", " ", "Allow", "Deny", "allow", "s3:*", "s3:GetObject", "iam:*", "iam:PassRole", "iam:CreateAccessKey",
    "iam:AttachUserPolicy", "iam:PutRolePolicy", "sts:AssumeRole", "ec2:RunInstances", "lambda:CreateFunction",
    "kms:Decrypt", "*:*", "iam:Get*", "NotAction", "arn:aws:iam::123456789012:root",
    "arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:role/Admin",
    "arn:aws:iam::123456789012:policy/p", "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:s3:::bucket/*", "arn:", "arn:aws:iam::12:user/x",
    "arn:aws-cn:iam::210987654321:role/r", "2012-10-17", "2026-01-01T00:00:00Z", "2026-13-45T99:99:99Z", "N/A",
    "no_information", "not_supported", "true", "false", "TRUE", "123456789012", "000000000000", "ec2.amazonaws.com",
    "lambda.amazonaws.com", "cognito-identity.amazonaws.com", "accounts.google.com", "aws:MultiFactorAuthPresent",
    "aws:SourceIp", "sts:ExternalId", "Bool", "StringEquals", "StringLike", "Null", "IpAddress", "/", "/a/b/",
    "\u0000", "\ud7ff", "é", "%7B%22Statement%22%3A%5B%5D%7D", "{", "{}", "[]", "null", "user,arn",
]  # fmt: skip

IAM_KEYS = [
    "Arn", "UserName", "GroupName", "RoleName", "PolicyName", "Path", "UserId", "RoleId", "GroupId", "PolicyId",
    "CreateDate", "UserPolicyList", "GroupPolicyList", "RolePolicyList", "PolicyVersionList", "GroupList",
    "AttachedManagedPolicies", "AssumeRolePolicyDocument", "InstanceProfileList", "RoleLastUsed", "Tags",
    "PermissionsBoundary", "DefaultVersionId", "IsDefaultVersion", "VersionId", "Document", "PolicyDocument",
    "PolicyArn", "Statement", "Version", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal",
    "NotPrincipal", "Condition", "Sid", "AWS", "Service", "Federated", "LastUsedDate", "Region", "AttachmentCount",
    "IsAttachable", "UpdateDate", "PermissionsBoundaryArn", "PermissionsBoundaryType",
]  # fmt: skip

BUNDLE_KEYS = ["format", "version", "account_id", "source", "collected_at", "credential_report", "password_policy",
               "password_policy_known", "account_summary", "authorization_details"]  # fmt: skip

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=24),
    st.sampled_from(IAM_WORDS),
)
keys = st.one_of(st.sampled_from(IAM_KEYS + BUNDLE_KEYS + list(LISTS)), st.text(max_size=12))
json_values = st.recursive(
    leaves,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=6)),
    max_leaves=30,
)


@st.composite
def statements(draw) -> dict:
    statement = {}
    for key in draw(
        st.lists(
            st.sampled_from(
                [
                    "Sid",
                    "Effect",
                    "Action",
                    "NotAction",
                    "Resource",
                    "NotResource",
                    "Principal",
                    "NotPrincipal",
                    "Condition",
                ]
            ),
            max_size=6,
            unique=True,
        )
    ):
        if key in ("Action", "NotAction", "Resource", "NotResource"):
            statement[key] = draw(
                st.one_of(st.sampled_from(IAM_WORDS), st.lists(st.sampled_from(IAM_WORDS), max_size=4), json_values)
            )
        elif key in ("Principal", "NotPrincipal"):
            statement[key] = draw(st.one_of(
                st.just("*"),
                st.dictionaries(st.sampled_from(["AWS", "Service", "Federated", "CanonicalUser", "x"]),
                                st.one_of(st.sampled_from(IAM_WORDS), st.lists(st.sampled_from(IAM_WORDS),
                                                                               max_size=3)), max_size=3),
                json_values,
            ))  # fmt: skip
        elif key == "Condition":
            statement[key] = draw(st.one_of(
                st.dictionaries(st.sampled_from(["Bool", "StringEquals", "StringLike", "Null", "IpAddress", "Foo"]),
                                st.dictionaries(st.sampled_from(IAM_WORDS), st.one_of(
                                    st.sampled_from(IAM_WORDS), st.lists(st.sampled_from(IAM_WORDS), max_size=2),
                                    json_values), max_size=2), max_size=2),
                json_values,
            ))  # fmt: skip
        else:
            statement[key] = draw(st.one_of(st.sampled_from(IAM_WORDS), json_values))
    return statement


@st.composite
def documents(draw):
    doc = {"Version": draw(st.sampled_from(["2012-10-17", "2008-10-17", "", 1]))}
    doc["Statement"] = draw(st.one_of(st.lists(statements(), max_size=3), statements(), json_values))
    form = draw(st.sampled_from(["dict", "dict", "json", "urlencoded", "garbage"]))
    if form == "json":
        return json.dumps(doc)
    if form == "urlencoded":
        return quote(json.dumps(doc))
    if form == "garbage":
        return draw(json_values)
    return doc


@st.composite
def entries(draw, list_key: str) -> dict:
    kind = {"UserDetailList": "user", "GroupDetailList": "group", "RoleDetailList": "role", "Policies": "policy"}
    name = draw(st.one_of(st.sampled_from(["alice", "Admin", "ci-deploy", "x", ""]), st.text(max_size=10)))
    account = draw(st.sampled_from(["123456789012", "210987654321", "aws", ""]))
    entry: dict = {"Arn": draw(st.one_of(st.just(f"arn:aws:iam::{account}:{kind[list_key]}/{name}"),
                                         st.sampled_from(IAM_WORDS), json_values))}  # fmt: skip
    name_key = {"UserDetailList": "UserName", "GroupDetailList": "GroupName", "RoleDetailList": "RoleName",
                "Policies": "PolicyName"}[list_key]  # fmt: skip
    if draw(st.booleans()):
        entry[name_key] = draw(st.one_of(st.just(name), json_values))
    if list_key == "Policies":
        entry["PolicyVersionList"] = draw(st.one_of(
            st.lists(st.fixed_dictionaries({"Document": documents(), "IsDefaultVersion": st.one_of(st.booleans(),
                     json_values), "VersionId": st.sampled_from(["v1", "v2", 3])}), max_size=2),
            json_values,
        ))  # fmt: skip
        if draw(st.booleans()):
            entry["DefaultVersionId"] = draw(st.sampled_from(["v1", "v2", None, 5]))
        if draw(st.booleans()):
            entry["AttachmentCount"] = draw(st.one_of(st.integers(-1, 5), json_values))
    else:
        inline = {"UserDetailList": "UserPolicyList", "GroupDetailList": "GroupPolicyList",
                  "RoleDetailList": "RolePolicyList"}[list_key]  # fmt: skip
        entry[inline] = draw(st.one_of(
            st.lists(st.fixed_dictionaries({"PolicyName": st.sampled_from(["inline", "", 7]),
                                            "PolicyDocument": documents()}), max_size=2),
            json_values,
        ))  # fmt: skip
        entry["AttachedManagedPolicies"] = draw(st.one_of(
            st.lists(st.fixed_dictionaries({"PolicyName": st.sampled_from(["AdministratorAccess", "p", 1]),
                                            "PolicyArn": st.sampled_from(IAM_WORDS)}), max_size=3),
            json_values,
        ))  # fmt: skip
    if list_key == "UserDetailList" and draw(st.booleans()):
        entry["GroupList"] = draw(st.one_of(st.lists(st.sampled_from(["Admins", "dev", ""]), max_size=3),
                                            json_values))  # fmt: skip
    if list_key == "RoleDetailList" and draw(st.booleans()):
        entry["AssumeRolePolicyDocument"] = draw(documents())
    if list_key == "RoleDetailList" and draw(st.booleans()):
        entry["RoleLastUsed"] = draw(st.one_of(st.fixed_dictionaries({"LastUsedDate": st.sampled_from(IAM_WORDS)}),
                                               json_values))  # fmt: skip
    for extra in draw(st.lists(st.sampled_from(IAM_KEYS), max_size=3, unique=True)):
        entry.setdefault(extra, draw(json_values))
    return entry


credential_reports = st.one_of(
    st.none(),
    st.sampled_from([
        "user,arn\nalice,arn:aws:iam::123456789012:user/alice\n",
        "user,arn,password_enabled,mfa_active,access_key_1_active,access_key_1_last_rotated\n"
        "<root_account>,arn:aws:iam::123456789012:root,not_supported,false,true,N/A\n"
        "alice,arn:aws:iam::123456789012:user/alice,true,false,true,2020-01-01T00:00:00+00:00\n",
        "dXNlcixhcm4KYWxpY2UsYXJuOmF3czppYW06OjEyMzQ1Njc4OTAxMjp1c2VyL2FsaWNlCg==",
        "user,arn\n\"unterminated,x\n", "not a report", "", "user,arn,mfa_active\nbob",
    ]),
    st.fixed_dictionaries({"Content": st.one_of(st.text(max_size=60), json_values)}),
    st.lists(st.dictionaries(st.sampled_from(["user", "arn", "mfa_active", "password_enabled",
                                              "access_key_1_active", "access_key_1_last_rotated",
                                              "password_last_used", "x"]),
                             st.one_of(st.sampled_from(IAM_WORDS), json_values), max_size=6), max_size=3),
    json_values,
)  # fmt: skip

password_policies = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["MinimumPasswordLength", "RequireSymbols", "RequireNumbers",
                                     "MaxPasswordAge", "PasswordReusePrevention", "ExpirePasswords", "HardExpiry",
                                     "RequireUppercaseCharacters", "RequireLowercaseCharacters"]),
                    st.one_of(st.integers(-5, 200), st.booleans(), json_values), max_size=6),
    st.fixed_dictionaries({"PasswordPolicy": json_values}),
    json_values,
)  # fmt: skip

account_summaries = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["AccountMFAEnabled", "AccountAccessKeysPresent", "Users", "x"]),
                    st.one_of(st.integers(-1, 3), json_values), max_size=3),
    st.fixed_dictionaries({"SummaryMap": json_values}),
    json_values,
)  # fmt: skip


@st.composite
def shaped_snapshots(draw) -> dict:
    details = {key: draw(st.lists(entries(key), max_size=3)) for key in LISTS}
    for key in draw(st.lists(st.sampled_from(LISTS), max_size=1)):
        details[key] = draw(json_values)  # a list that is not a list
    if draw(st.integers(0, 9)) == 0:
        details.pop(draw(st.sampled_from(LISTS)))
    if draw(st.booleans()):
        details["IsTruncated"] = draw(st.one_of(st.booleans(), json_values))
    if draw(st.booleans()):
        return details  # the raw `get-account-authorization-details` shape
    bundle = {"authorization_details": details}
    for key, strategy in (("credential_report", credential_reports), ("password_policy", password_policies),
                          ("account_summary", account_summaries),
                          ("account_id", st.one_of(st.sampled_from(["123456789012", "", "12", 123456789012]),
                                                   json_values)),
                          ("collected_at", st.one_of(st.sampled_from(IAM_WORDS), json_values)),
                          ("format", st.sampled_from(["aegis-iam-snapshot", "other", 1])),
                          ("source", st.sampled_from(["demo", "snapshot", "live", "x", None])),
                          ("password_policy_known", st.one_of(st.booleans(), json_values))):  # fmt: skip
        if draw(st.booleans()):
            bundle[key] = draw(strategy)
    return bundle


_DEMO = json.loads(DEMO_PATH.read_bytes())


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*prefix, index))


@st.composite
def mutated_demo(draw) -> dict:
    """A few entries of the demo account (sometimes all of it), then 1-4 random edits anywhere inside."""
    bundle = copy.deepcopy(_DEMO)
    details = bundle["authorization_details"]
    if draw(st.integers(0, 19)) != 0:
        for key in LISTS:
            items = details[key]
            keep = draw(st.lists(st.integers(0, len(items) - 1), max_size=3, unique=True))
            details[key] = [items[i] for i in sorted(keep)]
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(bundle))
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = bundle
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        operation = draw(st.sampled_from(["replace", "replace", "delete", "stringify", "urlencode", "wrap", "add"]))
        if operation == "replace":
            parent[last] = draw(json_values)
        elif operation == "delete":
            if isinstance(parent, dict):
                del parent[last]
            else:
                parent.pop(last)
        elif operation == "stringify":
            parent[last] = json.dumps(parent[last])
        elif operation == "urlencode":
            parent[last] = quote(json.dumps(parent[last]))
        elif operation == "wrap":
            parent[last] = [parent[last]]
        elif isinstance(parent[last], dict):
            parent[last][draw(keys)] = draw(json_values)
        elif isinstance(parent[last], list):
            parent[last].append(draw(json_values))
    return bundle


@st.composite
def encoded(draw, values) -> bytes | str | dict:
    """The same snapshot as the loader may receive it: a dict, JSON text, or JSON bytes (maybe with a BOM)."""
    value = draw(values)
    form = draw(st.sampled_from(["dict", "bytes", "bytes", "text", "bom", "truncated"]))
    if form == "dict" and isinstance(value, dict):
        return value
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    if form == "text":
        return text
    if form == "bom":
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    if form == "truncated":
        return text.encode("utf-8", "surrogatepass")[: draw(st.integers(0, max(0, len(text) - 1)))]
    return text.encode("utf-8", "surrogatepass")


snapshot_inputs = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=80),
    encoded(json_values),
    encoded(shaped_snapshots()),
    encoded(shaped_snapshots()),
    encoded(mutated_demo()),
    encoded(mutated_demo()),
    encoded(mutated_demo()),
)

# --------------------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------------------


def unclear(message: str) -> str | None:
    """Why a SnapshotError message would not help a user, or None when it is clear."""
    if not message.strip():
        return "empty message"
    if len(message) > MAX_MESSAGE:
        return f"message longer than {MAX_MESSAGE} characters"
    if "\n" in message or "Traceback" in message:
        return "multi-line message"
    if message.startswith(("'", '"', "<")) or "object has no attribute" in message or "NoneType" in message:
        return "a Python error text, not a message"
    return None


def where(exc: BaseException) -> str:
    """file:line (function) of the innermost frame in the project, for the crash report."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if str(ROOT) in f.filename]
    frame = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    return (
        f"{Path(frame.filename).relative_to(ROOT) if str(ROOT) in frame.filename else frame.filename}:"
        f"{frame.lineno} in {frame.name}"
    )


def _storable(payload: dict) -> bool:
    """What the recorder stores must be strict JSON (PostgreSQL's jsonb rejects NaN and Infinity)."""
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def check_engine(snapshot) -> str | None:
    """None when run_audit completes cleanly on the snapshot; otherwise what went wrong."""
    from audits.iam import run_audit

    problems: list[str] = []
    last = [-1]

    def emit(type_: str, message: str, progress: int, payload: dict) -> None:
        if type_ not in EVENT_TYPES:
            problems.append(f"unknown event type {type_!r}")
        if not isinstance(message, str) or not isinstance(progress, int) or not 0 <= progress <= 100:
            problems.append(f"bad event {type_!r}: message {type(message).__name__}, progress {progress!r}")
        elif progress < last[0]:
            problems.append(f"progress went back from {last[0]} to {progress}")
        last[0] = max(last[0], progress if isinstance(progress, int) else last[0])
        if not _storable(payload):
            problems.append(f"{type_} event payload is not strict JSON")

    try:
        outcome = run_audit(snapshot, emit, frameworks=ALL_FRAMEWORKS)
    except Exception as exc:
        return f"run_audit raised {type(exc).__name__}: {str(exc)[:200]} ({where(exc)})"
    if outcome.status != "completed":
        problems.append(f"outcome {outcome.status}")
    elif not 0 <= (outcome.result or {}).get("risk_score", -1) <= 100:
        problems.append("risk score out of range")
    return problems[0] if problems else None


def classify(value, *, engine: bool = True) -> tuple[str, str]:
    """("accepted" | "error" | "crash", detail) for one loader input."""
    try:
        snapshot = load_snapshot(value)
    except SnapshotError as exc:
        reason = unclear(str(exc))
        return ("crash", f"unclear SnapshotError ({reason}): {str(exc)[:200]!r}") if reason else ("error", str(exc))
    except Exception as exc:
        return "crash", f"load_snapshot raised {type(exc).__name__}: {str(exc)[:200]} ({where(exc)})"
    try:
        again = load_snapshot(snapshot.to_dict())
    except Exception as exc:
        return "crash", f"to_dict() round trip raised {type(exc).__name__}: {str(exc)[:200]}"
    if again.to_dict() != snapshot.to_dict() and not _has_nan(snapshot.to_dict()):
        return "crash", "to_dict() round trip changed the snapshot"
    if not _storable(snapshot.to_dict()):
        return "crash", "accepted snapshot is not strict JSON (the portal stores it in a JSON column)"
    if engine:
        problem = check_engine(snapshot)
        if problem:
            return "crash", problem
    return "accepted", ""


def _has_nan(value) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


def upload_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode("utf-8", "surrogatepass")


def upload_field_name() -> str:
    """The new-audit form's file field (`snapshot`, or `snapshot_file` in older forms)."""
    from django import forms

    from audits.forms import NewAuditForm

    names = [name for name, field in NewAuditForm.base_fields.items() if isinstance(field, forms.FileField)]
    if not names:
        raise RuntimeError("the new-audit form has no file field")
    return "snapshot" if "snapshot" in names else names[0]


FILE_FIELD_MESSAGES = ("The submitted file is empty.", "The file is empty", "No file was submitted.")


def classify_upload(client, content: bytes, field: str, name: str = "snapshot.json") -> tuple[str, str]:
    """POST /audits/new with the file: a redirect to the new run, or a 400 naming the problem beside the field."""
    import html

    from django.core.files.uploadedfile import SimpleUploadedFile

    from audits.models import AuditRun

    before = AuditRun.objects.count()
    upload = SimpleUploadedFile(name, content, content_type="application/json")
    try:
        response = client.post("/audits/new", {"source": "snapshot", "frameworks": ["cis"], field: upload})
    except Exception as exc:
        return "crash", f"POST /audits/new raised {type(exc).__name__}: {str(exc)[:200]}"
    if response.status_code == 302:
        if AuditRun.objects.count() != before + 1 or not response["Location"].startswith("/audits/"):
            return "crash", f"302 to {response['Location']} without a new run"
        return "accepted", ""
    if response.status_code != 400:
        return "crash", f"POST /audits/new answered {response.status_code}"
    expected: AccountSnapshot | str
    try:
        expected = load_snapshot(content)
    except SnapshotError as exc:
        expected = str(exc)
    except Exception as exc:
        return "crash", f"load_snapshot raised {type(exc).__name__}"
    page = html.unescape(response.content.decode())
    # Django's own FileField checks come first (an empty file, no file); their messages are clear too.
    for message in FILE_FIELD_MESSAGES:
        if message in page:
            return "error", message
    if not isinstance(expected, str):
        shown = re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', page, re.S)
        return "crash", f"a loadable snapshot was refused with a 400: {' | '.join(shown)[:200]!r}"
    if expected not in page:
        return "crash", f"the 400 page does not show the loader's message {expected[:120]!r}"
    return "error", expected


# --------------------------------------------------------------------------------------------------------------
# The program
# --------------------------------------------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.crashes: list[tuple[str, str]] = []
        self.messages: Counter = Counter()
        self.kinds: Counter = Counter()

    def add(self, outcome: str, detail: str, case) -> None:
        self.counts[outcome] += 1
        if outcome == "crash":
            self.kinds[re.sub(r"'[^']*'", "'…'", detail)[:160]] += 1
            if len(self.crashes) < 20:
                self.crashes.append((detail, repr(case)[:300]))
        elif outcome == "error":
            self.messages[detail.split(":")[0][:60]] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def drive(strategy, check, target: int, tally: Tally, first_seed: int, batch: int = 2000) -> None:
    """Run `check` on generated cases until `target` have been counted (Hypothesis may stop a batch early)."""
    round_ = 0
    while tally.total < target and round_ < 50:
        want = min(batch, target - tally.total)

        @seed(first_seed + round_)
        @settings(max_examples=want, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(strategy)
        def body(case) -> None:
            if tally.total >= target:
                return
            outcome, detail = check(case)
            tally.add(outcome, detail, case)

        body()
        round_ += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000, help="loader + engine cases")
    parser.add_argument("--uploads", type=int, default=1_000, help="cases sent through POST /audits/new")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    first_seed = args.seed if args.seed is not None else random.randrange(1 << 30)

    started = time.monotonic()
    loader = Tally()
    drive(snapshot_inputs, classify, args.cases, loader, first_seed)
    loader_s = time.monotonic() - started

    uploads = Tally()
    upload_s = 0.0
    if args.uploads:
        from bench._harness import Stack, make_users

        stack = Stack("sqlite", env={"AEGIS_MAX_ACTIVE_RUNS": "1000000", "ALLOWED_HOSTS": "testserver"})
        try:
            stack.prepare()
            from django.test import Client

            client = Client()
            user, _ = make_users(1, prefix="fuzz")[0]
            client.force_login(user)
            field = upload_field_name()
            started = time.monotonic()
            drive(snapshot_inputs, lambda case: classify_upload(client, upload_bytes(case), field), args.uploads,
                  uploads, first_seed + 1000)  # fmt: skip
            upload_s = time.monotonic() - started
        finally:
            stack.close()

    crashes = loader.counts["crash"] + uploads.counts["crash"]
    print(f"snapshot fuzz (seed {first_seed})")
    print(f"  loader + engine  {loader.total} cases in {loader_s:.0f} s: accepted {loader.counts['accepted']}, "
          f"clear error {loader.counts['error']}, crash {loader.counts['crash']}")  # fmt: skip
    if args.uploads:
        print(f"  POST /audits/new {uploads.total} cases in {upload_s:.0f} s: accepted {uploads.counts['accepted']}, "
              f"clear error {uploads.counts['error']}, crash {uploads.counts['crash']}")  # fmt: skip
    print("  most common errors: " + "; ".join(f"{m} ({n})" for m, n in loader.messages.most_common(6)))
    for kind, n in (loader.kinds + uploads.kinds).most_common():
        print(f"  CRASH x{n}: {kind}")
    for detail, case in (loader.crashes + uploads.crashes)[:5]:
        print(f"  e.g. {detail}\n        input {case}")
    print("  PASS" if crashes == 0 else "  FAIL")
    print(json.dumps({
        "bench": "fuzz_snapshot", "seed": first_seed, "cases": loader.total,
        "accepted": loader.counts["accepted"], "clear_error": loader.counts["error"], "crash": loader.counts["crash"],
        "upload_cases": uploads.total, "upload_accepted": uploads.counts["accepted"],
        "upload_clear_error": uploads.counts["error"], "upload_crash": uploads.counts["crash"],
        "seconds": round(loader_s + upload_s, 1), "pass": crashes == 0,
    }), flush=True)  # fmt: skip
    return 0 if crashes == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
