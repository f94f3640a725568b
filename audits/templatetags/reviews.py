from django import template

from audits.reviewers import is_reviewer as _is_reviewer

register = template.Library()


@register.filter
def is_reviewer(user) -> bool:
    return _is_reviewer(user)
