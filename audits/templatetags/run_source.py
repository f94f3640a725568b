"""`{{ run|source_label }}`: what a run audited, as a person recognises it (audits.run_sources.label)."""

from django import template

from audits import run_sources
from audits.models import AuditRun

register = template.Library()


@register.filter
def source_label(run: AuditRun) -> str:
    return run_sources.label(run)
