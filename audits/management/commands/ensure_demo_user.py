import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the 'demo' login if it does not exist (password from AEGIS_DEMO_PASSWORD, else random)."

    def handle(self, *args, **options) -> None:
        User = get_user_model()  # noqa: N806
        wanted = settings.AEGIS_DEMO_PASSWORD
        user = User.objects.filter(username="demo").first()
        if user is not None:
            if wanted and not user.check_password(wanted):
                user.set_password(wanted)
                user.save(update_fields=["password"])
                self.stdout.write("Login 'demo' exists; password set from AEGIS_DEMO_PASSWORD.")
            else:
                self.stdout.write("Login 'demo' exists; its password is unchanged.")
            return
        password = wanted or secrets.token_urlsafe(12)
        User.objects.create_user(username="demo", password=password)
        if wanted:
            self.stdout.write("Created login 'demo' with the password from AEGIS_DEMO_PASSWORD.")
        else:
            # Shown once: it is stored only as a hash.
            self.stdout.write(self.style.SUCCESS(f"Created login 'demo' with password: {password}"))
