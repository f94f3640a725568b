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


# Reads of the environment outside settings.py that are allowed, and why.
ALLOWED_ENVIRONMENT_READS = {
    # Bootstrapping: which settings module to load, before there are settings.
    ("aegis_site/asgi.py", "setdefault"), ("aegis_site/wsgi.py", "setdefault"), ("manage.py", "setdefault"),
    # The engine stays free of Django (it runs from the command line and the benchmarks without settings); its
    # action-index cache directory is a per-process path that nothing else reads, documented with the settings.
    ("audits/iam/actions.py", "get"),
    # `manage.py audit` runs without django.setup() too: it reads AEGIS_VERIFY_FIXES_MAX_PRINCIPALS itself, with the
    # settings' reader and the worker's setting's default (tests/test_verify_fixes_default.py).
    ("audits/management/commands/audit.py", "envint"),
}  # fmt: skip


def environment_reads(path) -> set[tuple[str, str]]:
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "environ":
            found.add((path.relative_to(ROOT).as_posix(), node.attr))
        elif isinstance(node, ast.Attribute) and node.attr == "getenv":
            found.add((path.relative_to(ROOT).as_posix(), "getenv"))
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "environ":
            found.add((path.relative_to(ROOT).as_posix(), "[]"))
        elif isinstance(node, ast.Name) and node.id in {"envint", "envbool", "envlist", "envnetworks"}:
            found.add((path.relative_to(ROOT).as_posix(), node.id))
    return found


def test_it_reads_every_setting_in_settings_py():
    sources = [ROOT / "manage.py", *(ROOT / "aegis_site").rglob("*.py"), *(ROOT / "audits").rglob("*.py")]
    # settings.py and the env helpers it calls are where the environment is read.
    skipped = {ROOT / "aegis_site" / "settings.py", ROOT / "aegis_site" / "env.py"}
    reads = set().union(*(environment_reads(path) for path in sources if path not in skipped))
    assert reads <= ALLOWED_ENVIRONMENT_READS, sorted(reads - ALLOWED_ENVIRONMENT_READS)


@pytest.mark.parametrize(("changes", "message"), [
    ({"AEGIS_TRUSTED_PROXIES": "10.0.0.1, proxy.internal"}, "AEGIS_TRUSTED_PROXIES must list IP addresses"),
    ({"AEGIS_STALE_AFTER_S": "5", "AEGIS_HEARTBEAT_S": "10"}, "AEGIS_STALE_AFTER_S must be longer"),
    ({"PORT": "http"}, "PORT must be a whole number"),
])  # fmt: skip
def test_it_refuses_bad_values_at_start(changes, message):
    result = _start({"SECRET_KEY": "x", "DEBUG": "0", **changes})
    assert result.returncode != 0
    assert message in result.stderr


def test_it_reads_the_new_settings_from_the_environment():
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.AEGIS_TRUSTED_PROXIES, s.AEGIS_AUTO_RESUME, s.AEGIS_PORT, s.AEGIS_AWS_PRINCIPAL_ARN)")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(SECRET_KEY="x", DEBUG="0", DJANGO_SETTINGS_MODULE="aegis_site.settings", PORT="9001",
               AEGIS_TRUSTED_PROXIES="10.0.0.0/8,::1", AEGIS_AUTO_RESUME="no",
               AEGIS_AWS_PRINCIPAL_ARN="arn:aws:iam::111122223333:role/aegis")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    principal = "arn:aws:iam::111122223333:role/aegis"
    assert result.stdout.split() == ["['10.0.0.0/8',", "'::1']", "False", "9001", principal], result.stderr
