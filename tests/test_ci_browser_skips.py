"""Under CI a skipped browser test fails the suite; locally it stays a skip."""

import subprocess
import sys
import textwrap
import uuid

import pytest

from tests.helpers import ROOT

PROBE = textwrap.dedent("""
    import pytest

    pytestmark = pytest.mark.browser

    def test_it_needs_a_browser():
        pytest.skip("Chromium is not installed")
""")


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 failed"), ("", "1 skipped")])
def test_it_fails_a_skipped_browser_test_only_under_ci(tmp_path, ci, outcome):
    probe = ROOT / "tests" / f"test_probe_ci_{uuid.uuid4().hex}.py"  # beside the conftest whose hook it checks
    probe.write_text(PROBE)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", str(probe)],
            cwd=ROOT, env={"PATH": "/usr/bin:/bin", "CI": ci, "AEGIS_DATA_DIR": str(tmp_path)},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        probe.unlink()
    assert outcome in result.stdout, result.stdout[-2000:]
    if ci:
        assert "CI must run the browser tests (Skipped: Chromium is not installed)" in result.stdout
