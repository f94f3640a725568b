"""What a finding's page shows as evidence: only the statements that grant the finding's actions, the matching
Action entries picked out of long lists, and conditions in words rather than the evaluator's dicts."""

from typing import Any

from audits.iam.conditions import Condition, describe
from audits.iam.evaluator import action_matches

# A statement's Action list longer than this shows its matching entries and folds the rest away.
LONG_ACTION_LIST = 12


def finding_actions(evidence: dict) -> list[str]:
    """The actions the finding is about: its own `actions` and those of each escalation method."""
    names = [a for a in _list(evidence.get("actions")) if isinstance(a, str)]
    for method in _list(evidence.get("methods")):
        if isinstance(method, dict):
            names += [a for a in _list(method.get("actions")) if isinstance(a, str)]
    return list(dict.fromkeys(n for n in names if ":" in n or n == "*"))


def action_entries(statement: dict) -> tuple[str, list[str]]:
    """("Action" or "NotAction", the entries as a list of strings)."""
    key = "NotAction" if "NotAction" in statement else "Action"
    value = statement.get(key)
    entries = value if isinstance(value, list) else [value] if value is not None else []
    return key, [str(e) for e in entries]


def matching_entries(statement: dict, actions: list[str]) -> list[str]:
    """The Action entries that cover one of `actions`; for a NotAction statement, the actions it lets through."""
    key, entries = action_entries(statement)
    if key == "NotAction":
        return [a for a in actions if not any(_covers(e, a) for e in entries)]
    return [e for e in entries if any(_covers(e, a) for a in actions)]


def split_statements(items: list[dict], actions: list[str], *, to_admin: bool = False) -> tuple[list[dict], list[dict]]:
    """(granting, other): an Allow statement that grants none of the finding's actions is not its evidence.

    Items are {"statement": {...}, ...}; each granting one gains "matched", the entries to pick out. On a path to
    an administrator (to_admin), a full-admin statement is the target's rights, not the hop's: a principal that
    held one would be an administrator itself, not a finding about escalating. When nothing would be left
    (evidence in a shape this does not read), every statement stays, rather than none."""
    if not actions:
        return [{**item, "matched": []} for item in items], []
    granting, other = [], []
    for item in items:
        statement = item.get("statement")
        if not isinstance(statement, dict):
            granting.append({**item, "matched": []})
            continue
        if to_admin and is_full_admin(statement):
            other.append({**item, "note": "the administrator rights at the end of the path"})
            continue
        matched = matching_entries(statement, actions)
        if matched or str(statement.get("Effect", "Allow")) != "Allow":
            granting.append({**item, "matched": matched})
        else:
            other.append(item)
    if not granting:
        return [{**item, "matched": []} for item in items], []
    return granting, other


def is_full_admin(statement: dict) -> bool:
    """Allow of every action on every resource, with no condition."""
    key, entries = action_entries(statement)
    resources = statement.get("Resource")
    return (
        key == "Action"
        and str(statement.get("Effect", "Allow")) == "Allow"
        and any(e in ("*", "*:*") for e in entries)
        and (resources == "*" or resources == ["*"])
        and not statement.get("Condition")
    )


def leads_to_admin(evidence: dict) -> bool:
    """An escalation path whose end is administrator rights."""
    return evidence.get("target_kind") == "admin" and bool(evidence.get("path") or evidence.get("hops"))


# --- conditions in words ---------------------------------------------------------------------------------------------


def is_condition(value: Any) -> bool:
    """The evaluator's condition dict: operator, key, values, negated and (usually) text."""
    return isinstance(value, dict) and "operator" in value and "key" in value


def condition_sentence(condition: dict) -> str:
    """'only when aws:MultiFactorAuthPresent is true', or 'unless ...' for a condition that must not hold."""
    text = str(condition.get("text") or "")
    if not text:
        values = tuple(str(v) for v in _list(condition.get("values")) or [condition.get("values", "")])
        plain = Condition(str(condition.get("operator", "")), str(condition.get("key", "")), values)
        text = _describe(plain)
        return f"unless {text}" if condition.get("negated") else f"only when {text}"
    if condition.get("negated") and text.startswith("not (") and text.endswith(")"):
        return f"unless {text[5:-1]}"
    return f"only when {text}"


def in_words(value: Any) -> Any:
    """The value with every condition dict in it replaced by its sentence."""
    if is_condition(value):
        return condition_sentence(value)
    if isinstance(value, list):
        return [in_words(v) for v in value]
    if isinstance(value, dict):
        return {k: in_words(v) for k, v in value.items()}
    return value


def statement_condition_words(statement: dict) -> list[str]:
    """A policy statement's Condition block, one sentence part per key: 'aws:SourceIp is in 10.0.0.0/8'."""
    block = statement.get("Condition")
    if not isinstance(block, dict):
        return []
    parts = []
    for operator, keys in block.items():
        if not isinstance(keys, dict):
            continue
        for key, raw in keys.items():
            values = tuple(str(v) for v in (raw if isinstance(raw, list) else [raw]))
            parts.append(_describe(Condition(str(operator), str(key), values)))
    return parts


def _describe(condition: Condition) -> str:
    try:
        return describe(condition)
    except (KeyError, ValueError, TypeError, AttributeError):
        # An operator IAM does not know: say it as written.
        return f"{condition.key} {condition.operator} {', '.join(condition.values)}"


def _covers(pattern: str, action: str) -> bool:
    return action_matches(pattern.lower(), action.lower())


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []
