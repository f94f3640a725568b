"""The policy simulator, offline: IAM's SimulateCustomPolicy request in, its EvaluationResults out.

The request takes AWS's parameter names (the `--cli-input-json` of `aws iam simulate-custom-policy`) plus three
clearly named extensions: SessionPolicyInputList, ServiceControlPolicyLevels and ResourceControlPolicyLevels.
Every (action, resource) pair is evaluated twice by the evaluator:
- the AWS answer, where a context key the request does not give is absent (as AWS's simulator treats it), which
  fills AWS's own fields (EvalDecision, MatchedStatements, MissingContextValues, ...);
- the open answer, where such a key is unknown, which adds AegisConditionalDecision "allowed-if" and the
  conditions it depends on when the decision turns on keys nobody gave.
docs/simulate.md describes the format. Plain Python: the CLI and the API both call load_request and simulate.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from dataclasses import dataclass
from json.decoder import scanstring  # type: ignore[attr-defined]  # public in CPython, absent from typeshed
from typing import Any

from audits.iam import actions as ds
from audits.iam import arns
from audits.iam.conditions import Condition, Context, parse_date, principal_keys
from audits.iam.evaluator import (
    ALLOWED,
    CONDITIONAL,
    DENIED,
    CompiledStatement,
    Decision,
    Evaluator,
    Statements,
    Subject,
    rcp_governs,
)
from audits.iam.finding_types import StatementRef

MAX_INPUT_BYTES = 4 * 1024 * 1024  # a file for the CLI; the API takes far less (audits/simulate_api.py)
MAX_ACTIONS = 100
MAX_RESOURCES = 100
MAX_POLICIES = 50  # per list or level; AWS attaches at most 20 managed policies and 5 SCPs per target
MAX_CONTEXT_ENTRIES = 100
MAX_ITEMS = 1000  # AWS's upper bound for MaxItems

CONTEXT_KEY_TYPES = (
    "string",
    "stringList",
    "numeric",
    "numericList",
    "boolean",
    "booleanList",
    "ip",
    "ipList",
    "binary",
    "binaryList",
    "date",
    "dateList",
)
AWS_PARAMETERS = (
    "PolicyInputList",
    "PermissionsBoundaryPolicyInputList",
    "ActionNames",
    "ResourceArns",
    "ResourcePolicy",
    "ResourceOwner",
    "CallerArn",
    "ContextEntries",
    "ResourceHandlingOption",
    "MaxItems",
    "Marker",
)
EXTENSIONS = ("SessionPolicyInputList", "ServiceControlPolicyLevels", "ResourceControlPolicyLevels")
# What IAM accepts as an action name in the simulator: a service prefix and an operation, no wildcards.
_ACTION = re.compile(r"[a-zA-Z0-9-]+:[a-zA-Z0-9]+")
_ACCOUNT = re.compile(r"\d{12}")
_ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class SimulationError(ValueError):
    """A request the simulator cannot take; the message is one line naming the parameter."""


@dataclass(frozen=True)
class Policy:
    source: str  # AWS's SourcePolicyId: PolicyInputList.1, ResourcePolicy, ...
    policy_type: str  # AWS's SourcePolicyType
    text: str
    document: dict


@dataclass(frozen=True)
class Request:
    policies: tuple[Policy, ...]
    boundary: tuple[Policy, ...]
    session: tuple[Policy, ...]
    scp_levels: tuple[tuple[Policy, ...], ...]
    rcp_levels: tuple[tuple[Policy, ...], ...]
    resource_policy: Policy | None
    resource_owner: str  # an account id, or ""
    caller: tuple[str, str, str] | None  # (arn, account, "user" | "role"), None when CallerArn is not given
    caller_session: str  # CallerArn when it is a role session (the caller is then its role), else ""
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # ("*",) when ResourceArns is not given
    resources_given: bool
    context: dict[str, list[str]]
    max_items: int | None
    marker: int


# ---------------------------------------------------------------------------------------------------------------
# Reading the request


def load_request(raw: bytes | str) -> Request:
    """A request from its JSON text."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise SimulationError(f"the input is not valid JSON: {_first_line(exc)}") from None
    return parse_request(data)


