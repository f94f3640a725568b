import json
import re

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from audits.iam import scoring
from audits.iam.events import ENDING, TIMELINE_FILTERS
from audits.models import FRAMEWORK_CHOICES, SEVERITIES

register = template.Library()

FRAMEWORK_NAMES = dict(FRAMEWORK_CHOICES)
# Words for the engine's category ids; anything else falls back to "Some id".
CATEGORY_TITLES = {
    "admin_access": "Admin access",
    "privilege_escalation": "Privilege escalation",
    "data_exfiltration": "Data exfiltration",
    "resource_exposure": "Resource exposure",
    "credentials_exposure": "Credentials exposure",
    "infrastructure_modification": "Infrastructure modification",
    "service_wildcard": "Service-wide wildcard",
    "defense_evasion": "Defense evasion",
    "trust_policy": "Trust policy",
    "credential_hygiene": "Credential hygiene",
    "password_policy": "Password policy",
    "root_account": "Root account",
    "unused_access": "Unused access",
}
# Bidirectional embeddings, overrides and isolates, the directional marks and the Arabic letter mark: in a
# role name they can make "admin" read as "nimda" or reorder an ARN on screen (Trojan Source).
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


@register.filter
def duration(seconds: float | None) -> str:
    """1h 02m, 3m 05s or 12s."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@register.filter
def framework_name(key: str) -> str:
    return FRAMEWORK_NAMES.get(key, key)


@register.filter
def humanize_key(key: str) -> str:
    return str(key).replace("_", " ")


@register.filter
def category_title(key: str) -> str:
    key = str(key or "")
    return CATEGORY_TITLES.get(key) or key.replace("_", " ").capitalize()


def neutralise_bidi(text: str) -> str:
    """The text with each bidi control shown as a visible escape such as \\u202e."""
    return BIDI_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


@register.filter(is_safe=False)
def iam(value) -> SafeString:
    """IAM-supplied text for display: escaped, with bidi controls neutralised so it reads as stored."""
    if value is None:
        return mark_safe("")
    return mark_safe(neutralise_bidi(str(conditional_escape(value))))


SID_INDEX = re.compile(r"^#(\d+)$")


@register.filter
def statement_label(sid) -> str:
    """'Sid AllowAll', or 'statement 1' for a statement without a Sid (the engine names those '#0')."""
    sid = str(sid or "")
    match = SID_INDEX.match(sid)
    if match:
        return f"statement {int(match.group(1)) + 1}"
    return f"Sid {neutralise_bidi(sid)}" if sid else ""


BANDS = ("critical", "high", "medium", "low")


@register.filter
def band(score) -> str:
    """The colour band of a risk score (the engine's thresholds), or a band name passed through."""
    if isinstance(score, str) and score.lower() in BANDS:
        return score.lower()
    try:
        value = int(score)
    except (TypeError, ValueError):
        return "none"
    return scoring.band(value)


@register.filter
def severity_name(rank) -> str:
    """The severity of a rank in SEVERITIES (0 = critical), as the findings table's group headers order them."""
    try:
        return SEVERITIES[int(rank)]
    except (TypeError, ValueError, IndexError):
        return "info"


@register.simple_tag
def timeline_filters() -> tuple[tuple[str, str], ...]:
    """The timeline's type filter options, (kind, label), from the engine's event list."""
    return TIMELINE_FILTERS


@register.simple_tag
def ending_events() -> str:
    """{"complete": "completed", ...} as JSON for a data- attribute (escaped there by the template)."""
    return json.dumps(ENDING, sort_keys=True)
