"""Who reviews runs in the portal: staff, or members of the `reviewer` group (no admin rights needed)."""

from django.contrib.auth.models import Group

REVIEWER_GROUP = "reviewer"


def is_reviewer(user) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or user.groups.filter(name=REVIEWER_GROUP).exists()


def reviewer_group() -> Group:
    group, _ = Group.objects.get_or_create(name=REVIEWER_GROUP)
    return group