def parse_request(data: Any) -> Request:
    if not isinstance(data, dict):
        raise SimulationError("the input must be a JSON object with SimulateCustomPolicy's parameters")
    unknown = [str(k) for k in data if k not in AWS_PARAMETERS and k not in EXTENSIONS]
    if unknown:
        raise SimulationError(f"unknown parameter {unknown[0]}; expected {', '.join(AWS_PARAMETERS + EXTENSIONS)}")
    policies = _policy_list(data, "PolicyInputList", "none", required=True)
    boundary = _policy_list(data, "PermissionsBoundaryPolicyInputList", "none")
    session = _policy_list(data, "SessionPolicyInputList", "none")
    scps = _levels(data, "ServiceControlPolicyLevels")
    rcps = _levels(data, "ResourceControlPolicyLevels")
    resource_policy = None
    if data.get("ResourcePolicy") is not None:
        resource_policy = _policy(data["ResourcePolicy"], "ResourcePolicy", "resource")
    caller = _caller(data.get("CallerArn"))
    if resource_policy is not None and caller is None:
        raise SimulationError("CallerArn is required with ResourcePolicy (its Principal element needs a caller)")
    actions = _strings(data, "ActionNames", MAX_ACTIONS, required=True)
    for action in actions:
        if not _ACTION.fullmatch(action):
            raise SimulationError(f"ActionNames: {action!r} is not an action name such as s3:GetObject (no wildcards)")
    resources = _strings(data, "ResourceArns", MAX_RESOURCES)
    for resource in resources:
        if resource != "*" and arns.parse(resource) is None:
            raise SimulationError(f"ResourceArns: {resource!r} is not an ARN (arn:partition:service:region:account:…)")
    max_items = data.get("MaxItems")
    if max_items is not None and (type(max_items) is not int or not 1 <= max_items <= MAX_ITEMS):
        raise SimulationError(f"MaxItems must be a whole number from 1 to {MAX_ITEMS}")
    marker = data.get("Marker")
    if marker is not None and not (isinstance(marker, str) and marker.isdigit()):
        raise SimulationError("Marker must be the Marker of a previous truncated answer")
    if data.get("ResourceHandlingOption") is not None and not isinstance(data["ResourceHandlingOption"], str):
        raise SimulationError("ResourceHandlingOption must be a string")
    return Request(
        policies=policies,
        boundary=boundary,
        session=session,
        scp_levels=scps,
        rcp_levels=rcps,
        resource_policy=resource_policy,
        resource_owner=_owner(data.get("ResourceOwner")),
        caller=caller,
        caller_session=_session(data.get("CallerArn"), caller),
        actions=actions,
        resources=resources or ("*",),
        resources_given=bool(resources),
        context=_context(data.get("ContextEntries")),
        max_items=max_items,
        marker=int(marker) if marker else 0,
    )


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _strings(data: dict, name: str, limit: int, *, required: bool = False) -> tuple[str, ...]:
    value = data.get(name)
    if value is None:
        if required:
            raise SimulationError(f"{name} is required")
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SimulationError(f"{name} must be a list of non-empty strings")
    if required and not value:
        raise SimulationError(f"{name} must not be empty")
    if len(value) > limit:
        raise SimulationError(f"{name} has {len(value)} entries; the limit is {limit}")
    return tuple(dict.fromkeys(v.strip() for v in value))


def _policy(value: Any, source: str, policy_type: str) -> Policy:
    if not isinstance(value, str):
        raise SimulationError(f"{source} must be a policy document as a JSON string, as AWS takes it")
    try:
        document = json.loads(value)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SimulationError(f"{source} is not valid JSON: {_first_line(exc)}") from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise SimulationError(f"{source} must be a policy document: a JSON object with a Statement")
    return Policy(source, policy_type, value, document)


def _policy_list(data: dict, name: str, policy_type: str, *, required: bool = False) -> tuple[Policy, ...]:
    value = data.get(name)
    if value is None:
        if required:
            raise SimulationError(f"{name} is required: a list of policy documents as JSON strings")
        return ()
    if not isinstance(value, list) or (required and not value):
        raise SimulationError(f"{name} must be a list of policy documents as JSON strings")
    if len(value) > MAX_POLICIES:
        raise SimulationError(f"{name} has {len(value)} policies; the limit is {MAX_POLICIES}")
    return tuple(_policy(text, f"{name}.{n}", policy_type) for n, text in enumerate(value, start=1))


