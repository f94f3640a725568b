#!/usr/bin/env python
import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["audit"]:
        # The audit command is the plain-Python engine: skipping Django's start-up halves its run time.
        from audits.management.commands.audit import main as audit_main

        sys.exit(audit_main(sys.argv[2:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aegis_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
