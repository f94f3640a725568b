""" "Who can...?" on hostile snapshots: pathological wildcards answer at once on the real server while others' pages
keep answering, cheap mistakes are refused before the snapshot is read, and the work has clear limits."""

import gzip
import json
import threading

import httpx

from audits import query_guard
from audits.models import RunInput
from audits.runs.inputs import store_input
from audits.tokens import create_token
from tests.helpers import make_run, session_cookie
from tests.test_query_views import ASK, snapshot_run

ACCOUNT = "123456789012"
GREEDY = f"arn:aws:iam::{ACCOUNT}:user/greedy"
# `.*a.*a...b` backtracks exponentially on "aaaa...": 12 stars against 44 a's never finished with a regex matcher.
BUCKET_PATTERN = "arn:aws:s3:::" + "*a" * 12 + "*b"
ROLE_PATTERN = f"arn:aws:iam::{ACCOUNT}:role/" + "*a" * 10 + "*b"
NO_MATCH = "arn:aws:s3:::" + "a" * 44
MATCH = "arn:aws:s3:::" + "a" * 44 + "b"


def pathological_bundle() -> dict:
    statements = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": BUCKET_PATTERN},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE_PATTERN},
        {
            "Effect": "Deny",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {"StringLike": {"s3:prefix": "*x" * 12 + "*y"}, "ArnLike": {"aws:SourceArn": BUCKET_PATTERN}},
        },
    ]
    return {
        "UserDetailList": [
            {
                "UserName": "greedy",
                "UserId": "AIDAGREEDY00000000001",
                "Arn": GREEDY,
                "Path": "/",
                "CreateDate": "2026-01-01T00:00:00Z",
                "UserPolicyList": [
                    {"PolicyName": "stars", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
                ],
                "GroupList": [],
                "AttachedManagedPolicies": [],
                "Tags": [],
            }
        ],
        "GroupDetailList": [],
        "RoleDetailList": [],
        "Policies": [],
    }


def decision_of(rows: list[dict]) -> str:
    return next(r["decision"] for r in rows if r["principal"] == GREEDY)


def test_it_answers_a_pathological_pattern_on_the_server_while_other_pages_answer(server, alice, bob):
    run = make_run(alice, source="snapshot")
    store_input(run, pathological_bundle())
    _, token = create_token(alice, "read only")  # the default scope: read
    asked: dict[str, httpx.Response] = {}
    cookies = session_cookie(alice)  # here, not in the asking thread, which would keep a database connection open

    def ask() -> None:
        with httpx.Client(timeout=20, cookies=cookies) as client:
            asked["page"] = client.get(
                f"{server}/audits/{run.pk}/query", params={"action": "s3:GetObject", "resource": NO_MATCH}
            )

    asking = threading.Thread(target=ask)
    asking.start()
    others = httpx.get(f"{server}/audits/", cookies=session_cookie(bob), timeout=20)
    asking.join(timeout=30)
    assert others.status_code == 200
    page = asked["page"]
    assert page.status_code == 200 and "greedy" in page.text and "0 allowed" in page.text

    def api(action: str, resource: str) -> httpx.Response:
        return httpx.get(
            f"{server}/api/v1/audits/{run.pk}/query",
            params={"action": action, "resource": resource},
            headers={"Authorization": f"Bearer {token}"},
            timeout=20,
        )

    denied = api("s3:GetObject", NO_MATCH)
    assert denied.status_code == 200 and decision_of(denied.json()["decisions"]) == "denied"
    allowed = api("s3:GetObject", MATCH)
    assert allowed.status_code == 200 and decision_of(allowed.json()["decisions"]) != "denied"
    role = api("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/" + "a" * 40)
    assert role.status_code == 200 and decision_of(role.json()["decisions"]) == "denied"
    role = api("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/" + "a" * 40 + "b")
    assert role.status_code == 200 and decision_of(role.json()["decisions"]) == "allowed"


def test_it_refuses_a_bad_action_before_reading_the_snapshot(client, alice):
    run = make_run(alice, source="snapshot")
    RunInput.objects.create(run=run, data=b"not gzip at all")  # reading it would fail
    client.force_login(alice)
    star = client.get(f"/audits/{run.pk}/query", {"action": "*"})
    assert star.status_code == 400 and "action must look like" in star.content.decode()
    long = client.get(f"/audits/{run.pk}/query", {"action": "s3:GetObject", "resource": "arn:" + "a" * 3000})
    assert long.status_code == 400 and "longer than 2048" in long.content.decode()
    read = client.get(f"/audits/{run.pk}/query", {"action": "s3:GetObject"})
    assert read.status_code == 400 and "cannot be read" in read.content.decode()


def test_it_refuses_a_snapshot_past_the_size_limit(client, alice, settings):
    settings.AEGIS_QUERY_MAX_SNAPSHOT_BYTES = 4096
    recorded = snapshot_run(alice)  # the row records its uncompressed size
    unrecorded = snapshot_run(alice, as_input=True)  # an older row without it: decompression stops at the limit
    client.force_login(alice)
    for run in (recorded, unrecorded):
        page = client.get(f"/audits/{run.pk}/query", ASK)
        assert page.status_code == 413 and "up to 4 KB" in page.content.decode()
    _, token = create_token(alice, "read only")
    api = client.get(f"/api/v1/audits/{recorded.pk}/query", ASK, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.status_code == 413 and "manage.py audit query" in api.json()["error"]


def test_it_answers_503_with_retry_after_while_every_slot_is_busy(client, alice):
    run = snapshot_run(alice)
    client.force_login(alice)
    _, token = create_token(alice, "read only")
    with query_guard.query_slot(), query_guard.query_slot():
        page = client.get(f"/audits/{run.pk}/query", ASK)
        api = client.get(f"/api/v1/audits/{run.pk}/query", ASK, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert page.status_code == 503 and page.headers["Retry-After"] == str(query_guard.RETRY_AFTER_S)
    assert api.status_code == 503 and "ask again" in api.json()["error"]
    assert client.get(f"/audits/{run.pk}/query", ASK).status_code == 200  # the slots were given back


def test_it_stops_a_question_past_its_time_limit(client, alice, monkeypatch):
    monkeypatch.setattr(query_guard, "QUERY_SECONDS", -1.0)
    run = snapshot_run(alice)
    client.force_login(alice)
    page = client.get(f"/audits/{run.pk}/query", ASK)
    assert page.status_code == 422 and "took longer than" in page.content.decode()


def test_it_reads_a_gzip_input_it_stored_itself(client, alice):
    run = make_run(alice, source="snapshot")
    RunInput.objects.create(run=run, data=gzip.compress(json.dumps(pathological_bundle()).encode()))
    client.force_login(alice)
    page = client.get(f"/audits/{run.pk}/query", {"action": "s3:GetObject", "resource": MATCH})
    assert page.status_code == 200 and "greedy" in page.content.decode()
