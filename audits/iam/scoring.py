"""Risk score, 0-100, from reachable impact, and its band.

Computed from the finding dicts alone (so a resumed run, the portal and the CLI agree); suppressed (accepted)
findings are left out. Formula:

  1. Every finding gives points to one component:
     - admin reach: a principal that is administrator counts 6 (user) or 3 (role); a principal that can
       escalate to administrator counts 8 (user) or 5 (role) times 0.85^(hops - 1), hops being the length of its
       path (a self-escalation is 1 hop); escalation is unintended admin, so it weighs more than admin by design.
     - outside reach: a trust policy that lets principals outside the account in (any principal, another account
       without ExternalId, an OIDC provider without a subject condition) counts 25 when the role is
       administrator or can become one, else by severity.
     - credential hygiene, root account and password policy: by severity (critical 10, high 5, medium 2, low 0.5).
     - data exposure (data exfiltration, credentials exposure, resource exposure): by severity.
     - everything else (hygiene notes, wildcards, unused access): half its severity weight.
     A grant that holds only under open conditions counts half.
  2. Within a component, points are sorted heaviest first and the k-th (k = 0, 1, ...) counts w / sqrt(k + 1):
     each further risk still adds something (so fixing one always moves the score), with diminishing returns.
  3. total = sum of the components; x = 1 - exp(-total / 200) (0 <= x < 1, never reaching 1);
     score = floor(base + (100 - base) * x), where base is 50 when any finding is critical, 20 when any is high,
     else 0: one administrator without MFA is never filed under "low", and above the base every risk still counts.
Bands: critical >= 75, high >= 50, medium >= 20, else low.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from audits.iam.finding_types import Finding

WEIGHTS = {"critical": 10.0, "high": 5.0, "medium": 2.0, "low": 0.5, "info": 0.0}
SCALE = 200.0
CRITICAL_FLOOR = 50
HIGH_FLOOR = 20
OUTSIDE_CHECKS = frozenset({"trust_any_principal", "trust_cross_account_unprotected", "trust_oidc_unrestricted"})
HYGIENE_CATEGORIES = frozenset({"credential_hygiene", "root_account", "password_policy"})
DATA_CATEGORIES = frozenset({"data_exfiltration", "credentials_exposure", "resource_exposure"})
PRINCIPAL_TYPES = frozenset({"user", "role"})


def _component(f: Finding) -> tuple[str, float]:
    weight = WEIGHTS.get(f.get("severity", ""), 0.0)
    evidence = f.get("evidence") if isinstance(f.get("evidence"), dict) else {}
    category, kind = f.get("category"), f.get("principal_type")
    if category == "admin_access" and kind in PRINCIPAL_TYPES and f.get("check_id", "").endswith("_admin_access"):
        points = 6.0 if kind == "user" else 3.0
        component = "admin"
    elif category == "privilege_escalation" and kind in PRINCIPAL_TYPES and evidence.get("target_kind") == "admin":
        hops = max(1, len(evidence.get("path") or ()) or 1)
        points = (8.0 if kind == "user" else 5.0) * 0.85 ** (hops - 1)
        component = "admin"
    elif f.get("check_id") in OUTSIDE_CHECKS:
        points = 25.0 if evidence.get("admin") else weight
        component = "outside"
    elif category in HYGIENE_CATEGORIES:
        points, component = weight, "credentials"
    elif category in DATA_CATEGORIES:
        points, component = weight, "data"
    else:
        points, component = weight / 2, "other"
    if f.get("conditioned"):
        points /= 2
    return component, points


def components(findings: Iterable[Finding]) -> dict[str, float]:
    points: dict[str, list[float]] = {}
    for f in findings:
        if f.get("suppressed"):
            continue
        component, value = _component(f)
        points.setdefault(component, []).append(value)
    out = {}
    for component, values in points.items():
        values.sort(reverse=True)
        out[component] = sum(v / math.sqrt(k + 1) for k, v in enumerate(values))
    return out


def score(findings: Sequence[Finding]) -> int:
    total = sum(components(findings).values())
    severities = {f["severity"] for f in findings if not f.get("suppressed")}
    base = CRITICAL_FLOOR if "critical" in severities else HIGH_FLOOR if "high" in severities else 0
    return min(99, math.floor(base + (100 - base) * (1 - math.exp(-total / SCALE))))


def band(value: int) -> str:
    if value >= 75:
        return "critical"
    if value >= 50:
        return "high"
    if value >= 20:
        return "medium"
    return "low"
