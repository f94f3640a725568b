"""`{{ run|source_label }}`: what a run audited, as a person recognises it (audits.runs.sources.label)."""

from django import template

from audits.models import AuditRun
from audits.runs import sources

register = template.Library()


@register.filter
def source_label(run: AuditRun) -> str:
    return sources.label(run)
