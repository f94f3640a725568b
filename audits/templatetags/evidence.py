"""A granting statement as the finding page shows it: its JSON, with the Action entries that grant the finding's
actions marked and a long list's other entries folded into one line."""

import json

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from audits.finding_evidence import LONG_ACTION_LIST, action_entries, statement_condition_words
from audits.templatetags.aegis import neutralise_bidi

register = template.Library()

PLACEHOLDER = "__aegis_action_list__"


@register.simple_tag
def statement_code(item: dict) -> SafeString:
    """Escaped, bidi-safe JSON of item["statement"]; item["matched"] entries in <mark>."""
    statement = item.get("statement")
    if not isinstance(statement, dict):
        return _safe(item.get("json") or "")
    key, entries = action_entries(statement)
    matched = [e for e in entries if e in set(item.get("matched") or [])] if key == "Action" else []
    if key not in statement or (len(entries) <= LONG_ACTION_LIST and not matched):
        return _safe(json.dumps(statement, indent=2, sort_keys=True, default=str))
    text = json.dumps({**statement, key: PLACEHOLDER}, indent=2, sort_keys=True, default=str)
    escaped = neutralise_bidi(str(conditional_escape(text)))
    return mark_safe(escaped.replace(f"&quot;{PLACEHOLDER}&quot;", _action_list(entries, matched)))


@register.filter
def folded_actions(item: dict) -> list[str]:
    """The entries of a long Action list that the statement's code leaves out, for the "show them" fold."""
    statement = item.get("statement")
    if not isinstance(statement, dict):
        return []
    key, entries = action_entries(statement)
    if len(entries) <= LONG_ACTION_LIST:
        return []
    shown = {e for e in entries if e in set(item.get("matched") or [])} if key == "Action" else set()
    return [e for e in entries if e not in shown] if shown else entries[LONG_ACTION_LIST:]


@register.filter
def condition_words(statement) -> str:
    """'Only when aws:SourceIp is in 10.0.0.0/8 and ...' for a statement with a Condition block."""
    parts = statement_condition_words(statement) if isinstance(statement, dict) else []
    if not parts:
        return ""
    lead = "Denies only when" if str(statement.get("Effect")) == "Deny" else "Only when"
    return f"{lead} {' and '.join(parts)}."


def _action_list(entries: list[str], matched: list[str]) -> str:
    """The Action value in its own order with matches marked; a long list keeps only the matches (or, with none,
    its first entries) and says how many more there are."""
    if len(entries) <= LONG_ACTION_LIST:
        kept = entries
    else:
        kept = [e for e in entries if e in matched] or entries[:LONG_ACTION_LIST]
    shown = [f"<mark>{_quoted(e)}</mark>" if e in matched else _quoted(e) for e in kept]
    hidden = len(entries) - len(kept)
    lines = [f"    {s}," for s in shown]
    if hidden:
        lines.append(f'    <span class="folded">… and {hidden} more action{"s" if hidden != 1 else ""}</span>')
    elif lines:
        lines[-1] = lines[-1].rstrip(",")
    return "[\n" + "\n".join(lines) + "\n  ]"


def _quoted(entry: str) -> str:
    return neutralise_bidi(str(conditional_escape(json.dumps(entry))))


def _safe(text: str) -> SafeString:
    return mark_safe(neutralise_bidi(str(conditional_escape(text))))