def _levels(data: dict, name: str) -> tuple[tuple[Policy, ...], ...]:
    value = data.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(level, list) for level in value):
        raise SimulationError(
            f"{name} must be a list of levels (root first, the account last), each a list of policies"
        )
    if len(value) > MAX_POLICIES:
        raise SimulationError(f"{name} has {len(value)} levels; the limit is {MAX_POLICIES}")
    levels = []
    for number, level in enumerate(value, start=1):
        if len(level) > MAX_POLICIES:
            raise SimulationError(f"{name}.{number} has {len(level)} policies; the limit is {MAX_POLICIES}")
        levels.append(tuple(_policy(text, f"{name}.{number}.{n}", "none") for n, text in enumerate(level, start=1)))
    return tuple(levels)


def _caller(value: Any) -> tuple[str, str, str] | None:
    if value is None:
        return None
    parsed = arns.parse(value) if isinstance(value, str) else None
    if parsed is not None and _ACCOUNT.fullmatch(parsed.account):
        kind, _, rest = parsed.resource.partition("/")
        if parsed.service == "iam" and kind in ("user", "role") and rest:
            return value, parsed.account, kind
        if parsed.service == "sts" and kind == "assumed-role" and "/" in rest:
            # A role session is evaluated as its role (aws:PrincipalArn is the role's ARN).
            role = rest.split("/", 1)[0]
            return f"arn:{parsed.partition}:iam::{parsed.account}:role/{role}", parsed.account, "role"
    raise SimulationError("CallerArn must be the ARN of an IAM user or role (or a role session)")


def _session(value: Any, caller: tuple[str, str, str] | None) -> str:
    """The session's own ARN, which a resource policy may name instead of its role's."""
    if caller is None or caller[0] == value:
        return ""
    return str(value)


def _owner(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).strip()
    if _ACCOUNT.fullmatch(text):
        return text
    account = arns.account_of(text)
    if not _ACCOUNT.fullmatch(account):
        raise SimulationError("ResourceOwner must be an account ARN such as arn:aws:iam::123456789012:root")
    return account


def _context(value: Any) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise SimulationError("ContextEntries must be a list of {ContextKeyName, ContextKeyValues, ContextKeyType}")
    if len(value) > MAX_CONTEXT_ENTRIES:
        raise SimulationError(f"ContextEntries has {len(value)} entries; the limit is {MAX_CONTEXT_ENTRIES}")
    found: dict[str, list[str]] = {}
    for number, entry in enumerate(value, start=1):
        where = f"ContextEntries.{number}"
        if not isinstance(entry, dict):
            raise SimulationError(f"{where} must be an object with ContextKeyName, ContextKeyValues, ContextKeyType")
        name, values, kind = entry.get("ContextKeyName"), entry.get("ContextKeyValues"), entry.get("ContextKeyType")
        if not isinstance(name, str) or not 5 <= len(name.strip()) <= 256:
            raise SimulationError(f"{where}.ContextKeyName must be a key name such as aws:SourceIp")
        if kind not in CONTEXT_KEY_TYPES:
            raise SimulationError(f"{where}.ContextKeyType must be one of {', '.join(CONTEXT_KEY_TYPES)}")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SimulationError(f"{where}.ContextKeyValues must be a list of strings")
        found[name.strip().lower()] = [_typed(v, kind, f"{where} ({name})") for v in values]
    return found


def _typed(value: str, kind: str, where: str) -> str:
    """A context value checked against its ContextKeyType (booleans lowercased, as the evaluator compares them)."""
    base = kind.removesuffix("List")
    ok = True
    if base == "numeric":
        try:
            float(value)
        except ValueError:
            ok = False
    elif base == "boolean":
        ok = value.lower() in ("true", "false")
        value = value.lower()
    elif base == "ip":
        try:
            ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            ok = False
    elif base == "date":
        ok = parse_date(value) is not None
    elif base == "binary":
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            ok = False
    if not ok:
        raise SimulationError(f"{where}: {value!r} is not a valid {base} value")
    return value


# ---------------------------------------------------------------------------------------------------------------
# Evaluating


@dataclass(frozen=True, eq=False)
class _SimulatedContext(Context):
    """The simulator's context: only ContextEntries and, when CallerArn is given, the caller's own keys are known.
    With unknown_is_absent every other key is absent (AWS's simulator); otherwise it stays open."""

    caller_known: bool = True
    unknown_is_absent: bool = False

    def lookup(self, key: str, subject: Any = None, derived: Any = None) -> Any:
        if key in self.values:
            return self.values[key]
        if self.caller_known and subject is not None:
            own = derived if derived is not None else principal_keys(subject)
            if key in own:
                return own[key]
        return [] if self.unknown_is_absent else None


