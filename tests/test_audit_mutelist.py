"""`manage.py audit --mutelist FILE`: a mutelist file applied to an offline audit as the portal applies its rules."""

import io
import json
import subprocess
import sys

from audits.management.commands.audit import main
from tests.helpers import ROOT

MUTELIST = """\
Mutelist:
  Accounts:
    "123456789012":
      Checks:
        console_user_without_mfa:
          - Resources: ["arn:aws:iam::123456789012:user/*"]
            Exceptions:
              Resources: ["arn:aws:iam::*:user/intern"]
            Reason: "Console users sign in through the IdP"
            Expires: "2999-12-31"
        user_admin_access:
          - Resources: ["arn:aws:iam::*:user/terraform"]
            Reason: "Terraform's own user, kept in the vault"
            Expires: "2999-12-31"
          - Resources: ["arn:aws:iam::*:user/alice.admin"]
            Reason: "Expired on purpose"
            Expires: "2001-01-01"
"""
NO_MFA = "rule Accounts.123456789012.Checks.console_user_without_mfa[0]: Console users sign in through the IdP"
TERRAFORM = "rule Accounts.123456789012.Checks.user_admin_access[0]: Terraform's own user, kept in the vault"


def audit(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_it_mutes_what_the_file_covers_and_leaves_it_out_of_the_score_and_counts(tmp_path):
    path = tmp_path / "mutelist.yaml"
    path.write_text(MUTELIST)
    _, plain, _ = audit("--demo", "--quiet")
    code, out, err = audit("--demo", "--quiet", "--mutelist", str(path))
    assert code == 0
    assert "warning: Accounts.123456789012.Checks.user_admin_access[1] expired on 2001-01-01; it mutes nothing" in err
    before, report = json.loads(plain), json.loads(out)
    muted = {(f["check_id"], f["principal_name"]): f["muted_by"] for f in report["findings"] if f.get("suppressed")}
    assert muted == {
        ("console_user_without_mfa", "carol.ops"): NO_MFA,
        ("console_user_without_mfa", "dave.contractor"): NO_MFA,
        ("console_user_without_mfa", "eve.former-employee"): NO_MFA,
        ("user_admin_access", "terraform"): TERRAFORM,
    }  # the intern is excepted; alice.admin's rule has expired
    assert len(report["findings"]) == len(before["findings"])  # muted findings stay in the report
    assert report["summary"]["total_findings"] == before["summary"]["total_findings"] - 4
    assert report["summary"]["suppressed_findings"] == 4
    assert report["summary"]["by_severity"]["critical"] == before["summary"]["by_severity"]["critical"] - 1
    assert report["summary"]["risk_score"] <= before["summary"]["risk_score"]
    assert report["run"]["mutelist"] == {"file": "mutelist.yaml", "rules": 2}
    assert not any(r["fingerprint"] in {f["fingerprint"] for f in report["findings"] if f.get("suppressed")}
                   for r in report["summary"]["top_risks"])  # fmt: skip

    _, sarif_text, _ = audit("--demo", "--quiet", "--format", "sarif", "--mutelist", str(path))
    results = json.loads(sarif_text)["runs"][0]["results"]
    suppressed = [r["suppressions"][0]["justification"] for r in results if r.get("suppressions")]
    assert sorted(suppressed) == sorted(muted.values())


def test_fail_on_leaves_muted_findings_out(tmp_path):
    # Every critical finding of the demo account muted: --fail-on critical passes, --fail-on high still fails.
    path = tmp_path / "all-critical.yaml"
    path.write_text(
        'Mutelist:\n  Accounts:\n    "*":\n      Checks:\n        "*":\n'
        '          Reason: "Accepted for the demo"\n          Expires: "2999-12-31"\n'
    )
    assert audit("--demo", "--quiet", "--fail-on", "critical")[0] == 1
    code, out, _ = audit("--demo", "--quiet", "--fail-on", "info", "--mutelist", str(path))
    assert code == 0 and json.loads(out)["summary"]["total_findings"] == 0


def test_it_refuses_a_bad_or_misplaced_mutelist(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text('Mutelist:\n  Accounts:\n    "12":\n      Checks:\n        "*":\n          Reason: ""\n')
    code, out, err = audit("--demo", "--quiet", "--mutelist", str(bad))
    assert code == 2 and out == ""
    assert "audit: bad.yaml: Accounts.12.Checks.*: the account must be '*' or a 12-digit AWS account id." in err
    assert "the reason is required" in err
    assert "cannot read" in audit("--demo", "--mutelist", str(tmp_path / "missing.yaml"))[2]
    code, _, err = audit("fixes", "--demo", "--mutelist", str(bad))
    assert code == 2 and "--mutelist goes with a report" in err


def test_manage_py_applies_a_mutelist_without_django(tmp_path):
    path = tmp_path / "mutelist.yaml"
    path.write_text(MUTELIST)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "manage.py", "audit", "--demo", "--quiet", "--mutelist", str(path)],
        cwd=ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sum(1 for f in json.loads(proc.stdout)["findings"] if f.get("suppressed")) == 4
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}
    assert "audits.mutelist" in imported and "django.db.models" not in imported
