""".ci/run: every step runs, any failure fails CI, and a suite that collected nothing is a failure."""

import os
import shutil
import subprocess

import pytest

from tests.helpers import ROOT


def run_ci(tmp_path, *, lint: int, sqlite: int, postgres: int) -> subprocess.CompletedProcess:
    """.ci/run in a copy of the tree whose make, pytest and pg_isready only report the exit codes given."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    bin_dir, venv_bin = tmp_path / "bin", tmp_path / ".venv" / "bin"
    bin_dir.mkdir()
    venv_bin.mkdir(parents=True)
    scripts = {
        # make test runs the suite, as the Makefile does; the stub suite reports the exit code given.
        bin_dir / "make": f'[ "$1" = lint ] && exit {lint}; [ "$1" = test ] && exec .venv/bin/python -m pytest; exit 0',
        bin_dir / "pg_isready": "exit 0",
        venv_bin / "python": f'echo "pytest with DATABASE_URL=${{DATABASE_URL:-}}"; '
        f'[ -n "${{DATABASE_URL:-}}" ] && exit {postgres}; exit {sqlite}',
    }
    for path, body in scripts.items():
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(["bash", ".ci/run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_it_passes_when_every_step_passes(tmp_path):
    result = run_ci(tmp_path, lint=0, sqlite=0, postgres=0)
    assert result.returncode == 0, result.stdout
    assert "pytest with DATABASE_URL=\n" in result.stdout and "DATABASE_URL=postgres://" in result.stdout


@pytest.mark.parametrize(("codes", "reported"), [
    ({"lint": 2, "sqlite": 0, "postgres": 0}, "lint: exit 2"),
    ({"lint": 0, "sqlite": 1, "postgres": 0}, "tests on SQLite: exit 1"),
    ({"lint": 0, "sqlite": 0, "postgres": 5}, "tests on PostgreSQL: no tests ran"),
    ({"lint": 0, "sqlite": 5, "postgres": 5}, "tests on SQLite: no tests ran"),
])  # fmt: skip
def test_it_fails_on_any_failed_step_and_still_runs_the_rest(tmp_path, codes, reported):
    result = run_ci(tmp_path, **codes)
    assert result.returncode == 1, result.stdout
    assert reported in result.stdout
    assert result.stdout.count("pytest with DATABASE_URL=") == 2, "a failure stopped the later steps"


def test_it_is_run_with_ci_set_so_browser_skips_fail():
    assert 'export CI="${CI:-true}"' in (ROOT / ".ci" / "run").read_text()
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
