import sys

from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "IAM audits"

    def ready(self) -> None:
        if len(sys.argv) > 1 and sys.argv[1] == "db_worker":
            # Load the engine and its IAM action data at start-up, not during the first audit.
            import audits.iam  # noqa: F401
