"""Faults: a worker killed mid-audit, a web process restarted under its viewers, a database that goes away.

Each end-to-end test runs real processes (uvicorn, db_worker) on the test database and checks the
run's log against the events table and against an uninterrupted run of the engine: nothing lost,
nothing recorded twice, seqs gap-free, every principal reported once.
"""

import logging
import os
import signal
import sqlite3
import threading
import time
from collections import Counter

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from audits.iam import run_audit
from audits.iam.snapshot import load_demo_snapshot
from audits.models import AuditEvent, AuditRun, Finding
from audits.runs import start, worker
from audits.runs.recorder import Recorder
from bench._harness import Viewer, compare, follow_in_thread, table_events
from tests.helpers import free_port, make_run, session_cookie, start_server, start_worker, status_of, stop, wait_for

IS_POSTGRES = connection.vendor == "postgresql"


def principals_done(run: AuditRun) -> int:
    return AuditEvent.objects.filter(run=run, type="principal").count()


_reference_cache: dict[tuple[str, ...], tuple[set[str], list[str]]] = {}


def reference(frameworks: list[str]) -> tuple[set[str], list[str]]:
    """Fingerprints and principals (in order) of an uninterrupted engine run on the demo account."""
    key = tuple(frameworks)
    if key not in _reference_cache:
        events: list[tuple[str, dict]] = []
        run_audit(load_demo_snapshot(), lambda t, m, p, pl: events.append((t, pl)), frameworks=frameworks)
        fingerprints = {pl["finding"]["fingerprint"] for t, pl in events if t == "finding"}
        principals = [pl["principal"]["arn"] for t, pl in events if t == "principal"]
        _reference_cache[key] = (fingerprints, principals)
    return _reference_cache[key]


