from django import template

from audits.iam import scoring
from audits.models import FRAMEWORK_CHOICES

register = template.Library()

FRAMEWORK_NAMES = dict(FRAMEWORK_CHOICES)


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
