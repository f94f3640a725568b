"""Fixes are proven by default in the CLI as in the worker, for accounts up to AEGIS_VERIFY_FIXES_MAX_PRINCIPALS
users and roles, so `manage.py audit` and the portal print the same fixes; --verify-fixes and --no-verify-fixes
override the default either way."""

import json

from django.conf import settings

from audits.iam.fix_plan import HANDLED, VERIFY_MAX_PRINCIPALS
from tests.test_audit_command import audit


def fixes(out: str) -> list[dict]:
    report = json.loads(out)
    found = [f["fix"] for f in report["findings"] if f["check_id"] in HANDLED and f.get("fix")]
    assert found, "the demo account has admin and escalation findings with fixes"
    return found


def test_the_worker_and_the_cli_share_one_default(monkeypatch):
    monkeypatch.delenv("AEGIS_VERIFY_FIXES_MAX_PRINCIPALS", raising=False)
    assert settings.AEGIS_VERIFY_FIXES_MAX_PRINCIPALS == VERIFY_MAX_PRINCIPALS


def test_the_cli_proves_fixes_by_default_on_an_account_under_the_limit(monkeypatch):
    monkeypatch.delenv("AEGIS_VERIFY_FIXES_MAX_PRINCIPALS", raising=False)
    code, out, _ = audit("--demo", "--quiet")
    proven = fixes(out)
    assert code == 0
    assert all(f["rounds"] >= 1 for f in proven), "every fix went through at least one proof round"
    assert sum(f["verified"] for f in proven) >= len(proven) - 2, "all but protected roles' fixes are verified"


def test_no_verify_fixes_prints_first_cuts_marked_not_verified(monkeypatch):
    monkeypatch.delenv("AEGIS_VERIFY_FIXES_MAX_PRINCIPALS", raising=False)
    code, out, _ = audit("--demo", "--quiet", "--no-verify-fixes")
    cuts = fixes(out)
    assert code == 0
    assert not any(f["verified"] for f in cuts) and all(f["rounds"] == 0 for f in cuts)


def test_past_the_limit_fixes_are_first_cuts_unless_asked(monkeypatch):
    monkeypatch.setenv("AEGIS_VERIFY_FIXES_MAX_PRINCIPALS", "10")  # the demo account has more users and roles
    _, out, _ = audit("--demo", "--quiet")
    assert not any(f["verified"] for f in fixes(out))
    _, out, _ = audit("--demo", "--quiet", "--verify-fixes")
    assert any(f["verified"] for f in fixes(out))


def test_a_bad_limit_or_both_flags_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("AEGIS_VERIFY_FIXES_MAX_PRINCIPALS", "lots")
    code, out, err = audit("--demo", "--quiet")
    assert code == 2 and out == "" and "AEGIS_VERIFY_FIXES_MAX_PRINCIPALS must be a whole number" in err
    monkeypatch.delenv("AEGIS_VERIFY_FIXES_MAX_PRINCIPALS")
    code, _, _ = audit("--demo", "--verify-fixes", "--no-verify-fixes")
    assert code == 2 and "not allowed with argument --verify-fixes" in capsys.readouterr().err  # argparse's usage
