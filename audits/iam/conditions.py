"""Condition blocks compiled to small three-valued predicates over what the audit knows about a request.

Semantics follow the IAM User Guide ("IAM JSON policy elements: Condition operators", "Single-valued vs.
multivalued context keys", "IAM policy elements: Variables and tags"):
- several values for one key are ORed; several keys, and several operators, are ANDed;
- key names are case-insensitive, values case-sensitive except for the ...IgnoreCase operators (and Bool);
- a key absent from the request makes a condition false, except for the negated operators (StringNot..., ArnNot...,
  NotIpAddress, NumericNotEquals, DateNotEquals), which are then true, `...IfExists`, which is then true, and Null;
- `ForAnyValue:` is false on an absent or empty key, `ForAllValues:` true on one;
- policy variables `${key}`, `${key, 'default'}` and the escapes `${*}`, `${?}`, `${$}` in condition values.

A key whose value the audit does not know evaluates to OPEN (None), never silently to true or false: the caller
carries the condition into its decision. A condition that mixes a known-false part with open parts is false.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from audits.iam import arns, wildcard

if TYPE_CHECKING:
    import ipaddress  # imported where an IpAddress condition is evaluated: most audits never meet one

Tri = bool | None  # True, False, or None for "open: depends on something the audit does not know"


@dataclass(frozen=True)
class Condition:
    """One condition a decision depends on, as written in the policy."""

    operator: str
    key: str
    values: tuple[str, ...]
    negated: bool = False  # from a Deny (or a limit): the request is allowed only when this does NOT hold

    def describe(self) -> str:
        return describe(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "key": self.key,
            "values": list(self.values),
            "negated": self.negated,
            "text": self.describe(),
        }

    def negate(self) -> Condition:
        return Condition(self.operator, self.key, self.values, not self.negated)


class Range(NamedTuple):
    """A date key whose exact value is unknown but bounded (aws:TokenIssueTime: issued before now, and no
    credentials live longer than 36 hours)."""

    low: datetime
    high: datetime
    maybe_absent: bool


Known = list[str] | Range | None  # values ([] = known to be absent), a bounded date, or None = unknown
Lookup = Callable[[str], Known]

# Temporary credentials last at most 36 hours (GetSessionToken; role sessions at most 12), so a token in use now
# was issued within that window: "aws:TokenIssueTime DateLessThan 2020-01-01" can never hold today.
TOKEN_LIFETIME = timedelta(hours=36)


def _norm_values(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list | tuple | set | frozenset) else [value]
    return [_text(v) for v in items]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


PRINCIPAL_KEYS = frozenset(
    {
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principaltype",
        "aws:username",
        "aws:userid",
        "aws:principalisawsservice",
        "aws:principalservicename",
        "aws:tokenissuetime",
    }
)


def is_principal_key(key: str) -> bool:
    """Keys whose value comes from the principal: a statement reading one decides differently per principal."""
    return key in PRINCIPAL_KEYS or key.startswith("aws:principaltag/")


def principal_keys(subject: Any) -> dict[str, list[str]]:
    """The request keys a principal's own record determines (lowercased names). Absent ones map to []."""
    kind = getattr(subject, "type", "user")
    arn = getattr(subject, "arn", "")
    out: dict[str, list[str]] = {}
    tags = getattr(subject, "tags", None) or {}
    if kind in ("user", "role"):
        out["aws:principalarn"] = [arn]
        out["aws:principalaccount"] = [getattr(subject, "account", "") or arns.account_of(arn)]
        out["aws:principaltype"] = ["User" if kind == "user" else "AssumedRole"]
        out["aws:principalisawsservice"] = ["false"]
        out["aws:principalservicename"] = []
        # aws:username exists only for IAM users; a role session's aws:userid is "<role id>:<session name>",
        # and the session name is the caller's choice, so it stays unknown.
        out["aws:username"] = [getattr(subject, "name", "")] if kind == "user" else []
        userid = getattr(subject, "userid", "") or ""
        if kind == "user" and userid:
            out["aws:userid"] = [userid]
    elif kind == "service":
        out["aws:principalisawsservice"] = ["true"]
        out["aws:principalservicename"] = [arn]
        out["aws:username"] = []
    for tag_key, tag_value in tags.items():
        out[f"aws:principaltag/{str(tag_key).lower()}"] = [str(tag_value)]
    return out


