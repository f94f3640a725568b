"""The active-run limit: paused runs count, resume and retry are checked, the check comes before an upload is
processed, and neither two simultaneous starts nor two simultaneous retries get past it."""

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audits.models import AuditRun
from audits.runs import status as run_status
from audits.tokens import create_token
from tests.helpers import make_run, session_cookie

Status = AuditRun.Status
LIMIT_WORDS = "the limit is 3"


@pytest.fixture(autouse=True)
def limit_of_three(settings):
    settings.AEGIS_MAX_ACTIVE_RUNS = 3


def active(owner) -> int:
    return AuditRun.objects.filter(owner=owner, status__in=[Status.QUEUED, Status.RUNNING, Status.PAUSED]).count()


def pause_as_the_worker_would(run: AuditRun) -> None:
    token = run_status.claim(run.pk)
    assert token and run_status.pause(run.pk)
    run_status.mark_paused(run.pk, token)


@pytest.mark.django_db
def test_it_counts_paused_runs_so_pause_and_start_again_cannot_pass_the_limit(client, alice):
    client.force_login(alice)
    for _ in range(3):
        assert client.post("/audits/new", {"source": "demo"}).status_code == 302
    for run in AuditRun.objects.filter(owner=alice):
        pause_as_the_worker_would(run)
    refused = client.post("/audits/new", {"source": "demo"})
    assert refused.status_code == 400 and LIMIT_WORDS in refused.text and "paused" in refused.text
    for run in AuditRun.objects.filter(owner=alice):
        client.post(f"/audits/{run.pk}/resume")
    assert AuditRun.objects.filter(owner=alice, status=Status.QUEUED).count() == 3
    assert AuditRun.objects.filter(owner=alice).count() == 3


@pytest.mark.django_db
def test_it_refuses_to_resume_past_the_limit(client, alice):
    interrupted = make_run(alice, status=Status.INTERRUPTED)
    for status in (Status.RUNNING, Status.QUEUED, Status.PAUSED):
        make_run(alice, status=status)
    client.force_login(alice)
    page = client.post(f"/audits/{interrupted.pk}/resume", follow=True)
    assert LIMIT_WORDS in page.text
    interrupted.refresh_from_db()
    assert interrupted.status == Status.INTERRUPTED and active(alice) == 3


@pytest.mark.django_db
def test_it_refuses_a_retry_at_the_limit_with_a_clear_message(client, alice):
    failed = make_run(alice, status=Status.FAILED)
    for _ in range(3):
        make_run(alice, status=Status.PAUSED)
    client.force_login(alice)
    page = client.post(f"/audits/{failed.pk}/retry", follow=True)
    assert page.redirect_chain[-1][0] == f"/audits/{failed.pk}/"
    assert LIMIT_WORDS in page.text and "wait for one to finish or cancel one" in page.text
    assert AuditRun.objects.filter(retry_of=failed).count() == 0


@pytest.mark.django_db
def test_it_answers_a_second_retry_with_the_first_ones_run(client, alice):
    failed = make_run(alice, status=Status.FAILED)
    client.force_login(alice)
    first = client.post(f"/audits/{failed.pk}/retry")
    again = client.post(f"/audits/{failed.pk}/retry", follow=True)
    new = AuditRun.objects.get(retry_of=failed)
    assert first["Location"] == again.redirect_chain[0][0] == f"/audits/{new.pk}/"
    assert f"already retried as audit #{new.pk}" in again.text


@pytest.mark.django_db
def test_it_checks_the_limit_before_reading_an_upload(client, alice):
    for _ in range(3):
        make_run(alice, status=Status.PAUSED)
    client.force_login(alice)
    # Not a snapshot at all: had it been read, the answer would be about its content.
    garbage = SimpleUploadedFile("big.json", b"\x00not json" * 1000, content_type="application/json")
    portal = client.post("/audits/new", {"source": "snapshot", "snapshot_file": garbage})
    assert portal.status_code == 400 and LIMIT_WORDS in portal.text and 'id="snapshot-error"' not in portal.text
    _, raw = create_token(alice, "ci", scope="write")
    api = client.post("/api/v1/audits", b"{not json", content_type="application/json",
                      HTTP_AUTHORIZATION=f"Bearer {raw}")  # fmt: skip
    assert api.status_code == 429 and LIMIT_WORDS in api.json()["error"]
    assert AuditRun.objects.filter(owner=alice).count() == 3


def at_once(calls) -> list:
    with ThreadPoolExecutor(len(calls)) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


def test_it_lets_only_one_of_two_simultaneous_starts_at_limit_minus_one_through(server, alice):
    for _ in range(2):
        make_run(alice, status=Status.PAUSED)
    _, raw = create_token(alice, "ci", scope="write")
    with httpx.Client(base_url=server, timeout=60, headers={"Authorization": f"Bearer {raw}"}) as http:
        answers = at_once([lambda: http.post("/api/v1/audits", json={"source": "demo"}) for _ in range(6)])
    assert sorted(a.status_code for a in answers) == [201] + [429] * 5
    assert active(alice) == 3


def test_it_creates_one_run_for_two_simultaneous_retries(server, alice):
    cancelled = make_run(alice, status=Status.CANCELLED)
    with httpx.Client(base_url=server, timeout=60, cookies=session_cookie(alice)) as http:
        page = http.get(f"/audits/{cancelled.pk}/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

        def retry() -> httpx.Response:
            return http.post(f"/audits/{cancelled.pk}/retry", data={"csrfmiddlewaretoken": csrf},
                             headers={"Referer": server + "/"})  # fmt: skip

        answers = at_once([retry for _ in range(4)])
    new = AuditRun.objects.get(retry_of=cancelled)  # exactly one
    assert {a.status_code for a in answers} == {302}
    assert {a.headers["location"] for a in answers} == {f"/audits/{new.pk}/"}
    cancelled.refresh_from_db()
    assert cancelled.retried_as_id == new.pk
