"""Setting up an admin or reviewer right after `make run`, without exporting anything by hand."""

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from audits.reviewers import is_reviewer
from tests.helpers import ROOT, make_user


def _manage(args: list[str], env_changes: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "SECRET_KEY", "DEBUG", "AEGIS_DEV"))}
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_it_reads_the_secret_key_file_make_run_writes(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text("file-secret-for-test\n")
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    result = _manage(["shell", "-c", code], {"AEGIS_SECRET_KEY_FILE": str(key_file), "DEBUG": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "file-secret-for-test"


def test_it_prefers_the_environment_over_the_file(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text("file-secret")
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    result = _manage(["shell", "-c", code], {"AEGIS_SECRET_KEY_FILE": str(key_file), "SECRET_KEY": "env-secret"})
    assert result.stdout.strip().splitlines()[-1] == "env-secret"


def test_it_has_a_make_admin_target_that_runs_createsuperuser():
    makefile = (ROOT / "Makefile").read_text()
    assert "\nadmin:" in makefile
    assert "manage.py createsuperuser" in makefile.split("\nadmin:", 1)[1].split("\n\n", 1)[0]


@pytest.mark.django_db
def test_it_creates_a_reviewer_with_a_one_time_password():
    out = StringIO()
    call_command("create_reviewer", "rita", stdout=out)
    password = out.getvalue().strip().rsplit(": ", 1)[1]
    rita = get_user_model().objects.get(username="rita")
    assert rita.check_password(password)
    assert not rita.is_staff and not rita.is_superuser
    assert is_reviewer(rita)


@pytest.mark.django_db
def test_it_adds_an_existing_user_to_reviewers_without_touching_the_password():
    sam = make_user("sam")
    out = StringIO()
    call_command("create_reviewer", "sam", stdout=out)
    sam.refresh_from_db()
    assert sam.check_password("sam-pw-123")
    assert is_reviewer(sam)
    assert "password unchanged" in out.getvalue()


@pytest.mark.django_db
def test_it_refuses_an_empty_username():
    with pytest.raises(CommandError, match="1 to 150"):
        call_command("create_reviewer", "  ")
