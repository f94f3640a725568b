import io
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from django.core.management import CommandError, call_command
from moto import mock_aws

from audits.management.commands.audit import main

ROOT = Path(__file__).resolve().parent.parent
EMPTY: dict[str, list] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}


def audit(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path, content, name="snap.json") -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_it_audits_the_demo_account_to_json():
    code, out, err = audit("--demo", "--frameworks", "pci_dss,hipaa")
    report = json.loads(out)
    assert code == 0
    assert report["account"]["id"] == "123456789012" and report["run"]["source"] == "demo"
    assert {f["key"] for f in report["frameworks"]} == {"pci_dss", "hipaa"}
    assert report["summary"]["by_severity"]["critical"] > 0
    assert "complete:" in err and "finding:" not in err


def test_it_exits_1_when_findings_reach_fail_on(tmp_path):
    output = tmp_path / "report.sarif"
    code, out, err = audit("--demo", "--format", "sarif", "--output", str(output), "--fail-on", "critical")
    assert code == 1 and out == "" and "at or above critical" in err
    assert json.loads(output.read_text())["version"] == "2.1.0"


def test_it_exits_0_for_a_clean_snapshot(tmp_path):
    code, out, _ = audit("--snapshot", write(tmp_path, EMPTY), "--format", "csv", "--fail-on", "medium", "--quiet")
    assert code == 0 and out.startswith("severity,check_id")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--snapshot", "{missing}"], "cannot read"),
        (["--snapshot", "{bad}"], "snap.json: Snapshot is not valid JSON: Expecting"),
        (["--snapshot", "{empty}", "--frameworks", "pci_dss,sox"], "unknown framework sox; choose from"),
        (["--demo", "--role-arn", "arn:aws:iam::123456789012:role/x"], "--role-arn and --external-id go with --live"),
    ],
)
def test_it_exits_2_on_bad_input(tmp_path, argv, message):
    paths = {
        "missing": str(tmp_path / "nope.json"),
        "bad": write(tmp_path, '{"UserDetailList": ['),
        "empty": write(tmp_path, EMPTY, "empty.json"),
    }
    code, out, err = audit(*[a.format(**paths) for a in argv])
    assert code == 2 and out == "" and message in err and "Traceback" not in err


def test_it_refuses_an_oversized_file_without_reading_it(tmp_path):
    path = tmp_path / "huge.json"
    with path.open("wb") as fh:
        fh.truncate(60 * 1024 * 1024)  # sparse: no disk used
    code, _, err = audit("--snapshot", str(path))
    assert code == 2 and "limit is 50 MB" in err


def test_it_exits_2_on_a_usage_error():
    code, _, _ = audit("--demo", "--live")
    assert code == 2


def test_it_draws_a_progress_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    err = Terminal()
    assert main(["--demo"], stdout=io.StringIO(), stderr=err) == 0
    assert "\r[####################] 100% Audit complete" in err.getvalue()


def test_it_audits_a_live_account(monkeypatch):
    monkeypatch.setattr("audits.iam.collect.REPORT_POLL_SECONDS", 0)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        boto3.client("iam", region_name="us-east-1").create_user(UserName="intern")
        code, out, _ = audit("--live", "--quiet")
    assert code == 0 and json.loads(out)["run"]["source"] == "live"


def test_it_runs_through_call_command(tmp_path):
    output = tmp_path / "r.json"
    call_command("audit", "--demo", "--quiet", "--output", str(output))
    assert json.loads(output.read_text())["summary"]["total_findings"] > 0
    with pytest.raises(CommandError) as exc:
        call_command("audit", "--demo", "--quiet", "--output", str(output), "--fail-on", "high")
    assert exc.value.returncode == 1


def test_it_reads_a_snapshot_from_standard_input(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(EMPTY).encode())))
    code, out, _ = audit("--snapshot", "-", "--quiet")
    assert code == 0 and json.loads(out)["run"]["snapshot_name"] == "stdin"


def test_it_prints_no_traceback_through_manage_py(tmp_path):
    bad = write(tmp_path, {"RoleDetailList": [{"RoleName": "x", "Arn": "arn:aws:iam::1:role/x"}]})
    proc = subprocess.run(
        [sys.executable, "manage.py", "audit", "--snapshot", bad],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"AEGIS_DEV": "1", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "is missing UserDetailList" in proc.stderr and "Traceback" not in proc.stderr


LITERATURE = ROOT / "tests" / "iam" / "scenarios" / "literature_account.json"
HIGH_PRIV = "arn:aws:iam::111122223333:role/privesc-high-priv-service-role"


def test_it_answers_who_can_pass_a_role_as_json():
    code, out, _ = audit("query", "--snapshot", str(LITERATURE), "--action", "iam:PassRole", "--resource", HIGH_PRIV)
    decisions = json.loads(out)["decisions"]
    assert code == 0 and {d["decision"] for d in decisions} <= {"allowed", "denied", "conditional"}
    by_arn = {d["principal"]: d for d in decisions}
    allowed = by_arn["arn:aws:iam::111122223333:role/nm-PassRoleAlone-role"]
    assert allowed["decision"] == "allowed" and allowed["statements"][0]["index"] == 1
    assert any(d["decision"] == "denied" for d in decisions)


def test_it_names_the_open_conditions_of_a_conditional_decision(tmp_path):
    cond = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    snap = {
        **EMPTY,
        "UserDetailList": [
            {
                "UserName": "u",
                "Arn": "arn:aws:iam::111122223333:user/u",
                "UserPolicyList": [
                    {
                        "PolicyName": "p",
                        "PolicyDocument": {
                            "Statement": [
                                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": cond}
                            ]
                        },
                    }
                ],
            }
        ],
    }
    code, out, _ = audit(
        "query",
        "--snapshot",
        write(tmp_path, snap),
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::b/k",
        "--format",
        "text",
    )
    assert code == 0 and out.splitlines()[1].startswith("CONDITIONAL") and "only if" in out
    code, out, _ = audit("query", "--snapshot", write(tmp_path, snap), "--action", "s3:GetObject", "--principal", "u")
    [row] = json.loads(out)["decisions"]
    assert row["conditions"][0]["key"] == "aws:MultiFactorAuthPresent"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--action", "not-an-action"), "service:Action"),
        (("--action", "iam:NoSuchThing"), "unknown action"),
        ((), "needs --action"),
        (("--action", "iam:PassRole", "--format", "csv"), "json or text"),
        (("--action", "iam:PassRole", "--principal", "nobody"), "no user or role"),
    ],
)
def test_it_refuses_a_bad_query_clearly(argv, message):
    code, out, err = audit("query", "--snapshot", str(LITERATURE), *argv)
    assert code == 2 and out == "" and message in err


def test_it_runs_the_query_through_manage_py():
    run = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "audit",
            "query",
            "--snapshot",
            str(LITERATURE),
            "--action",
            "sts:AssumeRole",
            "--principal",
            "privesc-AssumeRole-role",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["decisions"][0]["principal"].endswith("role/privesc-AssumeRole-role")