@dataclass
class _Compiled:
    identity: Statements
    boundary: Statements | None
    session: Statements | None
    scps: tuple[Statements, ...]
    rcps: tuple[Statements, ...]
    resource_policy: Statements | None
    policies: dict[str, Policy]  # source -> policy, for MatchedStatements


def _compile(request: Request, evaluator: Evaluator) -> _Compiled:
    def join(policies: tuple[Policy, ...], kind: str) -> Statements:
        return tuple(s for p in policies for s in evaluator.compile(p.document, p.source, kind=kind))

    everything = [
        *request.policies,
        *request.boundary,
        *request.session,
        *(p for level in request.scp_levels for p in level),
        *(p for level in request.rcp_levels for p in level),
    ]
    if request.resource_policy is not None:
        everything.append(request.resource_policy)
    return _Compiled(
        identity=join(request.policies, "identity"),
        boundary=join(request.boundary, "boundary") if request.boundary else None,
        session=join(request.session, "session") if request.session else None,
        scps=tuple(join(level, "scp") for level in request.scp_levels),
        rcps=tuple(join(level, "rcp") for level in request.rcp_levels),
        resource_policy=(
            evaluator.compile(request.resource_policy.document, "ResourcePolicy", kind="resource")
            if request.resource_policy is not None
            else None
        ),
        policies={p.source: p for p in everything},
    )


