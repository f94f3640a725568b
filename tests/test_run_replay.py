"""GET /audits/<id>/replay?speed=N on a real server."""

import time

import httpx

from audits.models import AuditRun
from tests.helpers import make_finished_run, make_run, read_stream, session_cookie


def test_it_replays_with_the_original_gaps_divided_by_speed(server, alice):
    run = make_finished_run(alice, count=5, gap_s=1.0)  # 4 gaps of one second
    started = time.monotonic()
    response, data = read_stream(f"{server}/audits/{run.pk}/replay?speed=8", session_cookie(alice))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert [d["seq"] for d in data] == [1, 2, 3, 4, 5]
    assert elapsed >= 4 / 8 * 0.9  # never faster than asked


def test_it_replays_faster_at_a_higher_speed(server, alice):
    run = make_finished_run(alice, count=4, gap_s=1.0)
    timings = {}
    for speed in (2, 100):
        started = time.monotonic()
        read_stream(f"{server}/audits/{run.pk}/replay?speed={speed}", session_cookie(alice))
        timings[speed] = time.monotonic() - started
    assert timings[2] >= 1.4
    assert timings[100] < timings[2]


def test_it_resumes_a_replay_after_the_last_event_id(server, alice):
    run = make_finished_run(alice, count=5)
    _, data = read_stream(
        f"{server}/audits/{run.pk}/replay?speed=100", session_cookie(alice), headers={"Last-Event-ID": "2"}
    )
    assert [d["seq"] for d in data] == [3, 4, 5]


def test_it_refuses_bad_speeds_with_a_clear_400(server, alice):
    run = make_finished_run(alice, count=2)
    for bad in ["0", "0.1", "101", "fast", "-3", "nan", "inf"]:
        response = httpx.get(f"{server}/audits/{run.pk}/replay?speed={bad}", cookies=session_cookie(alice))
        assert response.status_code == 400, bad
        assert "speed" in response.text and "0.25 to 100" in response.text


def test_it_replays_only_finished_runs(server, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    response = httpx.get(f"{server}/audits/{run.pk}/replay", cookies=session_cookie(alice))
    assert response.status_code == 409
    assert "finished" in response.text


def test_it_hides_replays_from_strangers(server, alice, bob):
    run = make_finished_run(alice, count=2)
    response = httpx.get(f"{server}/audits/{run.pk}/replay?speed=2", cookies=session_cookie(bob))
    assert response.status_code == 404
