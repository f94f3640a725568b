"""Risk score, 0-100, and its band.

Formula:
  1. Each finding weighs by severity: critical 10, high 5, medium 2, low 0.5, info 0.
  2. Within a category, findings are sorted heaviest first and the k-th (k = 0, 1, …) counts w * 0.75**k:
     diminishing returns, so 200 confused-deputy warnings cannot outweigh one administrator without MFA.
     A category contributes at most 30.
  3. score = min(100, round(sum of categories)); any critical finding raises the score to at least 50, any
     high finding to at least 20, so one administrator without MFA is never filed under "low".
Bands: critical >= 75, high >= 50, medium >= 20, else low.
"""

from __future__ import annotations

WEIGHTS = {"critical": 10.0, "high": 5.0, "medium": 2.0, "low": 0.5, "info": 0.0}
DECAY = 0.75
CATEGORY_CAP = 30.0
CRITICAL_FLOOR = 50
HIGH_FLOOR = 20


def score(findings: list[dict]) -> int:
    by_category: dict[str, list[float]] = {}
    for f in findings:
        by_category.setdefault(f["category"], []).append(WEIGHTS.get(f["severity"], 0.0))
    total = 0.0
    for weights in by_category.values():
        weights.sort(reverse=True)
        total += min(CATEGORY_CAP, sum(w * DECAY**k for k, w in enumerate(weights)))
    result = min(100, round(total))
    severities = {f["severity"] for f in findings}
    if "critical" in severities:
        result = max(result, CRITICAL_FLOOR)
    elif "high" in severities:
        result = max(result, HIGH_FLOOR)
    return result


def band(value: int) -> str:
    if value >= 75:
        return "critical"
    if value >= 50:
        return "high"
    if value >= 20:
        return "medium"
    return "low"
