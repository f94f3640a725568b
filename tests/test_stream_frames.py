"""One run's unencodable text (a lone surrogate) stays in that run: frames never raise, the hub keeps
every other run flowing, and /events, /replay and the exports of the bad run still answer."""

import json
import threading
import time

import httpx

from audits.models import AuditEvent, AuditRun
from audits.runs.recorder import Recorder
from audits.stream import frames
from tests.helpers import make_run, read_stream, session_cookie

LONE = "\ud800"


def test_it_encodes_a_lone_surrogate_as_a_replacement_character():
    frame = frames.encode_event({"seq": 3, "type": "progress", "message": f"Sid {LONE}", "note": {"x": LONE}})
    data = json.loads(frame.decode().split("data: ", 1)[1])
    assert data["message"] == "Sid \ufffd"
    assert data["note"] == {"x": "\ufffd"}
    assert frames.utf8("pair \ud83d\ude00") == "pair 😀".encode()


def test_it_sends_an_event_it_cannot_encode_as_skipped(monkeypatch):
    event = AuditEvent(run_id=1, seq=7, type="progress", message="m")
    monkeypatch.setattr(AuditEvent, "to_event_dict", lambda self: {"seq": self.seq, "bad": Boom()})
    frame = frames.encode(event)
    assert frame.startswith(b"id: 7\n")
    assert json.loads(frame.decode().split("data: ", 1)[1])["type"] == "skipped"


class Boom:
    def __str__(self) -> str:
        raise RuntimeError("cannot be shown")


def _record_bad_and_good(bad: AuditRun, good: AuditRun) -> None:
    Recorder(bad.pk).emit("progress", "hostile policy", 20, {"policy": {"Sid": LONE}})
    rec = Recorder(good.pk)
    for i in range(2, 6):
        rec.emit("progress", f"step {i}", i * 10)
    rec.emit("complete", "done", 100, {"result": {}})
    AuditRun.objects.filter(pk=good.pk).update(status=AuditRun.Status.COMPLETED)


def test_it_keeps_other_runs_live_when_one_run_has_a_lone_surrogate(server, alice, bob):
    bad = make_run(alice, status=AuditRun.Status.RUNNING)
    good = make_run(bob, status=AuditRun.Status.RUNNING)
    Recorder(bad.pk).emit("start", "started", 1)
    Recorder(good.pk).emit("start", "started", 1)
    received: dict[str, list[dict]] = {}

    def view(name: str, run: AuditRun, cookies: dict[str, str], limit: int | None) -> None:
        url = f"{server}/audits/{run.pk}/events"
        received[name] = read_stream(url, cookies, limit=limit)[1]

    # The sessions are made here: a viewer thread that wrote one would keep its own database connection open.
    viewers = [threading.Thread(target=view, args=("bad", bad, session_cookie(alice), 2)),
               threading.Thread(target=view, args=("good", good, session_cookie(bob), None))]  # fmt: skip
    for viewer in viewers:
        viewer.start()
    time.sleep(0.5)  # both viewers wait on the hub before the hostile event is written
    _record_bad_and_good(bad, good)
    for viewer in viewers:
        viewer.join(30)
    assert [d["seq"] for d in received["good"]] == [1, 2, 3, 4, 5, 6]
    assert received["bad"][1]["policy"] == {"Sid": "\ufffd"}


def test_it_serves_the_bad_runs_events_replay_and_exports(server, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    rec = Recorder(run.pk)
    rec.emit("progress", "hostile policy", 20, {"policy": {"Sid": LONE}})
    rec.emit("complete", "done", 100, {"result": {}})
    AuditRun.objects.filter(pk=run.pk).update(status=AuditRun.Status.COMPLETED)
    cookies = session_cookie(alice)
    for path in ("events", "replay?speed=100"):
        response, data = read_stream(f"{server}/audits/{run.pk}/{path}", cookies)
        assert response.status_code == 200, path
        assert [d["seq"] for d in data] == [1, 2], path
    for name in ("log.txt", "log.ndjson", "findings.json", "findings.csv", "findings.sarif"):
        response = httpx.get(f"{server}/audits/{run.pk}/export/{name}", cookies=cookies)
        assert response.status_code == 200, name
    ndjson = httpx.get(f"{server}/audits/{run.pk}/export/log.ndjson", cookies=cookies).text.splitlines()
    assert [json.loads(line)["seq"] for line in ndjson] == [1, 2]
    assert json.loads(ndjson[0])["policy"] == {"Sid": "\ufffd"}
