"""Mute rules: which findings a rule covers, the rules a run applies, and the YAML file they travel in.

A rule covers a finding when every part matches: its check id ("*" or exact), its ARN pattern (IAM wildcards `*`
and `?`, matched by audits.iam.arns in linear time) against the finding's principal or resource ARN, its account
("*" or the account in that ARN, else the run's) and its tags (each "key=value" must be on the principal; a rule
with tags never covers a principal whose tags the snapshot does not carry).

The YAML file (docs/mutelist.md) follows Prowler's mutelist shape, Accounts -> Checks -> Resources/Tags, with a
Reason and an Expires on each check entry. It is read with yaml.safe_load after its size is bounded, and a file
with any bad rule is refused whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

import yaml
from django.utils import timezone

from audits.iam import arns
from audits.models import AuditRun, MuteRule

MAX_YAML_BYTES = 256 * 1024
MAX_PATTERN = 2048
MAX_REASON = 4000
MAX_TAGS = 20
MAX_RULES_PER_FILE = 1000
CHECK_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")


# --- matching -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A MuteRule as plain data, so the engine's hook touches no database."""

    label: str
    check_id: str = MuteRule.ANY
    arn_pattern: str = MuteRule.ANY
    account_id: str = MuteRule.ANY
    tags: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, rule: MuteRule) -> Rule:
        return cls(rule.label(), rule.check_id, rule.arn_pattern, rule.account_id, tuple(parse_tags(rule.tags)))