class _Simulation:
    def __init__(self, request: Request) -> None:
        self.request = request
        known = request.caller is not None
        # Two evaluators, so their caches (keyed on the context's values) never mix the two answers.
        self.aws = Evaluator()
        self.open = Evaluator()
        self.aws_context = _SimulatedContext(request.context, caller_known=known, unknown_is_absent=True)
        self.open_context = _SimulatedContext(request.context, caller_known=known)
        self.compiled = _compile(request, self.aws)
        self.allow_all = self.aws.compile(_ALLOW_ALL, "aegis:allow-all")
        self._subjects: dict[tuple[str, str], Subject] = {}
        self._spans: dict[str, list[tuple[int, int]]] = {}

    def subject(self, account: str, probe: str = "") -> Subject:
        """The caller (one per resource account when CallerArn is not given, so no request crosses accounts);
        a probe asks one limit alone: the boundary, or the organization's SCPs and RCPs."""
        key = (account, probe)
        found = self._subjects.get(key)
        if found is None:
            c, caller = self.compiled, self.request.caller
            arn, kind = (caller[0], caller[2]) if caller else (f"arn:aws:iam::{account}:user/simulated-caller", "user")
            whole = probe == ""
            found = self._subjects[key] = Subject(
                arn=arn,
                account=caller[1] if caller else account,
                type=kind,
                identity=c.identity if whole else self.allow_all,
                boundary=c.boundary if probe in ("", "boundary") else None,
                session=c.session if whole else None,
                session_arn=self.request.caller_session,
                scps=c.scps if probe in ("", "organizations") else (),
                rcps=c.rcps if probe in ("", "organizations") else (),
            )
        return found

    def owner(self, resource: str) -> str:
        """The resource's account: from its ARN, else ResourceOwner, else the caller's (AWS's defaults)."""
        account = arns.account_of(resource)
        if _ACCOUNT.fullmatch(account):
            return account
        caller = self.request.caller
        return self.request.resource_owner or (caller[1] if caller else "")

    def result(self, action: str, resource: str) -> dict[str, Any]:
        owner = self.owner(resource)
        subject = self.subject(owner)
        rp = self.compiled.resource_policy
        aws = self.aws.evaluate(subject, action, resource, self.aws_context, rp, owner or None)
        found = self.open.evaluate(subject, action, resource, self.open_context, rp, owner or None)
        decision = _aws_decision(aws)
        matched = self._matched(
            aws.allowing if decision == "allowed" else aws.denying if decision == "explicitDeny" else ()
        )
        missing = self._missing(subject, action, resource, owner)
        out: dict[str, Any] = {
            "EvalActionName": action,
            "EvalResourceName": resource,
            "EvalDecision": decision,
            "MatchedStatements": matched,
            "MissingContextValues": missing,
        }
        if self.compiled.scps or self.compiled.rcps:
            orgs = self.aws.evaluate(self.subject(owner, "organizations"), action, resource, self.aws_context)
            out["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": orgs.verdict == ALLOWED}
        boundary_detail = None
        if self.compiled.boundary is not None:
            bound = self.aws.evaluate(self.subject(owner, "boundary"), action, resource, self.aws_context)
            boundary_detail = {"AllowedByPermissionsBoundary": bound.verdict == ALLOWED}
            out["PermissionsBoundaryDecisionDetail"] = boundary_detail
        if self.request.resources_given:
            specific: dict[str, Any] = {
                "EvalResourceName": resource,
                "EvalResourceDecision": decision,
                "MatchedStatements": matched,
                "MissingContextValues": missing,
            }
            if boundary_detail is not None:
                specific["PermissionsBoundaryDecisionDetail"] = boundary_detail
            out["ResourceSpecificResults"] = [specific]
        out["AegisReason"] = aws.reason or found.reason or decision
        if found.verdict == CONDITIONAL:
            out["AegisConditionalDecision"] = "allowed-if"
            out["AegisOpenConditions"] = [_condition(c) for c in found.conditions]
        return out

    def _matched(self, refs: tuple[StatementRef, ...]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, int]] = set()
        for ref in refs:
            source, index = ref["policy"], ref["index"]
            policy = self.compiled.policies.get(source)
            if policy is None or (source, index) in seen:
                continue
            seen.add((source, index))
            spans = self._spans.get(source)
            if spans is None:
                spans = self._spans[source] = statement_spans(policy.text)
            item: dict[str, Any] = {"SourcePolicyId": source, "SourcePolicyType": policy.policy_type}
            if 0 < index <= len(spans):
                start, end = spans[index - 1]
                item["StartPosition"] = _position(policy.text, start)
                item["EndPosition"] = _position(policy.text, end)
            out.append(item)
        return out

    def _missing(self, subject: Subject, action: str, resource: str, owner: str) -> list[str]:
        """Context keys that the conditions (and policy variables) of the statements applying to this action and
        resource read, and that neither ContextEntries nor CallerArn gives."""
        asked = action.lower()
        resourceless = asked in ds.resourceless_actions()
        effective = "*" if resourceless else resource
        every = effective == "*" and not resourceless
        absent_here = ds.never_in_request(asked)
        derived = principal_keys(subject)

        def lookup(key: str) -> Any:
            # As the evaluator's request sees it: the resource's account, and keys the action never carries.
            if key not in self.open_context.values:
                if key == "aws:resourceaccount" and owner:
                    return [owner]
                if not key.startswith("aws:") and key in absent_here:
                    return []
            return self.open_context.lookup(key, subject, derived)

        c = self.compiled
        groups: list[tuple[Statements, bool]] = [(c.identity, False), (c.boundary or (), False)]
        groups += [(c.session or (), False), *((level, False) for level in c.scps)]
        if rcp_governs(asked):
            groups += [(level, False) for level in c.rcps]
        if c.resource_policy is not None:
            groups.append((c.resource_policy, True))
        found: dict[str, str] = {}
        for statements, principal in groups:
            for stmt in statements:
                if not _may_apply(stmt, asked, effective, every, subject, principal, lookup):
                    continue
                names = [(cond.key, cond.condition.key) for cond in stmt.conditions]
                for cond in stmt.conditions:
                    names += [(v, _as_written(v, cond.condition.values)) for v in sorted(cond.variables)]
                for r in stmt.resources:
                    if r.template is not None:
                        names += [(p[0], _as_written(p[0], (r.text,))) for p in r.template.parts if p[2]]
                for key, written in names:
                    if key not in found and lookup(key) is None:
                        found[key] = written
        return list(found.values())


def _as_written(key: str, texts: tuple[str, ...]) -> str:
    """A policy variable's key as the policy spells it (the compiled form keeps it lowercased)."""
    for text in texts:
        found = re.search(r"\$\{\s*(" + re.escape(key) + ")", text, re.IGNORECASE)
        if found:
            return found.group(1)
    return key


def _may_apply(
    stmt: CompiledStatement, action: str, resource: str, every: bool, subject: Subject, principal: bool, lookup: Any
) -> bool:
    if not stmt.matches_action(action):
        return False
    if principal and not stmt.not_principal and stmt.principal_match(subject) is None:
        return False
    return stmt.resource_match(resource, every, lookup) is not False


def _aws_decision(decision: Decision) -> str:
    if decision.verdict == ALLOWED:
        return "allowed"
    if decision.verdict == DENIED and decision.reason.startswith("explicit deny"):
        return "explicitDeny"
    return "implicitDeny"