@dataclass(frozen=True, eq=False)
class Context:
    """What the audit knows about a request: key -> values (lowercased names; [] = known to be absent), and the
    audit's time. Keys not given and not derived from the principal stay open."""

    # Given as a value, a list of values or None (known to be absent); __post_init__ makes each a list of str.
    values: Mapping[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    cache_key: tuple = field(init=False, repr=False)
    shared_key: tuple = field(init=False, repr=False)  # without the principal's own keys (see is_principal_key)

    def __post_init__(self) -> None:
        norm = {str(k).lower(): _norm_values(v) for k, v in self.values.items()}
        now = self.now if self.now.tzinfo else self.now.replace(tzinfo=UTC)
        object.__setattr__(self, "values", norm)
        object.__setattr__(self, "now", now)
        items = tuple(sorted((k, tuple(v)) for k, v in norm.items()))
        object.__setattr__(self, "cache_key", (items, now.timestamp()))
        object.__setattr__(self, "shared_key", (tuple(i for i in items if not is_principal_key(i[0])), now.timestamp()))

    @classmethod
    def for_subject(cls, subject: Any, now: datetime | None = None, **extra: Any) -> Context:
        """Principal keys from the subject, plus per-question ones: Context.for_subject(s, now,
        **{"iam:PassedToService": "lambda.amazonaws.com"}); a value None means known to be absent."""
        values: dict[str, Any] = dict(principal_keys(subject))
        values.update({k.lower(): v for k, v in extra.items()})
        return cls(values, now or datetime.now(UTC))

    def with_values(self, **extra: Any) -> Context:
        merged: dict[str, Any] = dict(self.values)
        merged.update({k.lower(): v for k, v in extra.items()})
        return Context(merged, self.now)

    def lookup(self, key: str, subject: Any = None, derived: Mapping[str, list[str]] | None = None) -> Known:
        if key in self.values:
            return self.values[key]
        if derived is None and subject is not None:
            derived = principal_keys(subject)
        if derived is not None and key in derived:
            return derived[key]
        if key == "aws:currenttime":
            return [self.now.strftime("%Y-%m-%dT%H:%M:%SZ")]
        if key == "aws:epochtime":
            return [str(int(self.now.timestamp()))]
        if key == "aws:tokenissuetime" and subject is not None:
            kind = getattr(subject, "type", "user")
            if kind in ("user", "role"):
                # Role sessions always carry it; a user only with temporary credentials (GetSessionToken).
                return Range(self.now - TOKEN_LIFETIME, self.now, maybe_absent=kind == "user")
        if (
            key.startswith("aws:principaltag/")
            and derived is not None
            and subject is not None
            and getattr(subject, "tags", None) is not None
        ):
            return []  # the snapshot lists the principal's tags: a tag not there is absent
        return None


# ---------------------------------------------------------------------------------------------------------------
# Operators


class _Op(NamedTuple):
    family: str  # string, numeric, date, bool, binary, ip, arn, null
    compare: str  # eq, ieq, like, lt, le, gt, ge, in
    negated: bool


_BASE: dict[str, _Op] = {
    "stringequals": _Op("string", "eq", False),
    "stringnotequals": _Op("string", "eq", True),
    "stringequalsignorecase": _Op("string", "ieq", False),
    "stringnotequalsignorecase": _Op("string", "ieq", True),
    "stringlike": _Op("string", "like", False),
    "stringnotlike": _Op("string", "like", True),
    "numericequals": _Op("numeric", "eq", False),
    "numericnotequals": _Op("numeric", "eq", True),
    "numericlessthan": _Op("numeric", "lt", False),
    "numericlessthanequals": _Op("numeric", "le", False),
    "numericgreaterthan": _Op("numeric", "gt", False),
    "numericgreaterthanequals": _Op("numeric", "ge", False),
    "dateequals": _Op("date", "eq", False),
    "datenotequals": _Op("date", "eq", True),
    "datelessthan": _Op("date", "lt", False),
    "datelessthanequals": _Op("date", "le", False),
    "dategreaterthan": _Op("date", "gt", False),
    "dategreaterthanequals": _Op("date", "ge", False),
    "bool": _Op("bool", "eq", False),
    "binaryequals": _Op("binary", "eq", False),
    "ipaddress": _Op("ip", "in", False),
    "notipaddress": _Op("ip", "in", True),
    "arnequals": _Op("arn", "like", False),
    "arnlike": _Op("arn", "like", False),
    "arnnotequals": _Op("arn", "like", True),
    "arnnotlike": _Op("arn", "like", True),
    "null": _Op("null", "eq", False),
}


class Operator(NamedTuple):
    written: str
    set_op: str  # "", "forallvalues", "foranyvalue"
    base: _Op | None  # None: an operator IAM does not know
    if_exists: bool


@lru_cache(maxsize=1024)
def parse_operator(written: str) -> Operator:
    text = written.strip()
    set_op, sep, rest = text.partition(":")
    if not sep:
        set_op, rest = "", text
    set_op = set_op.lower()
    if set_op not in ("", "forallvalues", "foranyvalue"):
        return Operator(written, "", None, False)
    name = rest.lower()
    if_exists = name.endswith("ifexists") and name != "null"
    if if_exists:
        name = name[: -len("ifexists")]
    base = _BASE.get(name)
    if base is not None and base.family == "null" and if_exists:
        base = None  # NullIfExists is not an operator
    return Operator(written, set_op, base, if_exists)


# ---------------------------------------------------------------------------------------------------------------
# Policy variables

_VAR = re.compile(r"\$\{([^}]*)\}")
_VAR_BODY = re.compile(r"\s*([^,\s']+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}

Pieces = tuple[tuple[str, bool], ...]  # see arns.Piece
ABSENT = object()  # a variable with no value and no default: the value can never match


class Template(NamedTuple):
    """A policy value with policy variables: literal text pieces and variables (key, default or None)."""

    parts: tuple[tuple[str, str | None, bool], ...]  # (text or key, default, is_variable)
    text: str


@lru_cache(maxsize=16384)
def template(text: str) -> Template | None:
    """Parse `${...}` in a value; None when the value holds no policy variable at all."""
    if "${" not in text:
        return None
    parts: list[tuple[str, str | None, bool]] = []
    pos = 0
    for m in _VAR.finditer(text):
        if m.start() > pos:
            parts.append((text[pos : m.start()], None, False))
        body = m.group(1)
        if body.strip() in _ESCAPES:
            parts.append((_ESCAPES[body.strip()], "literal", False))
        elif (v := _VAR_BODY.fullmatch(body)) is not None:
            default = v.group(2).replace("''", "'") if v.group(2) is not None else None
            parts.append((v.group(1).lower(), default, True))
        else:
            parts.append((m.group(0), None, False))  # not a variable IAM would recognise: plain text
        pos = m.end()
    if pos < len(text):
        parts.append((text[pos:], None, False))
    return Template(tuple(parts), text)


def variable_keys(text: str) -> frozenset[str]:
    found = template(text)
    return frozenset(p[0] for p in found.parts if p[2]) if found else frozenset()


def resolve(found: Template, lookup: Lookup) -> Pieces | object | None:
    """Substitute the variables: pieces (text, literal), ABSENT, or None when a value is unknown (open).

    A known-absent variable takes its default; without one the value is ABSENT (it matches nothing). A
    multivalued key cannot be a variable (IAM treats it as unresolved). An unknown key stays open even with a
    default, since the real value may or may not be there."""
    out: list[tuple[str, bool]] = []
    for text, default, is_var in found.parts:
        if not is_var:
            out.append((text, default == "literal"))
            continue
        known = lookup(text)
        if known is None or isinstance(known, Range):
            return None
        if len(known) == 1:
            out.append((known[0], True))
        elif default is not None:
            out.append((default, True))
        else:
            return ABSENT
    return tuple(out)


def _joined(pieces: Pieces) -> str:
    return "".join(t for t, _ in pieces)


# ---------------------------------------------------------------------------------------------------------------
# Comparisons


def parse_date(text: str) -> datetime | None:
    text = text.strip()
    try:
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return datetime.fromtimestamp(float(text), UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    import ipaddress

    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _like(pieces: Pieces, segmented: bool) -> wildcard.Matcher:
    return wildcard.compile_pieces(pieces, segmented)


def _ordered(compare: str, left: Any, right: Any) -> bool:
    if compare == "eq":
        return bool(left == right)
    if compare == "lt":
        return bool(left < right)
    if compare == "le":
        return bool(left <= right)
    if compare == "gt":
        return bool(left > right)
    return bool(left >= right)


def _match(op: _Op, request: str, policy: Pieces) -> bool:
    """One request value against one (resolved) policy value, for the positive form of the operator."""
    family, compare = op.family, op.compare
    if family == "string":
        if compare == "eq":
            return request == _joined(policy)
        if compare == "ieq":
            return request.casefold() == _joined(policy).casefold()
        return _like(policy, False).matches(request)
    if family == "arn":
        return _like(policy, arns.is_segmented(_joined(policy))).matches(request)
    if family == "bool":
        return request.lower() == _joined(policy).lower()
    if family == "binary":
        return request == _joined(policy)
    if family == "numeric":
        left, right = _number(request), _number(_joined(policy))
        return left is not None and right is not None and _ordered(compare, left, right)
    if family == "date":
        left_d, right_d = parse_date(request), parse_date(_joined(policy))
        return left_d is not None and right_d is not None and _ordered(compare, left_d, right_d)
    if family == "ip":
        import ipaddress

        net = _network(_joined(policy))
        try:
            return net is not None and ipaddress.ip_address(request.strip()) in net
        except ValueError:
            return False
    return False


def _fold(values: Iterable[Tri], decisive: bool) -> Tri:
    """Three-valued OR (decisive True) or AND (decisive False): one decisive value settles it, an open one
    leaves it open unless a decisive one comes."""
    result: Tri = not decisive
    for v in values:
        if v is decisive:
            return decisive
        if v is None:
            result = None
    return result


def _or(values: Iterable[Tri]) -> Tri:
    return _fold(values, True)


def _and(values: Iterable[Tri]) -> Tri:
    return _fold(values, False)


def _not(value: Tri) -> Tri:
    return None if value is None else not value


@dataclass(frozen=True, eq=False)
class CompiledCondition:
    operator: Operator
    key: str  # lowercased
    condition: Condition  # as written, for the decision
    values: tuple[Pieces | Template, ...]  # static pieces, or templates resolved per request
    variables: frozenset[str]  # keys referenced as ${...} in the values

    def evaluate(self, lookup: Lookup) -> Tri:
        op = self.operator
        if op.base is None:
            return None  # an operator IAM would reject: never assume it holds or not
        policy: list[Pieces | None] = []
        for value in self.values:
            if isinstance(value, Template):
                resolved = resolve(value, lookup)
                if resolved is ABSENT:
                    continue  # matches nothing
                policy.append(resolved if isinstance(resolved, tuple) else None)
            else:
                policy.append(value)
        known = lookup(self.key)
        if op.base.family == "null":
            return self._null(known, policy)
        if known is None:
            return None
        if isinstance(known, Range):
            return self._range(known, policy)
        if not known:
            if op.if_exists:
                return True
            if op.set_op == "forallvalues":
                return True
            if op.set_op == "foranyvalue":
                return False
            return op.base.negated

        base = op.base

        def value_ok(request: str) -> Tri:
            hit = _or(None if p is None else _match(base, request, p) for p in policy)
            return _not(hit) if base.negated else hit

        if op.set_op == "forallvalues":
            return _and(value_ok(v) for v in known)
        if op.set_op == "foranyvalue" or not op.base.negated:
            return _or(value_ok(v) for v in known)
        return _and(value_ok(v) for v in known)

    def _null(self, known: Known, policy: list[Pieces | None]) -> Tri:
        if known is None:
            return None
        if isinstance(known, Range):
            if known.maybe_absent:
                return None
            absent = False
        else:
            absent = not known
        return _or(None if p is None else (_joined(p).lower() == "true") == absent for p in policy)

    def _range(self, known: Range, policy: list[Pieces | None]) -> Tri:
        op, base = self.operator, self.operator.base
        if base is None or base.family != "date" or op.set_op:
            return None

        def one(p: Pieces | None) -> Tri:
            # Ordered comparisons are monotone in the key's value: the range's two ends settle them.
            if p is None:
                return None
            when = parse_date(_joined(p))
            if when is None:
                return False
            if base.compare == "eq":
                if known.low <= when <= known.high:
                    return True if known.low == known.high else None
                return False
            low, high = _ordered(base.compare, known.low, when), _ordered(base.compare, known.high, when)
            return low if low == high else None

        hit = _or(one(p) for p in policy)
        result = _not(hit) if base.negated else hit
        if known.maybe_absent:
            absent_result = True if op.if_exists else base.negated
            if result != absent_result:
                return None
        return result


def _values(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    return tuple(_text(v) for v in items)


def compile_block(block: Any, *, variables: bool = True) -> tuple[CompiledCondition, ...]:
    """A statement's Condition element -> its conditions (ANDed). `variables` False for documents older than
    policy version 2012-10-17, where `${...}` is plain text."""
    if not isinstance(block, dict):
        return ()
    out = []
    for operator, pairs in block.items():
        parsed = parse_operator(str(operator))
        if not isinstance(pairs, dict):
            continue
        for key, raw in pairs.items():
            written = _values(raw)
            values: list[Pieces | Template] = []
            used: set[str] = set()
            for text in written:
                found = template(text) if variables else None
                if found is None:
                    values.append(((text, False),))
                else:
                    values.append(found)
                    used |= {p[0] for p in found.parts if p[2]}
            out.append(
                CompiledCondition(
                    parsed,
                    str(key).lower(),
                    Condition(str(operator), str(key), written),
                    tuple(values),
                    frozenset(used),
                )
            )
    return tuple(out)


def evaluate_all(conditions: tuple[CompiledCondition, ...], lookup: Lookup) -> tuple[bool, tuple[Condition, ...]]:
    """(applies, open conditions): applies False when any condition is known false; otherwise the conditions
    that stay open (empty: the statement applies unconditionally)."""
    open_: list[Condition] = []
    for c in conditions:
        result = c.evaluate(lookup)
        if result is False:
            return False, ()
        if result is None:
            open_.append(c.condition)
    return True, tuple(open_)


# ---------------------------------------------------------------------------------------------------------------
# Describing conditions for people

_WORDS = {
    ("string", "eq"): ("is", "is not"),
    ("string", "ieq"): ("is (any case)", "is not (any case)"),
    ("string", "like"): ("is like", "is not like"),
    ("arn", "like"): ("is like", "is not like"),
    ("numeric", "eq"): ("=", "≠"),
    ("numeric", "lt"): ("<", "≥"),
    ("numeric", "le"): ("≤", ">"),
    ("numeric", "gt"): (">", "≤"),
    ("numeric", "ge"): ("≥", "<"),
    ("date", "eq"): ("is", "is not"),
    ("date", "lt"): ("is before", "is not before"),
    ("date", "le"): ("is at or before", "is after"),
    ("date", "gt"): ("is after", "is not after"),
    ("date", "ge"): ("is at or after", "is before"),
    ("binary", "eq"): ("is", "is not"),
    ("ip", "in"): ("in", "not in"),
}


def _list(values: tuple[str, ...]) -> str:
    return values[0] if len(values) == 1 else "one of " + ", ".join(values)


def describe(c: Condition) -> str:
    op = parse_operator(c.operator)
    base = op.base
    if base is None:
        text = f"{c.key} {c.operator} {', '.join(c.values)}"
        return f"not ({text})" if c.negated else text
    if base.family == "bool" and len(c.values) == 1 and c.values[0].lower() in ("true", "false"):
        wanted = c.values[0].lower() == "true"
        if c.negated:
            # Deny ...IfExists false: denied when false or absent, so allowed only when present and true.
            text = f"{c.key} is {str(not wanted).lower()}"
            return text if op.if_exists else f"{text} or absent"
        return f"{c.key} is {str(wanted).lower()}" + (" or absent" if op.if_exists else "")
    if base.family == "null" and len(c.values) == 1:
        absent = c.values[0].lower() == "true"
        return f"{c.key} is {'absent' if absent != c.negated else 'present'}"
    positive, negative = _WORDS[(base.family, base.compare)]
    word = negative if base.negated else positive
    prefix = {"forallvalues": "every value of ", "foranyvalue": "some value of "}.get(op.set_op, "")
    text = f"{prefix}{c.key} {word} {_list(c.values)}"
    if op.if_exists:
        text += " (or absent)"
    if not c.negated:
        return text
    if not op.set_op and not op.if_exists and base.family in ("string", "arn", "binary"):
        # A Deny "StringNotEquals k v" lets the request through only when k is v: say it that way round.
        flipped = positive if base.negated else negative
        return f"{c.key} {flipped} {_list(c.values)}"
    return f"not ({text})"
