"""Configuration from the environment: loud failures, WAL, DATABASE_URL."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from aegis_site.env import envbool, envint, envlist
from tests.helpers import ROOT


def _start(env_changes: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "SECRET_KEY", "DEBUG", "AEGIS_DEV"))}
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["DJANGO_SETTINGS_MODULE"] = "aegis_site.settings"
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_it_refuses_a_production_start_without_a_secret_key():
    result = _start({"SECRET_KEY": None, "DEBUG": "0", "AEGIS_SECRET_KEY_FILE": "/nonexistent/secret_key"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_it_starts_with_a_secret_key():
    result = _start({"SECRET_KEY": "s3cret-for-test", "DEBUG": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_it_rejects_a_malformed_boolean():
    result = _start({"SECRET_KEY": "x", "DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr


def test_it_reads_typed_values(monkeypatch):
    monkeypatch.setenv("AEGIS_X_BOOL", "yes")
    monkeypatch.setenv("AEGIS_X_INT", "12")
    monkeypatch.setenv("AEGIS_X_LIST", "a.example, b.example,")
    assert envbool("AEGIS_X_BOOL", False) is True
    assert envint("AEGIS_X_INT", 0) == 12
    assert envlist("AEGIS_X_LIST", []) == ["a.example", "b.example"]
    monkeypatch.setenv("AEGIS_X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="AEGIS_X_INT must be a whole number"):
        envint("AEGIS_X_INT", 0)


@pytest.mark.django_db
def test_it_uses_wal_on_sqlite_and_the_database_url_otherwise():
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
        else:
            assert os.environ.get("DATABASE_URL")
            assert connection.vendor == "postgresql"


def test_it_passes_the_deployment_checks_with_production_settings():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DEBUG", "AEGIS_DEV"))}
    env.update(
        SECRET_KEY="p" * 20 + "-Zx9!long-random-production-key-for-the-check-0123456789",
        DEBUG="0",
        AEGIS_HTTPS="1",
        ALLOWED_HOSTS="aegis.example.com",
        DJANGO_SETTINGS_MODULE="aegis_site.settings",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
