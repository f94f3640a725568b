"""Mute rules: which findings a rule covers, the rules a run applies, and the YAML file they travel in.

A rule covers a finding when every part matches: its check id ("*" or exact), its ARN pattern (IAM wildcards `*`
and `?`, matched by audits.iam.arns in linear time) against the finding's principal or resource ARN, its account
("*" or the account in that ARN, else the run's) and its tags (each "key=value" must be on the principal; a rule
with tags never covers a principal whose tags the snapshot does not carry) — unless its Exceptions take the finding
back out (Prowler's shape: accounts, regions, resources, tags; see `Exceptions`).

The YAML file (docs/mutelist.md) follows Prowler's mutelist shape, Accounts -> Checks -> Resources/Tags/Exceptions,
with a Reason and an Expires on each check entry. It is read with yaml.safe_load after its size is bounded, and a
file with any bad rule is refused whole.

Importable without Django settings (`manage.py audit --mutelist` runs before any Django set-up): the models are
imported only by the functions that read or write them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

import yaml

from audits.iam import arns
from audits.iam.finding_types import Finding

if TYPE_CHECKING:
    from audits.models import MuteRule

MAX_YAML_BYTES = 256 * 1024
MAX_PATTERN = 2048
MAX_REASON = 4000
MAX_TAGS = 20
MAX_RULES_PER_FILE = 1000
CHECK_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")
ANY = "*"  # MuteRule.ANY
MAX_EXCEPTIONS = 100  # entries in each list of a rule's Exceptions
EXCEPTION_KINDS = ("accounts", "regions", "resources", "tags")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")


def _now() -> datetime:
    return datetime.now(UTC)


# --- matching -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exceptions:
    """What a rule does not mute although it matches, in Prowler's shape and by Prowler's rule: a finding is
    excepted when every list given matches it, a list matching when any of its entries does (an empty list is not
    asked). Accounts: 12-digit ids, against the finding's account. Regions: region names or "*", against the region
    in the finding's ARN (IAM principals are global and have none, so only "*" matches them). Resources: ARN
    patterns, matched as the rule's own. Tags: "key=value" ("key=*": any value) on the principal; where the
    snapshot does not carry the principal's tags the list counts as matching, so an unknown tag never mutes."""

    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, data: object) -> Exceptions:
        """From the stored form {"accounts": [...], ...}; anything else there is ignored."""
        data = data if isinstance(data, dict) else {}

        def strings(kind: str) -> tuple[str, ...]:
            values = data.get(kind)
            return tuple(str(v) for v in values) if isinstance(values, list) else ()

        return cls(strings("accounts"), strings("regions"), strings("resources"), tuple(parse_tags(strings("tags"))))

    def __bool__(self) -> bool:
        return bool(self.accounts or self.regions or self.resources or self.tags)

    def excepts(self, account: str, arn: str, tags: dict[str, str] | None) -> bool:
        asked = []
        if self.accounts:
            asked.append(account in self.accounts)
        if self.regions:
            region = (arns.parse(arn) or arns.Arn("", "", "", "", "")).region
            asked.append(any(r in (ANY, region) for r in self.regions))
        if self.resources:
            asked.append(any(arns.matches(pattern, arn) for pattern in self.resources))
        if self.tags:
            asked.append(tags is None or any(_has_tag(tags, key, value) for key, value in self.tags))
        return bool(asked) and all(asked)


@dataclass(frozen=True)
class Rule:
    """A MuteRule as plain data, so the engine's hook touches no database."""

    label: str
    check_id: str = ANY
    arn_pattern: str = ANY
    account_id: str = ANY
    tags: tuple[tuple[str, str], ...] = ()
    exceptions: Exceptions = Exceptions()

    @classmethod
    def of(cls, rule: MuteRule) -> Rule:
        return cls(
            rule.label(), rule.check_id, rule.arn_pattern, rule.account_id, tuple(parse_tags(rule.tags)),
            Exceptions.of(rule.exceptions),
        )  # fmt: skip


