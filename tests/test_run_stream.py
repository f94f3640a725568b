"""GET /audits/<id>/events served by a real uvicorn, read by a real HTTP client."""

import subprocess
import sys
import threading
import time

import httpx

from audits.models import AuditRun
from audits.runs.recorder import Recorder
from tests.helpers import ROOT, make_finished_run, make_run, read_stream, session_cookie, sse_events, subprocess_env


def test_it_streams_a_finished_run_in_order_and_closes(server, alice):
    run = make_finished_run(alice, count=6)
    response, data = read_stream(f"{server}/audits/{run.pk}/events", session_cookie(alice))
    assert response.status_code == 200
    assert [d["seq"] for d in data] == [1, 2, 3, 4, 5, 6]
    assert data[-1]["type"] == "complete"
    assert data[-1]["result"] == {"success": True, "risk_score": 42}
    for d in data:
        assert set(d) >= {"seq", "type", "message", "progress", "ts"}
        assert d["ts"].endswith("Z") and len(d["ts"]) == len("2026-11-24T10:00:01.123Z")


def test_it_sends_sse_headers_retry_and_ids(server, alice):
    run = make_finished_run(alice, count=2)
    with (
        httpx.Client(cookies=session_cookie(alice)) as client,
        client.stream("GET", f"{server}/audits/{run.pk}/events") as response,
    ):
        frames = list(sse_events(response))
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert frames[0] == {"retry": "2000"}
    assert [f["id"] for f in frames[1:]] == ["1", "2"]
    assert [f["data"]["seq"] for f in frames[1:]] == [1, 2]


def test_it_resumes_after_a_dropped_connection_with_nothing_lost(server, alice):
    run = make_finished_run(alice, count=10)
    url = f"{server}/audits/{run.pk}/events"
    _, first = read_stream(url, session_cookie(alice), limit=4)
    assert [d["seq"] for d in first] == [1, 2, 3, 4]
    _, rest = read_stream(url, session_cookie(alice), headers={"Last-Event-ID": "4"})
    assert [d["seq"] for d in first + rest] == list(range(1, 11))


def test_it_resumes_from_the_after_parameter(server, alice):
    run = make_finished_run(alice, count=5)
    _, data = read_stream(f"{server}/audits/{run.pk}/events?after=3", session_cookie(alice))
    assert [d["seq"] for d in data] == [4, 5]


def test_it_prefers_last_event_id_over_after(server, alice):
    run = make_finished_run(alice, count=5)
    url = f"{server}/audits/{run.pk}/events?after=1"
    _, data = read_stream(url, session_cookie(alice), headers={"Last-Event-ID": "3"})
    assert [d["seq"] for d in data] == [4, 5]


def test_it_answers_204_when_a_finished_run_has_nothing_left(server, alice):
    run = make_finished_run(alice, count=3)
    response, data = read_stream(f"{server}/audits/{run.pk}/events?after=3", session_cookie(alice))
    assert response.status_code == 204
    assert data == []


def test_it_refuses_malformed_and_negative_ids_with_400(server, alice):
    run = make_finished_run(alice, count=2)
    url = f"{server}/audits/{run.pk}/events"
    cookies = session_cookie(alice)
    for bad in ["abc", "-1", "1.5", "9" * 30, "1e3", "0x10"]:
        response = httpx.get(url, cookies=cookies, headers={"Last-Event-ID": bad})
        assert response.status_code == 400, bad
        assert "event id" in response.text
        assert "Traceback" not in response.text
    response = httpx.get(f"{url}?after=-5", cookies=cookies)
    assert response.status_code == 400


def test_it_hides_another_users_run(server, alice, bob):
    run = make_finished_run(alice, count=2)
    response = httpx.get(f"{server}/audits/{run.pk}/events", cookies=session_cookie(bob))
    assert response.status_code == 404
    missing = httpx.get(f"{server}/audits/999999/events", cookies=session_cookie(bob))
    assert missing.status_code == 404
    assert missing.text == response.text


def test_it_lets_staff_review_any_run(server, alice, reviewer):
    run = make_finished_run(alice, count=3)
    response, data = read_stream(f"{server}/audits/{run.pk}/events", session_cookie(reviewer))
    assert response.status_code == 200
    assert len(data) == 3


def test_it_requires_a_login(server, alice):
    run = make_finished_run(alice, count=2)
    response = httpx.get(f"{server}/audits/{run.pk}/events")
    assert response.status_code == 401
    forged = httpx.get(f"{server}/audits/{run.pk}/events", cookies={"sessionid": "not-a-session"})
    assert forged.status_code == 401


def test_it_refuses_other_methods(server, alice):
    run = make_finished_run(alice, count=2)
    response = httpx.post(f"{server}/audits/{run.pk}/events", cookies=session_cookie(alice))
    assert response.status_code == 405


def test_it_delivers_events_recorded_by_another_process(server, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    Recorder(run.pk).emit("start", "Audit started", 5)
    script = (
        "import django, time; django.setup()\n"
        "from audits.runs.recorder import Recorder\n"
        "from audits.models import AuditRun\n"
        f"rec = Recorder({run.pk})\n"
        "for i in range(2, 8):\n"
        "    time.sleep(0.05)\n"
        "    rec.emit('progress', f'step {i}', i * 10)\n"
        "rec.emit('complete', 'done', 100, {'result': {'success': True}})\n"
        f"AuditRun.objects.filter(pk={run.pk}).update(status='completed')\n"
    )
    received: list[dict] = []
    cookies = session_cookie(alice)  # here, not in the viewer thread, which would keep a database connection open

    def view() -> None:
        received.extend(read_stream(f"{server}/audits/{run.pk}/events", cookies)[1])

    viewer = threading.Thread(target=view)
    viewer.start()
    time.sleep(0.5)  # the viewer is connected and waiting before the other process writes
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=subprocess_env(), check=True, timeout=60)
    viewer.join(30)
    assert not viewer.is_alive()
    assert [d["seq"] for d in received] == list(range(1, 9))
    assert received[-1]["type"] == "complete"


def test_it_continues_a_live_stream_after_a_reconnect(server, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    recorder = Recorder(run.pk)
    for i in range(1, 4):
        recorder.emit("progress", f"step {i}", i)
    url = f"{server}/audits/{run.pk}/events"
    _, first = read_stream(url, session_cookie(alice), limit=2)
    for i in range(4, 7):
        recorder.emit("progress", f"step {i}", i)
    recorder.emit("complete", "done", 100, {"result": {}})
    _, rest = read_stream(url, session_cookie(alice), headers={"Last-Event-ID": str(first[-1]["seq"])})
    assert [d["seq"] for d in first + rest] == list(range(1, 8))


def test_it_drops_sessions_the_way_django_does(server, alice):
    run = make_finished_run(alice, count=2)
    url = f"{server}/audits/{run.pk}/events"
    cookies = session_cookie(alice)
    assert httpx.get(url, cookies=cookies).status_code == 200
    alice.set_password("a-new-password-456")  # changing the password ends other sessions
    alice.save()
    assert httpx.get(url, cookies=cookies).status_code == 401
    fresh = session_cookie(alice)
    alice.is_active = False
    alice.save()
    assert httpx.get(url, cookies=fresh).status_code == 401


def test_it_refuses_an_expired_session(server, alice):
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    run = make_finished_run(alice, count=2)
    cookies = session_cookie(alice)
    Session.objects.filter(session_key=cookies["sessionid"]).update(expire_date=timezone.now())
    assert httpx.get(f"{server}/audits/{run.pk}/events", cookies=cookies).status_code == 401
