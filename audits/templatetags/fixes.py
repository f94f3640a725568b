"""The concrete fix of a stored finding: the engine's `fix` when it computed one, else computed on display."""

import json

from django import template

from audits.iam.remediation import fix_for

register = template.Library()


@register.simple_tag
def fix_of(finding) -> dict:
    fix = getattr(finding, "fix", None) or fix_for(finding.to_dict())
    policy = fix.get("policy")
    # Pretty JSON once here, so the template shows and copies the same text.
    return {**fix, "policy_json": json.dumps(policy, indent=2) if policy else ""}