def parse_tags(values: Iterable[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, _, tag_value = str(value).partition("=")
        pairs.append((key.strip(), tag_value.strip()))
    return pairs


def covers(rule: Rule, finding: Finding, run_account: str, tags_of: Callable[[str], dict[str, str] | None]) -> bool:
    if rule.check_id != ANY and rule.check_id != finding.get("check_id"):
        return False
    arn = finding_arn(finding)
    account = finding_account(arn, run_account)
    if rule.account_id != ANY and rule.account_id != account:
        return False
    if rule.arn_pattern != ANY and not arns.matches(rule.arn_pattern, arn):
        return False
    tags = tags_of(finding.get("principal_arn") or "") if rule.tags or rule.exceptions.tags else None
    if rule.tags:
        if tags is None:
            return False
        if not all(_has_tag(tags, key, value) for key, value in rule.tags):
            return False
    return not (rule.exceptions and rule.exceptions.excepts(account, arn, tags))


def _has_tag(tags: dict[str, str], key: str, value: str) -> bool:
    return tags.get(key) == value or (value == ANY and key in tags)


def finding_account(arn: str, run_account: str) -> str:
    """The account in the ARN (an organization run's findings span accounts), else the run's: an AWS-managed
    policy's ARN has "aws" there."""
    account = arns.account_of(arn)
    return account if account.isdigit() else run_account


def finding_arn(finding: Finding) -> str:
    """The ARN a rule's pattern is matched against: the principal's, else the resource a finding is about."""
    evidence = found if isinstance(found := finding.get("evidence"), dict) else {}
    for value in (finding.get("principal_arn"), evidence.get("resource_arn"), evidence.get("resource")):
        if isinstance(value, str) and value:
            return value
    return ""


def principal_tags(snapshot) -> Callable[[str], dict[str, str] | None]:
    """Tags by principal ARN from the snapshot's users and roles; None for a principal without a Tags list."""
    known: dict[str, dict[str, str]] = {}
    for entry in (*snapshot.users, *snapshot.roles):
        if isinstance(entry, dict) and isinstance(entry.get("Tags"), list) and isinstance(entry.get("Arn"), str):
            known[entry["Arn"]] = {
                str(t.get("Key")): str(t.get("Value", "")) for t in entry["Tags"] if isinstance(t, dict) and "Key" in t
            }
    return known.get


def active_rules(owner_id: int) -> list[Rule]:
    """The owner's unexpired rules, oldest first: the first that covers a finding names it."""
    from audits.models import MuteRule

    rules = MuteRule.objects.filter(owner_id=owner_id, expires__gt=_now()).order_by("pk")
    return [Rule.of(rule) for rule in rules]


def muter(rules: list[Rule], run_account: str, snapshot) -> Callable[[Finding], str | None] | None:
    """The engine's `muted` hook for one run: the label of the first rule covering a finding."""
    if not rules:
        return None
    has_tags = snapshot is not None and any(rule.tags for rule in rules)
    tags_of = principal_tags(snapshot) if has_tags else (lambda arn: None)

    def muted(finding: Finding) -> str | None:
        for rule in rules:
            if covers(rule, finding, run_account, tags_of):
                return rule.label
        return None

    return muted


def mark_muted(run_id: int, findings: list[Finding]) -> list[Finding]:
    """An organization run's cross-account findings with its owner's rules applied (no snapshot at hand, so a rule
    with tags does not apply to them); those already suppressed keep their mark."""
    from audits.models import AuditRun

    owner_id = AuditRun.objects.filter(pk=run_id).values_list("owner_id", flat=True).first()
    muted = muter(active_rules(owner_id), "", None) if owner_id is not None else None
    if muted is None:
        return findings
    marked: list[Finding] = []
    for finding in findings:
        rule = None if finding.get("suppressed") else muted(finding)
        marked.append({**finding, "suppressed": True, "muted_by": rule} if rule else finding)
    return marked


# --- checking one rule ---------------------------------------------------------------------------------------------


@dataclass
class Draft:
    """A rule as typed in the form or read from YAML, before it is saved; `errors` says what is wrong."""

    check_id: str = ANY
    arn_pattern: str = ANY
    account_id: str = ANY
    tags: list[str] = field(default_factory=list)
    reason: str = ""
    expires: datetime | None = None
    # {"accounts": [...], "regions": [...], "resources": [...], "tags": [...]}, empty lists left out (Exceptions).
    exceptions: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    place: str = ""  # where in a YAML file the rule was read, "Accounts.<id>.Checks.<check>[i]"

    def check(self, *, allow_expired: bool = False) -> Draft:
        """Normalise and check every field; allow_expired keeps an expired rule without an error (a mutelist
        file read by the command line, which skips it)."""
        self.check_id = self.check_id.strip() or ANY
        self.arn_pattern = self.arn_pattern.strip() or ANY
        self.account_id = self.account_id.strip() or ANY
        self.reason = self.reason.strip()
        if self.check_id != ANY and (len(self.check_id) > 80 or not set(self.check_id) <= CHECK_ID_CHARS):
            self.errors.append("the check id must be '*' or a check id such as iam_user_admin (lowercase, _).")
        if len(self.arn_pattern) > MAX_PATTERN:
            self.errors.append(f"the ARN pattern is {len(self.arn_pattern)} characters; the limit is {MAX_PATTERN}.")
        if self.account_id != ANY and not _is_account(self.account_id):
            self.errors.append("the account must be '*' or a 12-digit AWS account id.")
        if len(self.tags) > MAX_TAGS:
            self.errors.append(f"a rule may name at most {MAX_TAGS} tags.")
            self.tags = self.tags[: MAX_TAGS + 1]
        self.tags = self._tags(self.tags, "tag")
        self._check_exceptions()
        if not self.reason:
            self.errors.append("say why these findings are muted: the reason is required.")
        elif len(self.reason) > MAX_REASON:
            self.errors.append(f"keep the reason under {MAX_REASON} characters.")
        if self.expires is None:
            self.errors.append("give the expiry as a date (YYYY-MM-DD).")
        elif self.expires <= _now() and not allow_expired:
            self.errors.append(f"the expiry {self.expires:%Y-%m-%d} is not in the future.")
        return self

    def _tags(self, tags: list[str], what: str) -> list[str]:
        for tag in tags:
            key, sep, _value = tag.partition("=")
            if not sep or not key.strip() or len(tag) > 300:
                self.errors.append(f"the {what} {tag[:60]!r} must be written key=value.")
        return [f"{k}={v}" for k, v in parse_tags(tags)]

    def _check_exceptions(self) -> None:
        unknown = sorted(str(kind) for kind in self.exceptions if kind not in EXCEPTION_KINDS)
        if unknown:
            self.errors.append(f"exceptions may name {', '.join(EXCEPTION_KINDS)}, not {', '.join(unknown)}.")
        kept: dict[str, list[str]] = {}
        for kind in EXCEPTION_KINDS:
            values = [v.strip() for v in self.exceptions.get(kind) or [] if v.strip()]
            if len(values) > MAX_EXCEPTIONS:
                self.errors.append(f"the {kind} exceptions hold {len(values)} entries; the limit is {MAX_EXCEPTIONS}.")
                values = values[: MAX_EXCEPTIONS + 1]
            for value in values:
                if kind == "accounts" and not _is_account(value):
                    self.errors.append(f"the excepted account {value[:60]!r} must be a 12-digit AWS account id.")
                elif kind == "regions" and value != ANY and not REGION.fullmatch(value):
                    self.errors.append(f"the excepted region {value[:60]!r} must be a region (eu-west-1) or '*'.")
                elif kind == "resources" and len(value) > MAX_PATTERN:
                    self.errors.append(f"an excepted ARN pattern is over {MAX_PATTERN} characters.")
            if kind == "tags":
                values = self._tags(values, "excepted tag")
            if values:
                kept[kind] = values
        self.exceptions = kept

    def rule(self, label: str) -> Rule:
        """The rule as the engine's hook applies it, named `label` on the findings it mutes."""
        return Rule(
            label[:400], self.check_id, self.arn_pattern, self.account_id, tuple(parse_tags(self.tags)),
            Exceptions.of(self.exceptions),
        )  # fmt: skip

    def save(self, owner, created_by) -> MuteRule:
        from audits.models import MuteRule

        return MuteRule.objects.create(
            owner=owner,
            check_id=self.check_id,
            arn_pattern=self.arn_pattern,
            account_id=self.account_id,
            tags=self.tags,
            exceptions=self.exceptions,
            reason=self.reason,
            expires=self.expires,
            created_by=created_by,
        )


def _is_account(value: str) -> bool:
    return len(value) == 12 and value.isdigit()


def parse_expiry(value: object) -> datetime | None:
    """The end (UTC) of the given day: a rule lasts through its expiry date."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            return None
    if not isinstance(value, date):
        return None
    return datetime.combine(value, time.max, tzinfo=UTC)


# --- YAML ----------------------------------------------------------------------------------------------------------


class MutelistError(ValueError):
    """The YAML file cannot be imported; `problems` lists each one with its place in the file."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def to_yaml(rules: Iterable[MuteRule]) -> str:
    accounts: dict[str, dict] = {}
    for rule in rules:
        checks = accounts.setdefault(rule.account_id, {"Checks": {}})["Checks"]
        entries = checks.setdefault(rule.check_id, [])
        entry = {
            "Resources": [rule.arn_pattern],
            "Reason": rule.reason,
            "Expires": rule.expires.astimezone(UTC).date().isoformat(),
        }
        if rule.tags:
            entry["Tags"] = list(rule.tags)
        exceptions = {kind.title(): list(values) for kind, values in (rule.exceptions or {}).items() if values}
        if exceptions:
            entry["Exceptions"] = exceptions
        entries.append(entry)
    document = {"Mutelist": {"Accounts": accounts}}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)


def from_yaml(data: bytes, *, allow_expired: bool = False) -> list[Draft]:
    """Every rule in the file, checked; MutelistError naming each problem (nothing is kept) if any is wrong.
    allow_expired: an expired entry is read (the caller skips it) instead of refused."""
    if len(data) > MAX_YAML_BYTES:
        raise MutelistError([f"the file is {len(data) // 1024} KB; the limit is {MAX_YAML_BYTES // 1024} KB."])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MutelistError([f"the file is not UTF-8 text (bad byte at offset {exc.start})."]) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise MutelistError([f"{where}not valid YAML ({getattr(exc, 'problem', None) or 'syntax error'})."]) from None
    except RecursionError:
        raise MutelistError(["the file is nested too deeply."]) from None
    accounts = _mapping(document, "Mutelist", "the file must start with 'Mutelist:'")
    accounts = _mapping(accounts, "Accounts", "'Mutelist' must hold 'Accounts:'")
    drafts: list[Draft] = []
    problems: list[str] = []
    for account, body in accounts.items():
        where = f"Accounts.{account}"
        checks = body.get("Checks") if isinstance(body, dict) else None
        if not isinstance(checks, dict):
            problems.append(f"{where}: must hold 'Checks:' with check ids under it.")
            continue
        for check_id, entries in checks.items():
            for index, entry in enumerate(entries if isinstance(entries, list) else [entries]):
                place = f"{where}.Checks.{check_id}" + (f"[{index}]" if isinstance(entries, list) else "")
                drafts.extend(_drafts(str(account), str(check_id), entry, place, problems, allow_expired))
                # YAML aliases can repeat one list many times over: stop counting once past the limit.
                if len(drafts) > MAX_RULES_PER_FILE:
                    raise MutelistError([f"the file holds more than {MAX_RULES_PER_FILE} rules; import fewer."])
    if not drafts and not problems:
        problems.append("the file holds no rules.")
    if problems:
        raise MutelistError(problems)
    return drafts


def _mapping(node: object, key: str, message: str) -> dict:
    if not isinstance(node, dict) or not isinstance(node.get(key), dict):
        raise MutelistError([message + "; see docs/mutelist.md."])
    return node[key]


SUPPORTED_KEYS = {"Resources", "Tags", "Reason", "Expires", "Regions", "Exceptions"}


def _drafts(
    account: str, check_id: str, entry: object, place: str, problems: list[str], allow_expired: bool = False
) -> list[Draft]:
    """One Draft per resource pattern of a check entry; its problems are added to `problems`."""
    if not isinstance(entry, dict):
        problems.append(f"{place}: must be a mapping with Resources, Reason and Expires.")
        return []
    unknown = sorted(str(key) for key in entry if key not in SUPPORTED_KEYS)
    if unknown:
        problems.append(
            f"{place}: {', '.join(unknown)} not supported (use Resources, Tags, Exceptions, Reason, Expires)."
        )
    regions = entry.get("Regions", ["*"])
    if regions not in (["*"], "*"):
        problems.append(f"{place}: IAM is global, so Regions may only be ['*'].")
    resources = entry.get("Resources", ["*"])
    resources = [resources] if isinstance(resources, str) else resources
    tags = entry.get("Tags", [])
    tags = [tags] if isinstance(tags, str) else tags
    if not isinstance(resources, list) or not resources or not all(isinstance(r, str) for r in resources):
        problems.append(f"{place}: Resources must be a list of ARN patterns.")
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append(f"{place}: Tags must be a list of key=value strings.")
        return []
    exceptions = _exceptions(entry.get("Exceptions"), place, problems)
    reason = entry.get("Reason")
    drafts = []
    for pattern in resources[: MAX_RULES_PER_FILE + 1]:
        draft = Draft(
            check_id=check_id,
            arn_pattern=pattern,
            account_id=account,
            tags=list(tags),
            reason=reason if isinstance(reason, str) else "",
            expires=parse_expiry(entry.get("Expires")),
            exceptions=exceptions,
            place=place,
        ).check(allow_expired=allow_expired)
        problems.extend(f"{place}: {error}" for error in dict.fromkeys(draft.errors))
        drafts.append(draft)
    return drafts


def _exceptions(node: object, place: str, problems: list[str]) -> dict[str, list[str]]:
    """Prowler's Exceptions mapping (Accounts, Regions, Resources, Tags, each a list of strings) in the stored
    form {"accounts": [...], ...}; what is not that shape is added to `problems` (the file is then refused)."""
    if node is None:
        return {}
    if not isinstance(node, dict):
        problems.append(f"{place}: Exceptions must be a mapping of Accounts, Regions, Resources and Tags.")
        return {}
    found: dict[str, list[str]] = {}
    for key, values in node.items():
        kind = str(key).lower()
        if kind not in EXCEPTION_KINDS:
            problems.append(f"{place}: Exceptions.{key} not supported (use Accounts, Regions, Resources, Tags).")
            continue
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not all(isinstance(v, str | int) for v in values):
            problems.append(f"{place}: Exceptions.{key} must be a list of strings.")
            continue
        # An unquoted account id is read by YAML as a number: keep its digits.
        found[kind] = [str(v) for v in values[: MAX_EXCEPTIONS + 1]]
    return found
