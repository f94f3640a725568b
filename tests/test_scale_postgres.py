"""PostgreSQL at scale: two web processes and two workers share one database.

Twenty demo audits start at once; each is followed by a viewer on each web process. Every viewer
must receive the complete log, in order, identical to the events table and to the viewer on the
other web process, however the audits were spread over the workers.
"""

import time

import pytest
from django.db import connection

from audits.models import AuditEvent, AuditRun, Finding
from audits.runs import start
from bench._harness import Viewer, compare, follow_in_thread, table_events
from tests.helpers import free_port, make_user, session_cookie, start_server, start_worker, stop

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (several web processes woken by LISTEN/NOTIFY); "
        "run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test",
    ),
]

AUDITS = 20
FRAMEWORK_SETS = [[], ["cis"], ["pci_dss", "hipaa"], ["soc2", "nist_800_53"]]


def test_it_streams_twenty_concurrent_audits_identically_from_two_web_processes(transactional_db, settings):
    settings.AEGIS_MAX_ACTIVE_RUNS = AUDITS
    owners = [make_user(f"scale-{i}") for i in range(4)]
    cookies = {owner.pk: session_cookie(owner)["sessionid"] for owner in owners}
    ports = [free_port(), free_port()]
    paced = {"AEGIS_DEMO_STEP_MS": "10"}
    webs, workers = [], []
    try:
        webs = [start_server(port) for port in ports]
        workers = [start_worker(paced), start_worker(paced)]
        runs = [
            start.start_run(owners[i % len(owners)], source="demo", frameworks=FRAMEWORK_SETS[i % len(FRAMEWORK_SETS)])
            for i in range(AUDITS)
        ]
        # One viewer per run on each web process; each sticks to its process.
        viewers = [Viewer(run_id=run.pk, ports=[port], cookie=cookies[run.owner_id]) for run in runs for port in ports]
        watching = follow_in_thread(viewers, timeout=240)
        deadline = time.monotonic() + 240
        while (
            time.monotonic() < deadline
            and AuditRun.objects.filter(pk__in=[r.pk for r in runs]).exclude(status__in=AuditRun.FINISHED).exists()
        ):
            time.sleep(0.25)
        watching.join(60)
    finally:
        for proc in webs + workers:
            stop(proc)

    statuses = dict(AuditRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("pk", "status"))
    assert set(statuses.values()) == {AuditRun.Status.COMPLETED}, statuses
    # Both workers took a share of the work (the task rows record which worker ran them).
    from django_tasks_db.models import DBTaskResult

    worker_ids = {wid for ids in DBTaskResult.objects.values_list("worker_ids", flat=True) for wid in ids or []}
    assert len(worker_ids) >= 2, "one worker did all the work"

    for run in runs:
        table = table_events(run.pk)
        assert [e["seq"] for e in table] == list(range(1, len(table) + 1)), f"run {run.pk} has gaps"
        assert table[0]["type"] == "start" and table[-1]["type"] == "complete"
        principals = [e["principal"]["arn"] for e in table if e["type"] == "principal"]
        assert len(principals) == len(set(principals))
        fingerprints = list(Finding.objects.filter(run=run).values_list("fingerprint", flat=True))
        assert len(fingerprints) == len(set(fingerprints)) == sum(1 for e in table if e["type"] == "finding")
        assert AuditEvent.objects.filter(run=run).count() == AuditRun.objects.get(pk=run.pk).last_seq
        mine = [v for v in viewers if v.run_id == run.pk]
        assert len(mine) == 2
        for viewer in mine:
            assert viewer.done, f"a viewer of run {run.pk} did not reach the end"
            assert compare(viewer, table) == {"lost": 0, "duplicated": 0, "reordered": 0, "mismatched": 0,
                                              "table_gaps": 0, "id_mismatches": 0}  # fmt: skip
            assert viewer.events == table
        assert mine[0].events == mine[1].events
