import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from audits.reviewers import REVIEWER_GROUP, reviewer_group
from audits.views.passwords import require_change


class Command(BaseCommand):
    help = (
        f"Create a reviewer: a normal (non-staff) login in the '{REVIEWER_GROUP}' group, with a one-time "
        "password printed once that must be changed at the first sign-in. An existing user is added to the group "
        "and keeps their password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args, **options) -> None:
        User = get_user_model()  # noqa: N806
        username = User.normalize_username(options["username"].strip())
        if not username or len(username) > 150:
            raise CommandError("Give a username of 1 to 150 characters.")
        user = User.objects.filter(username=username).first()
        if user is not None:
            user.groups.add(reviewer_group())
            self.stdout.write(f"User '{username}' exists; added to the '{REVIEWER_GROUP}' group, password unchanged.")
            return
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password)
            user.groups.add(reviewer_group())
            # Shown once, only the hash is stored, and it opens nothing but the page that replaces it.
            require_change(user)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created reviewer '{username}', who must choose their own password at the first sign-in. "
                f"One-time password: {password}"
            )
        )