def parse_tags(values: Iterable[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, _, tag_value = str(value).partition("=")
        pairs.append((key.strip(), tag_value.strip()))
    return pairs


def covers(rule: Rule, finding: dict, run_account: str, tags_of: Callable[[str], dict[str, str] | None]) -> bool:
    if rule.check_id != MuteRule.ANY and rule.check_id != finding.get("check_id"):
        return False
    arn = finding_arn(finding)
    if rule.account_id != MuteRule.ANY and rule.account_id != finding_account(arn, run_account):
        return False
    if rule.arn_pattern != MuteRule.ANY and not arns.matches(rule.arn_pattern, arn):
        return False
    if rule.tags:
        tags = tags_of(finding.get("principal_arn") or "")
        if tags is None:
            return False
        return all(tags.get(key) == value or (value == "*" and key in tags) for key, value in rule.tags)
    return True


def finding_account(arn: str, run_account: str) -> str:
    """The account in the ARN (an organization run's findings span accounts), else the run's: an AWS-managed
    policy's ARN has "aws" there."""
    account = arns.account_of(arn)
    return account if account.isdigit() else run_account


def finding_arn(finding: dict) -> str:
    """The ARN a rule's pattern is matched against: the principal's, else the resource a finding is about."""
    evidence = finding.get("evidence") if isinstance(finding.get("evidence"), dict) else {}
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
    rules = MuteRule.objects.filter(owner_id=owner_id, expires__gt=timezone.now()).order_by("pk")
    return [Rule.of(rule) for rule in rules]


def muter(rules: list[Rule], run_account: str, snapshot) -> Callable[[dict], str | None] | None:
    """The engine's `muted` hook for one run: the label of the first rule covering a finding."""
    if not rules:
        return None
    has_tags = snapshot is not None and any(rule.tags for rule in rules)
    tags_of = principal_tags(snapshot) if has_tags else (lambda arn: None)

    def muted(finding: dict) -> str | None:
        for rule in rules:
            if covers(rule, finding, run_account, tags_of):
                return rule.label
        return None

    return muted


def mark_muted(run_id: int, findings: list[dict]) -> list[dict]:
    """An organization run's cross-account findings with its owner's rules applied (no snapshot at hand, so a rule
    with tags does not apply to them); those already suppressed keep their mark."""
    owner_id = AuditRun.objects.filter(pk=run_id).values_list("owner_id", flat=True).first()
    muted = muter(active_rules(owner_id), "", None) if owner_id is not None else None
    if muted is None:
        return findings
    marked = []
    for finding in findings:
        rule = None if finding.get("suppressed") else muted(finding)
        marked.append({**finding, "suppressed": True, "muted_by": rule} if rule else finding)
    return marked


# --- checking one rule ---------------------------------------------------------------------------------------------


@dataclass
class Draft:
    """A rule as typed in the form or read from YAML, before it is saved; `errors` says what is wrong."""

    check_id: str = MuteRule.ANY
    arn_pattern: str = MuteRule.ANY
    account_id: str = MuteRule.ANY
    tags: list[str] = field(default_factory=list)
    reason: str = ""
    expires: datetime | None = None
    errors: list[str] = field(default_factory=list)

    def check(self) -> Draft:
        self.check_id = self.check_id.strip() or MuteRule.ANY
        self.arn_pattern = self.arn_pattern.strip() or MuteRule.ANY
        self.account_id = self.account_id.strip() or MuteRule.ANY
        self.reason = self.reason.strip()
        if self.check_id != MuteRule.ANY and (len(self.check_id) > 80 or not set(self.check_id) <= CHECK_ID_CHARS):
            self.errors.append("the check id must be '*' or a check id such as iam_user_admin (lowercase, _).")
        if len(self.arn_pattern) > MAX_PATTERN:
            self.errors.append(f"the ARN pattern is {len(self.arn_pattern)} characters; the limit is {MAX_PATTERN}.")
        if self.account_id != MuteRule.ANY and not (len(self.account_id) == 12 and self.account_id.isdigit()):
            self.errors.append("the account must be '*' or a 12-digit AWS account id.")
        if len(self.tags) > MAX_TAGS:
            self.errors.append(f"a rule may name at most {MAX_TAGS} tags.")
            self.tags = self.tags[: MAX_TAGS + 1]
        for tag in self.tags:
            key, sep, _value = tag.partition("=")
            if not sep or not key.strip() or len(tag) > 300:
                self.errors.append(f"the tag {tag[:60]!r} must be written key=value.")
        self.tags = [f"{k}={v}" for k, v in parse_tags(self.tags)]
        if not self.reason:
            self.errors.append("say why these findings are muted: the reason is required.")
        elif len(self.reason) > MAX_REASON:
            self.errors.append(f"keep the reason under {MAX_REASON} characters.")
        if self.expires is None:
            self.errors.append("give the expiry as a date (YYYY-MM-DD).")
        elif self.expires <= timezone.now():
            self.errors.append(f"the expiry {self.expires:%Y-%m-%d} is not in the future.")
        return self

    def save(self, owner, created_by) -> MuteRule:
        return MuteRule.objects.create(
            owner=owner,
            check_id=self.check_id,
            arn_pattern=self.arn_pattern,
            account_id=self.account_id,
            tags=self.tags,
            reason=self.reason,
            expires=self.expires,
            created_by=created_by,
        )


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
        entries.append(entry)
    document = {"Mutelist": {"Accounts": accounts}}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)


def from_yaml(data: bytes) -> list[Draft]:
    """Every rule in the file, checked; MutelistError naming each problem (nothing is kept) if any is wrong."""
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
                drafts.extend(_drafts(str(account), str(check_id), entry, place, problems))
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


SUPPORTED_KEYS = {"Resources", "Tags", "Reason", "Expires", "Regions"}


def _drafts(account: str, check_id: str, entry: object, place: str, problems: list[str]) -> list[Draft]:
    """One Draft per resource pattern of a check entry; its problems are added to `problems`."""
    if not isinstance(entry, dict):
        problems.append(f"{place}: must be a mapping with Resources, Reason and Expires.")
        return []
    unknown = sorted(str(key) for key in entry if key not in SUPPORTED_KEYS)
    if unknown:
        problems.append(f"{place}: {', '.join(unknown)} not supported (use Resources, Tags, Reason, Expires).")
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
        ).check()
        problems.extend(f"{place}: {error}" for error in dict.fromkeys(draft.errors))
        drafts.append(draft)
    return drafts
