"""The policy simulator's two doors: `manage.py audit simulate --input FILE` and POST /api/v1/simulate."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audits.management.commands.audit import main
from audits.tokens import create_token
from audits.views.simulate import MAX_BODY_BYTES

ROOT = Path(__file__).resolve().parent.parent
REQUEST = {
    "PolicyInputList": [
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"},
                    {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
                ],
            }
        )
    ],
    "ActionNames": ["s3:GetObject", "s3:DeleteObject", "s3:PutObject"],
    "ResourceArns": ["arn:aws:s3:::reports/q1.csv"],
}
DECISIONS = ["allowed", "explicitDeny", "implicitDeny"]


def write(tmp_path, content, name="request.json") -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def decisions(response: dict) -> list[str]:
    return [r["EvalDecision"] for r in response["EvaluationResults"]]


def auth(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


# The management command


def test_it_simulates_through_call_command(tmp_path):
    out = io.StringIO()
    call_command("audit", "simulate", "--input", write(tmp_path, REQUEST), stdout=out)
    response = json.loads(out.getvalue())
    assert decisions(response) == DECISIONS and response["IsTruncated"] is False
    assert response["EvaluationResults"][0]["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"


def test_it_reports_a_bad_request_through_call_command(tmp_path):
    with pytest.raises(CommandError) as exc:
        call_command("audit", "simulate", "--input", write(tmp_path, {"ActionNames": ["s3:GetObject"]}))
    assert exc.value.returncode == 2


def test_it_prints_a_table_and_writes_to_a_file(tmp_path):
    output = tmp_path / "answer.txt"
    out, err = io.StringIO(), io.StringIO()
    argv = ["simulate", "--input", write(tmp_path, REQUEST), "--format", "table", "--output", str(output)]
    assert main(argv, stdout=out, stderr=err) == 0
    rows = output.read_text().splitlines()
    assert rows[0].startswith("ACTION") and [row.split()[2] for row in rows[1:]] == DECISIONS


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate"], "simulate needs --input FILE"),
        (["simulate", "--input", "{missing}"], "cannot read"),
        (["simulate", "--input", "{request}", "--demo"], "simulate reads its policies from --input"),
        (["simulate", "--input", "{request}", "--format", "csv"], "simulate --format is json or table"),
        (["--demo", "--input", "{request}"], "--input goes with the simulate command"),
        ([], "one of --snapshot, --live or --demo is required"),
    ],
)
def test_it_exits_2_on_misuse(tmp_path, argv, message):
    paths = {"missing": str(tmp_path / "nope.json"), "request": write(tmp_path, REQUEST)}
    out, err = io.StringIO(), io.StringIO()
    code = main([a.format(**paths) for a in argv], stdout=out, stderr=err)
    assert code == 2 and out.getvalue() == "" and message in err.getvalue()


def manage_py(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "audit", *argv],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        env={"AEGIS_DEV": "1", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )


def test_it_gives_one_line_and_exit_2_for_a_bad_file_through_manage_py(tmp_path):
    bad = write(tmp_path, '{"PolicyInputList": ["{\\"Statement\\": ["], "ActionNames": ["s3:GetObject"]}')
    proc = manage_py("simulate", "--input", bad)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("audit: ") and "PolicyInputList.1 is not valid JSON" in proc.stderr


def test_it_reads_standard_input_through_manage_py():
    proc = manage_py("simulate", "--input", "-", stdin=json.dumps(REQUEST))
    assert proc.returncode == 0, proc.stderr
    assert decisions(json.loads(proc.stdout)) == DECISIONS


# The API


@pytest.mark.django_db
def test_it_simulates_for_a_read_only_token(client, alice):
    _, raw = create_token(alice, "ci")
    response = client.post("/api/v1/simulate", REQUEST, content_type="application/json", **auth(raw))
    assert response.status_code == 200
    body = response.json()
    assert decisions(body) == DECISIONS and body["IsTruncated"] is False
    assert body["EvaluationResults"][1]["MatchedStatements"][0]["StartPosition"]["Line"] == 1


@pytest.mark.django_db
def test_it_refuses_strangers_and_session_cookies(client, alice):
    assert client.post("/api/v1/simulate", REQUEST, content_type="application/json").status_code == 401
    bad = client.post("/api/v1/simulate", REQUEST, content_type="application/json", **auth("aeg_nonsense"))
    assert bad.status_code == 401 and bad["WWW-Authenticate"].startswith("Bearer")
    client.force_login(alice)
    assert client.post("/api/v1/simulate", REQUEST, content_type="application/json").status_code == 401


@pytest.mark.django_db
def test_it_takes_only_post(client, alice):
    _, raw = create_token(alice, "ci")
    assert client.get("/api/v1/simulate", **auth(raw)).status_code == 405


@pytest.mark.django_db
def test_it_explains_bad_requests_as_json(client, alice):
    _, raw = create_token(alice, "ci")
    for body, message in [
        ("not json", "not valid JSON"),
        ('{"ActionNames": ["s3:GetObject"]}', "PolicyInputList is required"),
        (json.dumps({**REQUEST, "ActionNames": ["s3:*"]}), "no wildcards"),
    ]:
        response = client.post("/api/v1/simulate", body, content_type="application/json", **auth(raw))
        assert response.status_code == 400, body
        assert message in response.json()["error"]


@pytest.mark.django_db
def test_it_refuses_a_body_over_the_limit(client, alice):
    _, raw = create_token(alice, "ci")
    padding = json.dumps({"Version": "2012-10-17", "Statement": [], "Id": "x" * MAX_BODY_BYTES})
    body = json.dumps({**REQUEST, "PolicyInputList": [padding]})
    response = client.post("/api/v1/simulate", body, content_type="application/json", **auth(raw))
    assert response.status_code == 413 and "256 KB" in response.json()["error"]


@pytest.mark.django_db
def test_it_refuses_more_work_than_the_budget(client, alice):
    _, raw = create_token(alice, "ci")
    statements = [{"Effect": "Allow", "Action": f"s3:Get{n}", "Resource": "*"} for n in range(30)]
    heavy = {
        "PolicyInputList": [json.dumps({"Version": "2012-10-17", "Statement": statements})],
        "ActionNames": [f"s3:Get{n}" for n in range(100)],
        "ResourceArns": [f"arn:aws:s3:::b/{n}" for n in range(100)],
    }
    response = client.post("/api/v1/simulate", heavy, content_type="application/json", **auth(raw))
    assert response.status_code == 400 and "the limit is 200,000" in response.json()["error"]