def assert_complete_and_clean(run: AuditRun, frameworks: list[str]) -> list[AuditEvent]:
    """Completed; gap-free seqs; progress monotonic; each principal once; findings exactly the reference."""
    assert status_of(run) == AuditRun.Status.COMPLETED
    events = list(AuditEvent.objects.filter(run=run).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "seqs are not gap-free"
    run.refresh_from_db()
    assert run.last_seq == len(events)
    progress = [e.progress for e in events]
    assert progress == sorted(progress), "progress went backwards"
    want_fingerprints, want_principals = reference(frameworks)
    principals = [e.payload["principal"]["arn"] for e in events if e.type == "principal"]
    assert principals == want_principals, "principals were lost, repeated or reordered"
    fingerprints = list(Finding.objects.filter(run=run).values_list("fingerprint", flat=True))
    assert len(fingerprints) == len(set(fingerprints)), "a finding was recorded twice"
    assert set(fingerprints) == want_fingerprints, "findings differ from an uninterrupted run"
    finding_events = [e.payload["finding"]["fingerprint"] for e in events if e.type == "finding"]
    assert Counter(finding_events) == Counter(fingerprints), "finding events and Finding rows disagree"
    types = Counter(e.type for e in events)
    assert types["start"] == 1 and types["complete"] == 1 and events[-1].type == "complete"
    return events


def assert_viewers_got_the_table(run: AuditRun, viewers: list[Viewer]) -> None:
    table = table_events(run.pk)
    for viewer in viewers:
        assert viewer.done, f"viewer of run {run.pk} did not reach the end ({len(viewer.seqs)} events)"
        assert compare(viewer, table) == {"lost": 0, "duplicated": 0, "reordered": 0, "mismatched": 0,
                                          "table_gaps": 0, "id_mismatches": 0}  # fmt: skip
        assert viewer.events == table


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


# --- a worker killed with SIGKILL mid-audit --------------------------------------------------------------------


@pytest.mark.server
def test_it_resumes_a_killed_workers_run_from_its_checkpoint_without_duplicates(server, alice, settings):
    frameworks = ["cis", "soc2"]
    # The sweep that the web processes run every few seconds, with a short threshold for the test.
    settings.AEGIS_STALE_AFTER_S = 2
    paced = {"AEGIS_DEMO_STEP_MS": "80", "AEGIS_HEARTBEAT_S": "1"}
    first = start_worker(paced)
    second = None
    try:
        run = start.start_run(alice, source="demo", frameworks=frameworks)
        viewers = [Viewer(run_id=run.pk, ports=[port_of(server)], cookie=session_cookie(alice)["sessionid"])]
        watching = follow_in_thread(viewers, timeout=150)
        wait_for(lambda: principals_done(run) >= 5, what="5 principals analysed")
        assert start.requeue_stale_runs() == [], "a run whose worker is alive was taken away"
        claim_before = AuditRun.objects.values_list("claim", flat=True).get(pk=run.pk)

        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        run.refresh_from_db()
        assert run.status == AuditRun.Status.RUNNING
        killed_at, done_at_kill = run.last_seq, int(run.checkpoint.get("principals_done", 0))
        assert 5 <= done_at_kill < len(reference(frameworks)[1]), "the worker was not killed mid-audit"

        second = start_worker(paced)
        taken = wait_for(start.requeue_stale_runs, timeout=30, step=0.25, what="the stale run noticed")
        assert taken == [run.pk]
        wait_for(lambda: status_of(run) in AuditRun.FINISHED, timeout=120, what="the resumed run finished")
        watching.join(30)
    finally:
        stop(first)
        if second is not None:
            stop(second)

    events = assert_complete_and_clean(run, frameworks)
    run.refresh_from_db()
    assert run.claim and run.claim != claim_before, "the run was not claimed afresh"
    after = events[killed_at:]
    assert after[0].type == "warning" and after[0].payload.get("interrupted") is True
    assert after[1].type == "resumed" and after[1].payload["checkpoint"]["principals_done"] == done_at_kill
    assert [e.type for e in events].count("resumed") == 1
    assert_viewers_got_the_table(run, viewers)


# --- a web process restarted under its viewers -----------------------------------------------------------------


@pytest.mark.server
def test_it_resumes_every_viewer_by_last_event_id_after_web_process_restarts(transactional_db, alice):
    port = free_port()
    web = start_server(port)
    # Paced so the audit outlasts two restarts even on a busy machine.
    worker = start_worker({"AEGIS_DEMO_STEP_MS": "200"})
    try:
        run = start.start_run(alice, source="demo", frameworks=["pci_dss"])
        cookie = session_cookie(alice)["sessionid"]
        viewers = [Viewer(run_id=run.pk, ports=[port], cookie=cookie, reconnect_delay=(0.05, 0.3)) for _ in range(4)]
        watching = follow_in_thread(viewers, timeout=150)
        for restart in ("graceful", "kill"):
            seen = min(len(v.seqs) for v in viewers)
            wait_for(lambda seen=seen: min(len(v.seqs) for v in viewers) >= seen + 10, what="viewers following")
            assert status_of(run) == AuditRun.Status.RUNNING, "the audit ended before the restart"
            if restart == "graceful":
                stop(web)  # SIGTERM: uvicorn closes the open streams
            else:
                os.kill(web.pid, signal.SIGKILL)
                web.wait(10)
            time.sleep(0.5)
            web = start_server(port)
        wait_for(lambda: status_of(run) in AuditRun.FINISHED, timeout=120, what="the run finished")
        watching.join(60)
    finally:
        stop(web)
        stop(worker)

    assert_complete_and_clean(run, ["pci_dss"])
    assert_viewers_got_the_table(run, viewers)
    for viewer in viewers:
        # Two restarts: each viewer connected at least three times, and every reconnect sent Last-Event-ID.
        assert viewer.connections >= 3


# --- the database briefly unreachable --------------------------------------------------------------------------


def _pg_conninfo() -> str:
    params = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        dbname=params["NAME"], user=params.get("USER") or None, password=params.get("PASSWORD") or None,
        host=params.get("HOST") or "127.0.0.1", port=str(params.get("PORT") or 5432),
    )  # fmt: skip


def _cut_database_connections() -> int:
    """PostgreSQL: terminate every other session on the test database (the worker's, the web process's)."""
    with psycopg.connect(_pg_conninfo(), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s",
            [_own_backend_pid()],
        ).fetchall()
    return len(rows)


