"""A credential reaches only its owner's runs on every path: a staff user's API token reads none of another user's
runs, stream and replay included; a signed-in staff session still reviews them, as on the pages."""

import httpx
import pytest

from audits.models import AuditRun
from audits.runs.recorder import Recorder
from audits.stream import auth
from audits.stream.auth import Credential
from audits.tokens import create_token
from tests.helpers import make_finished_run, make_run, session_cookie

STREAM_PATHS = [
    "/api/v1/audits/{pk}/events",
    "/api/v1/audits/{pk}/replay",
    "/audits/{pk}/events",
    "/audits/{pk}/replay",
]


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


@pytest.mark.parametrize("path", STREAM_PATHS)
def test_it_keeps_a_staff_token_off_another_users_stream_and_replay(server, alice, reviewer, path):
    run = make_finished_run(alice, count=3)
    _, raw = create_token(reviewer, "review", scope="write")
    with httpx.Client(base_url=server, timeout=20) as http:
        response = http.get(path.format(pk=run.pk), headers=bearer(raw))
        assert response.status_code == 404
        assert "No such audit." in response.text and "Audit complete" not in response.text
        # The same answer as the JSON API gives that token for the run itself.
        assert http.get(f"/api/v1/audits/{run.pk}", headers=bearer(raw)).status_code == 404


def test_it_still_streams_a_staff_tokens_own_run(server, reviewer):
    run = make_finished_run(reviewer, count=3)
    _, raw = create_token(reviewer, "mine")
    with httpx.Client(base_url=server, timeout=20) as http:
        response = http.get(f"/api/v1/audits/{run.pk}/replay?speed=100", headers=bearer(raw))
    assert response.status_code == 200
    assert "Audit complete!" in response.text


def test_it_lets_a_signed_in_staff_session_review_another_users_stream(server, alice, reviewer):
    finished = make_finished_run(alice, count=3)
    live = make_run(alice, status=AuditRun.Status.RUNNING)
    Recorder(live.pk).emit("start", "started", 1)
    cookies = session_cookie(reviewer)
    with httpx.Client(base_url=server, timeout=20, cookies=cookies) as http:
        replay = http.get(f"/audits/{finished.pk}/replay?speed=100")
        assert replay.status_code == 200 and "Audit complete!" in replay.text
        with http.stream("GET", f"/audits/{live.pk}/events") as stream:
            assert stream.status_code == 200
            first = next(stream.iter_text())
            while "started" not in first:
                first += next(stream.iter_text())
        assert http.get(f"/audits/{finished.pk}/").status_code == 200


@pytest.mark.django_db
def test_it_closes_a_staff_tokens_grant_on_another_users_run_at_the_recheck(alice, reviewer):
    # A grant can only come from an opening, but the heartbeat's re-check must give the same answer.
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    _, raw = create_token(reviewer, "review")
    token, session = Credential.of(None, raw), Credential.of(session_cookie(reviewer)["sessionid"], None)
    verdicts = auth.recheck([(token, run.pk, reviewer.pk), (session, run.pk, reviewer.pk)])
    assert verdicts[(token, run.pk, reviewer.pk)].reason == "forbidden"
    assert verdicts[(session, run.pk, reviewer.pk)].user.pk == reviewer.pk


@pytest.mark.django_db
def test_it_never_hands_out_a_staff_user_for_a_token(reviewer):
    _, raw = create_token(reviewer, "review")
    user = auth.identify(Credential.of(None, raw)).user
    assert user.pk == reviewer.pk and not user.is_staff and not user.is_superuser
    reviewer.refresh_from_db()
    assert reviewer.is_staff, "only the token's view of the user lost staff rights"