def _condition(c: Condition) -> dict[str, Any]:
    return {"Operator": c.operator, "Key": c.key, "Values": list(c.values), "Negated": c.negated, "Text": c.describe()}


def work(request: Request) -> int:
    """The request's cost in the evaluator's units: (action, resource) pairs times the statements each reads.
    The API refuses requests above its budget; each unit costs a few microseconds."""
    policies = [*request.policies, *request.boundary, *request.session]
    policies += [p for level in (*request.scp_levels, *request.rcp_levels) for p in level]
    if request.resource_policy is not None:
        policies.append(request.resource_policy)
    statements = sum(_statement_count(p) for p in policies)
    return len(request.actions) * len(request.resources) * max(statements, 1)


def _statement_count(policy: Policy) -> int:
    found = policy.document.get("Statement")
    return len(found) if isinstance(found, list) else 1


def simulate(request: Request) -> dict[str, Any]:
    """AWS's response: {"EvaluationResults": [...], "IsTruncated": false} (and "Marker" when truncated)."""
    run = _Simulation(request)
    pairs = [(a, r) for a in request.actions for r in request.resources]
    start = min(request.marker, len(pairs))
    stop = len(pairs) if request.max_items is None else min(len(pairs), start + request.max_items)
    response: dict[str, Any] = {
        "EvaluationResults": [run.result(a, r) for a, r in pairs[start:stop]],
        "IsTruncated": stop < len(pairs),
    }
    if stop < len(pairs):
        response["Marker"] = str(stop)
    return response


# ---------------------------------------------------------------------------------------------------------------
# Where each statement sits in its policy's text (MatchedStatements' StartPosition and EndPosition)

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def statement_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each element of the document's Statement (end one past its last character), in the
    order the evaluator numbers them. The text is already known to be valid JSON."""
    i = _skip(text, 0)
    if text[i : i + 1] != "{":
        return []
    i = _skip(text, i + 1)
    found: list[tuple[int, int]] = []
    while text[i : i + 1] == '"':
        key, i = scanstring(text, i + 1)
        i = _skip(text, _skip(text, i) + 1)  # past the colon
        _, end = _DECODER.raw_decode(text, i)
        if key == "Statement":  # json.loads keeps the last of repeated keys, and so do we
            found = _elements(text, i, end)
        i = _skip(text, end)
        if text[i : i + 1] != ",":
            break
        i = _skip(text, i + 1)
    return found


def _elements(text: str, start: int, end: int) -> list[tuple[int, int]]:
    if text[start] == "{":
        return [(start, end)]
    if text[start] != "[":
        return []
    spans: list[tuple[int, int]] = []
    i = _skip(text, start + 1)
    while text[i] != "]":
        _, stop = _DECODER.raw_decode(text, i)
        spans.append((i, stop))
        i = _skip(text, stop)
        if text[i] == ",":
            i = _skip(text, i + 1)
    return spans


def _skip(text: str, i: int) -> int:
    match = _SPACE.match(text, i)
    return match.end() if match else i


def _position(text: str, offset: int) -> dict[str, int]:
    """Line and column, both from 1, as AWS counts them."""
    line_start = text.rfind("\n", 0, offset) + 1
    return {"Line": text.count("\n", 0, offset) + 1, "Column": offset - line_start + 1}


# ---------------------------------------------------------------------------------------------------------------
# A short table for people


def as_table(response: dict[str, Any]) -> str:
    rows = [("ACTION", "RESOURCE", "DECISION", "MATCHED", "MISSING / ALLOWED IF")]
    for r in response["EvaluationResults"]:
        matched = ", ".join(m["SourcePolicyId"] for m in r["MatchedStatements"]) or "-"
        extra = ""
        if r.get("AegisOpenConditions"):
            extra = "allowed if " + " and ".join(c["Text"] for c in r["AegisOpenConditions"])
        elif r["MissingContextValues"]:
            extra = "missing " + ", ".join(r["MissingContextValues"])
        rows.append((r["EvalActionName"], r["EvalResourceName"], r["EvalDecision"], matched, extra or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)), row[4]]) for row in rows]
    if response.get("IsTruncated"):
        lines.append(f"(truncated: pass Marker {response['Marker']} for the rest)")
    return "\n".join(line.rstrip() for line in lines) + "\n"