def _own_backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _lock_sqlite(seconds: float) -> None:
    """SQLite: another connection holds the write lock, so every writer has to wait (or retry)."""
    locker = sqlite3.connect(settings.DATABASES["default"]["NAME"], timeout=30, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        locker.execute("COMMIT")
    finally:
        locker.close()


@pytest.mark.server
def test_it_loses_no_event_when_the_database_is_briefly_unreachable(server, alice):
    frameworks = ["hipaa"]
    worker = start_worker({"AEGIS_DEMO_STEP_MS": "100"})
    try:
        run = start.start_run(alice, source="demo", frameworks=frameworks)
        viewers = [Viewer(run_id=run.pk, ports=[port_of(server)], cookie=session_cookie(alice)["sessionid"])]
        watching = follow_in_thread(viewers, timeout=150)
        total = len(reference(frameworks)[1])
        outages = 0
        for at in (5, 15, 25, 35):
            wait_for(lambda at=at: principals_done(run) >= at, what=f"{at} principals analysed")
            if principals_done(run) >= total:
                break
            if IS_POSTGRES:
                assert _cut_database_connections() >= 1
                time.sleep(0.5)
            else:
                _lock_sqlite(2.0)
            outages += 1
        assert outages >= 3, "the audit finished before the outages"
        wait_for(lambda: status_of(run) in AuditRun.FINISHED, timeout=120, what="the run finished")
        watching.join(60)
    finally:
        stop(worker)
    assert_complete_and_clean(run, frameworks)
    assert_viewers_got_the_table(run, viewers)


def test_it_retries_an_event_write_when_the_connection_is_cut(transactional_db, alice, caplog):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    recorder = Recorder(run.pk)
    recorder.emit("start", "one", 1)
    if IS_POSTGRES:
        victim = _own_backend_pid()
        with psycopg.connect(_pg_conninfo(), autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", [victim]).fetchone()[0] is True
        with caplog.at_level(logging.WARNING, logger="audits.runs.recorder"):
            recorder.emit("progress", "two", 2)
        assert "event write failed" in caplog.text, "the write did not meet the cut connection"
        assert _own_backend_pid() != victim
    else:
        holder = threading.Thread(target=_lock_sqlite, args=(1.5,))
        holder.start()
        time.sleep(0.2)
        started = time.monotonic()
        recorder.emit("progress", "two", 2)
        waited = time.monotonic() - started
        holder.join()
        assert waited >= 0.8, "the write did not have to wait for the lock"
    recorder.emit("complete", "three", 100)
    assert list(AuditEvent.objects.filter(run=run).values_list("seq", "message")) == [
        (1, "one"), (2, "two"), (3, "three"),
    ]  # fmt: skip


@pytest.mark.skipif(not IS_POSTGRES, reason="needs PostgreSQL: an SQLite connection is never cut by the server")
def test_it_serves_the_next_page_after_the_database_cut_its_connections(server, alice):
    # The web process keeps connections open for a minute; a restarted or failed-over database must not turn the
    # first request on each stale connection into a 500.
    cookies = session_cookie(alice)
    assert httpx.get(f"{server}/audits/", cookies=cookies).status_code == 200
    assert _cut_database_connections() >= 1
    for _ in range(3):
        assert httpx.get(f"{server}/audits/", cookies=cookies).status_code == 200


@pytest.mark.skipif(not IS_POSTGRES, reason="needs PostgreSQL: an SQLite read never loses its connection")
def test_it_keeps_reading_pause_and_cancel_after_the_connection_is_cut(transactional_db, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    control = worker._control_reader(run.pk)
    assert control() is None
    AuditRun.objects.filter(pk=run.pk).update(control="pause")
    with psycopg.connect(_pg_conninfo(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [_own_backend_pid()])
    time.sleep(worker.CONTROL_CHECK_S)
    # The engine asks between principals; a brief outage must not end the audit with an error.
    assert control() is None, "the last known answer stands while the database is away"
    time.sleep(worker.CONTROL_CHECK_S)
    assert control() == "pause", "the next check reconnects and sees the owner's pause"
