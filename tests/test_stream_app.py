"""The lean stream app behaves like Django where a client can tell: cookies, hosts, HTTPS, headers."""

import socket
import threading
import time

import httpx
import pytest

from audits.models import AuditRun
from audits.runs.recorder import Recorder
from tests.helpers import free_port, make_finished_run, make_run, read_stream, session_cookie, start_server, stop


def test_it_reads_cookies_as_leniently_as_django(server, alice):
    run = make_finished_run(alice, count=2)
    raw = f'prefs={{"theme":"dark"}}; sessionid={session_cookie(alice)["sessionid"]}'
    response = httpx.get(f"{server}/audits/{run.pk}/events", headers={"Cookie": raw})
    assert response.status_code == 200
    page = httpx.get(f"{server}/audits/{run.pk}/", headers={"Cookie": raw})
    assert page.status_code == 200  # the page and the stream agree


def test_it_refuses_a_host_not_in_allowed_hosts(server, alice):
    run = make_finished_run(alice, count=2)
    cookies = session_cookie(alice)
    for path in (f"/audits/{run.pk}/events", f"/audits/{run.pk}/replay", f"/audits/{run.pk}/"):
        response = httpx.get(f"{server}{path}", cookies=cookies, headers={"Host": "evil.example"})
        assert response.status_code == 400, path
        assert response.headers["x-content-type-options"] == "nosniff", path


def test_it_puts_nosniff_on_every_error_body(server, alice, bob):
    run = make_finished_run(alice, count=2)
    url = f"{server}/audits/{run.pk}/events"
    answers = [
        httpx.get(url, headers={"Last-Event-ID": "<script>"}),
        httpx.get(f"{server}/audits/{run.pk}/replay?speed=<b>", cookies=session_cookie(alice)),
        httpx.get(url),
        httpx.get(url, cookies=session_cookie(bob)),
        httpx.post(url, cookies=session_cookie(alice)),
        httpx.get(f"{server}/audits/999999/", cookies=session_cookie(bob)),  # Django's own 404
        httpx.get(f"{server}/no-such-page"),
    ]
    assert [r.status_code for r in answers] == [400, 400, 401, 404, 405, 404, 404]
    for response in answers:
        assert response.headers["x-content-type-options"] == "nosniff", response.url
    assert answers[0].headers["content-type"].startswith("text/plain")


def test_it_answers_odd_event_ids_with_400_even_signed_out(server, alice):
    run = make_finished_run(alice, count=2)
    url = f"{server}/audits/{run.pk}/events"
    for headers, query in (({"Last-Event-ID": "²".encode()}, ""), ({}, "?after=%C2%B2"), ({}, "?after=%D9%A3")):
        for cookies in ({}, session_cookie(alice)):
            response = httpx.get(url + query, headers=headers, cookies=cookies)
            assert response.status_code == 400, (headers, query)
            assert "event id" in response.text


def test_it_answers_a_run_id_past_any_database_with_404(server, client, alice):
    client.force_login(alice)
    huge = "99999999999999999999"
    assert client.get(f"/audits/{huge}/events").status_code == 404  # Django's route
    assert client.get(f"/audits/{huge}/replay").status_code == 404
    assert httpx.get(f"{server}/audits/{huge}/events", cookies=session_cookie(alice)).status_code == 404


def test_it_clamps_an_event_id_past_the_end_so_other_viewers_keep_receiving(server, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    rec = Recorder(run.pk)
    for i in range(1, 201):
        rec.emit("progress", f"step {i}", 1)
    url = f"{server}/audits/{run.pk}/events"
    cookies = session_cookie(alice)
    received: dict[str, list[dict]] = {}

    def view(name: str, headers: dict) -> None:
        received[name] = read_stream(url, cookies, headers=headers)[1]

    forged = threading.Thread(target=view, args=("forged", {"Last-Event-ID": "100000"}))
    forged.start()
    time.sleep(0.5)  # the forged id opens the run's shared channel first
    tab = threading.Thread(target=view, args=("tab", {"Last-Event-ID": "200"}))
    tab.start()
    time.sleep(0.5)
    for i in range(201, 205):
        rec.emit("progress", f"step {i}", 1)
    rec.emit("complete", "done", 100, {"result": {}})
    AuditRun.objects.filter(pk=run.pk).update(status=AuditRun.Status.COMPLETED)
    forged.join(30)
    tab.join(30)
    assert [d["seq"] for d in received["tab"]] == [201, 202, 203, 204, 205]
    assert [d["seq"] for d in received["forged"]] == [201, 202, 203, 204, 205]


@pytest.fixture(scope="module")
def _https_url(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        port = free_port()
        proc = start_server(port, {"AEGIS_HTTPS": "1"})
    yield f"http://127.0.0.1:{port}"
    stop(proc)


@pytest.fixture
def https_server(_https_url, transactional_db):
    return _https_url


def test_it_redirects_streams_to_https_and_sends_hsts(https_server, alice):
    run = make_finished_run(alice, count=2)
    cookies = session_cookie(alice)
    plain = httpx.get(f"{https_server}/audits/{run.pk}/events", cookies=cookies)
    assert plain.status_code == 301
    assert plain.headers["location"] == f"https://127.0.0.1:{https_server.rsplit(':', 1)[1]}/audits/{run.pk}/events"
    behind_proxy = {"X-Forwarded-Proto": "https"}
    response, data = read_stream(f"{https_server}/audits/{run.pk}/events", cookies, headers=behind_proxy)
    assert response.status_code == 200 and len(data) == 2
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    refused = httpx.get(f"{https_server}/audits/{run.pk}/events", headers=behind_proxy)
    assert refused.status_code == 401
    assert "strict-transport-security" in refused.headers


def test_it_closes_a_connection_that_sends_partial_headers(quick_server):
    port = int(quick_server.rsplit(":", 1)[1])
    for opening in (b"GET /audits/ HTTP/1.1\r\nHost: 127.0.0.1\r\n", b""):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(opening)
            assert sock.recv(1024) == b""  # closed by the server (AEGIS_HEADER_TIMEOUT_S=2), not by our timeout
