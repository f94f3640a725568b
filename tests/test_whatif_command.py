"""`manage.py audit whatif`: a change set, a script of `aws iam` lines or a Terraform plan applied to a snapshot; the
exit code gates CI on new paths to administrator."""

import io
import json

from audits.management.commands.audit import main

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
HARMLESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_it_fails_a_script_that_makes_an_administrator(tmp_path):
    script = tmp_path / "change.sh"
    script.write_text(
        f"# give the sandbox user admin\naws iam attach-user-policy --user-name sandbox-dev --policy-arn {ADMIN}\n"
    )
    code, out, _ = run("whatif", "--demo", "--change", str(script), "--format", "json", "--quiet")
    report = json.loads(out)
    assert code == 1 and report["gate"] == "fail"
    assert any(
        f["check_id"] == "user_admin_access" and f["principal_arn"].endswith(":user/sandbox-dev")
        for f in report["added"]
    )


def test_it_passes_a_change_that_opens_no_path(tmp_path):
    ops = [{"Operation": "PutUserPolicy", "UserName": "sandbox-dev", "PolicyName": "read", "PolicyDocument": HARMLESS}]
    change = tmp_path / "change.json"
    change.write_text(json.dumps(ops))
    code, out, _ = run("whatif", "--demo", "--change", str(change), "--format", "text")
    assert code == 0, out
    assert out.rstrip().endswith("gate: pass")


def test_it_reads_a_terraform_plan(tmp_path):
    plan = {
        "format_version": "1.2",
        "resource_changes": [
            {
                "address": "aws_iam_user_policy_attachment.x",
                "mode": "managed",
                "type": "aws_iam_user_policy_attachment",
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": {"user": "sandbox-dev", "policy_arn": ADMIN},
                },
            }
        ],
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    code, out, _ = run("whatif", "--demo", "--plan", str(path), "--format", "json")
    assert code == 1 and json.loads(out)["operations"] == 1


def test_it_refuses_what_it_cannot_model_with_a_one_line_error(tmp_path):
    script = tmp_path / "change.sh"
    script.write_text("aws s3 rb s3://bucket --force\n")
    code, out, err = run("whatif", "--demo", "--change", str(script))
    assert code == 2 and out == ""
    assert err.startswith("audit: ") and err.count("\n") == 1 and "aws iam" in err
    code, _, err = run("whatif", "--demo")
    assert code == 2 and "--change" in err
    code, _, err = run("--demo", "--change", str(script))
    assert code == 2 and "whatif" in err
