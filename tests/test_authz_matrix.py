"""Every URL x {anonymous, another user, owner, staff} -> the expected status, and no leaks."""

import httpx
import pytest
from django.test import Client

from audits.models import AuditRun, AwsConnection, Finding
from audits.runs.recorder import Recorder
from audits.tokens import create_token
from tests.helpers import make_finished_run, session_cookie

pytestmark = pytest.mark.django_db

SECRET_MARK = "owner-only-marker-7f3a"
LOGIN = "login"  # a redirect to the sign-in page


@pytest.fixture
def world(alice, bob, reviewer):
    run = make_finished_run(alice, count=3)
    AuditRun.objects.filter(pk=run.pk).update(account_id="123456789012", snapshot_name=SECRET_MARK)
    Recorder(run.pk).emit("finding", "f", 100, {"finding": {
        "check_id": "c", "category": "admin_access", "severity": "high", "title": SECRET_MARK, "fingerprint": "e" * 64,
    }})  # fmt: skip
    finding = Finding.objects.get(run=run)
    arn = "arn:aws:iam::123456789012:role/A"
    connection = AwsConnection.objects.create(owner=alice, name=SECRET_MARK, role_arn=arn)
    people = {"anonymous": None, "stranger": bob, "owner": alice, "staff": reviewer}
    return run, finding, connection, people


def reads(run, finding, connection) -> list[tuple[str, dict[str, object]]]:
    """GET URLs and what each kind of visitor gets."""
    seen: dict[str, object] = {"anonymous": LOGIN, "stranger": 404, "owner": 200, "staff": 200}
    private: dict[str, object] = {"anonymous": LOGIN, "stranger": 404, "owner": 200, "staff": 404}
    urls: list[tuple[str, dict[str, object]]] = [
        (f"/audits/{run.pk}/", seen),
        (f"/audits/{run.pk}/playback", seen),
        (f"/audits/{run.pk}/compare", seen),
        (f"/audits/{run.pk}/findings/{finding.pk}/", seen),
        (f"/audits/{run.pk}/query", seen),
        (f"/audits/{run.pk}/whatif", seen),
        (f"/audits/{run.pk}/events", {"anonymous": 401, "stranger": 404, "owner": 200, "staff": 200}),
        (f"/audits/{run.pk}/events?after=99", {"anonymous": 401, "stranger": 404, "owner": 204, "staff": 204}),
        (f"/audits/{run.pk}/replay?speed=100", {"anonymous": 401, "stranger": 404, "owner": 200, "staff": 200}),
        (f"/audits/connections/{connection.pk}/", private),
        # Review pages are for reviewers (staff or the reviewer group) only, the run's owner included.
        ("/audits/review/", {"anonymous": LOGIN, "stranger": 404, "owner": 404, "staff": 200}),
        (f"/audits/review/{run.pk}/", {"anonymous": LOGIN, "stranger": 404, "owner": 404, "staff": 200}),
    ]
    urls += [(f"/audits/{run.pk}/export/{name}", seen)
             for name in ("log.txt", "log.ndjson", "findings.json", "findings.csv", "findings.sarif",
                          "findings.ocsf.json")]  # fmt: skip
    return urls


def writes(run, connection) -> list[tuple[str, dict[str, object]]]:
    """POST URLs that change state: only the owner may (staff review, they do not act for owners)."""
    only_owner = {"anonymous": LOGIN, "stranger": 404, "owner": 302, "staff": 404}
    return [
        (f"/audits/{run.pk}/pause", only_owner),
        (f"/audits/{run.pk}/resume", only_owner),
        (f"/audits/{run.pk}/cancel", only_owner),
        (f"/audits/connections/{connection.pk}/delete", only_owner),
    ]


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def check(response, expected, who: str, url: str) -> None:
    if expected == LOGIN:
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], (who, url)
    else:
        assert response.status_code == expected, (who, url, response.status_code)
    if who in ("anonymous", "stranger"):
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert SECRET_MARK.encode() not in body, (who, url)


def test_it_serves_every_read_url_only_to_those_allowed(world):
    run, finding, connection, people = world
    for url, expected in reads(run, finding, connection):
        for who, user in people.items():
            check(client_for(user).get(url), expected[who], who, url)


def test_it_lets_only_the_owner_change_state(world):
    run, _, connection, people = world
    for url, expected in writes(run, connection):
        for who in ("anonymous", "stranger", "staff"):
            check(client_for(people[who]).post(url), expected[who], who, url)
    assert AuditRun.objects.get(pk=run.pk).status == AuditRun.Status.COMPLETED
    assert AwsConnection.objects.filter(pk=connection.pk).exists()
    check(client_for(people["owner"]).post(f"/audits/connections/{connection.pk}/delete"), 302, "owner", "delete")
    assert not AwsConnection.objects.filter(pk=connection.pk).exists()


def test_it_scopes_the_api_the_same_way(world):
    run, _, _, people = world
    for who, user in people.items():
        headers = {}
        if user is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {create_token(user, 'matrix')[1]}"
        client = Client()
        # A token reaches only its owner's runs, a staff owner's too (audits.tokens).
        expected = {"anonymous": 401, "stranger": 404, "owner": 200, "staff": 404}[who]
        for url in (f"/api/v1/audits/{run.pk}", f"/api/v1/audits/{run.pk}/findings"):
            check(client.get(url, **headers), expected, who, url)
        listing = client.get("/api/v1/audits", **headers)
        if user is None:
            assert listing.status_code == 401
        else:
            ids = [r["id"] for r in listing.json()["runs"]]
            assert (run.pk in ids) == (who == "owner"), who  # the list is "my runs", even for staff


def test_it_serves_the_stream_urls_the_same_from_the_real_server(server, world):
    """Production serves the stream URLs with the lean app, not the Django views the test client reaches."""
    run, finding, connection, people = world
    streams = [(url, seen) for url, seen in reads(run, finding, connection) if "/events" in url or "/replay" in url]
    assert len(streams) == 3
    for url, expected in streams:
        for who, user in people.items():
            response = httpx.get(server + url, cookies=session_cookie(user) if user else {})
            assert response.status_code == expected[who], (who, url, response.status_code)
            if who in ("anonymous", "stranger"):
                assert SECRET_MARK not in response.text, (who, url)
    for who, user in people.items():
        headers = {"Authorization": f"Bearer {create_token(user, 'matrix')[1]}"} if user else {}
        response = httpx.get(f"{server}/api/v1/audits/{run.pk}/events", headers=headers)
        # A token reaches only its owner's runs, a staff owner's too: the stream answers as the JSON API does.
        assert response.status_code == {"anonymous": 401, "stranger": 404, "owner": 200, "staff": 404}[who], who
