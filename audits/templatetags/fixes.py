"""The concrete fix of a stored finding: the engine's `fix` when it computed one, else computed on display."""

import json

from django import template

from audits.iam.remediation import AWS_MANAGED_LEAD, aws_managed_policy, fix_for

register = template.Library()


@register.simple_tag
def fix_of(finding) -> dict:
    fix = getattr(finding, "fix", None) or fix_for(finding.to_dict())
    proven = "ops" in fix  # a change set the engine computed from the account (audits.iam.fix_plan)
    if (
        not proven
        and not str(fix.get("summary", "")).startswith(AWS_MANAGED_LEAD)
        and aws_managed_policy(finding.to_dict())
    ):
        # Stored by an older engine, which told people to edit a policy nobody can edit.
        fix = fix_for(finding.to_dict())
    policy = fix.get("policy")
    # Pretty JSON once here, so the template shows and copies the same text.
    return {**fix, "policy_json": json.dumps(policy, indent=2) if policy else ""}


@register.filter
def on_aws_managed_policy(finding) -> bool:
    """A finding about an AWS managed policy: its check's generic advice ("replace the policy ...") cannot apply."""
    return bool(aws_managed_policy(finding.to_dict()))
