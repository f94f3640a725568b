"""A run's input lives in RunInput, gzip-compressed: stored once, read by the worker only, never by an event write."""

import gzip
import hashlib
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audits.iam.snapshot import DEMO_PATH, load_demo_snapshot
from audits.models import AuditEvent, AuditRun, RunInput
from audits.runs import worker
from audits.runs.inputs import input_bytes, load_input, store_input
from audits.runs.recorder import Recorder
from tests.helpers import make_run

pytestmark = pytest.mark.django_db


def test_it_round_trips_a_snapshot_through_gzip(alice):
    run = make_run(alice, source=AuditRun.Source.SNAPSHOT)
    snapshot = load_demo_snapshot()
    stored = store_input(run, snapshot)
    raw = gzip.decompress(bytes(RunInput.objects.get(pk=run.pk).data))
    assert stored.size_bytes == len(raw) and stored.sha256 == hashlib.sha256(raw).hexdigest()
    assert len(stored.data) < len(raw) / 3
    assert load_input(run.pk).to_dict() == snapshot.to_dict()


def test_it_stores_an_upload_as_it_came_from_the_file(alice):
    run = make_run(alice, source=AuditRun.Source.SNAPSHOT)
    content = DEMO_PATH.read_bytes()
    store_input(run, io.BytesIO(content))
    assert input_bytes(run.pk) == content
    assert load_input(run.pk).account_id == load_demo_snapshot().account_id


def test_it_leaves_the_input_out_of_the_run_row(alice):
    assert "snapshot" not in {field.name for field in AuditRun._meta.get_fields()}
    run = make_run(alice, source=AuditRun.Source.SNAPSHOT)
    store_input(run, {"RoleDetailList": [{"RoleName": "r" * 100, "Arn": "arn:aws:iam::123456789012:role/r"}] * 5000})
    with CaptureQueriesContext(connection) as queries:
        list(AuditRun.objects.all())
        AuditRun.objects.get(pk=run.pk)
    assert not any("runinput" in query["sql"].lower() for query in queries.captured_queries)


def test_it_writes_an_event_without_touching_the_input(alice):
    run = make_run(alice, source=AuditRun.Source.SNAPSHOT, status=AuditRun.Status.RUNNING)
    store_input(run, json.loads(DEMO_PATH.read_bytes()) | {"padding": "x" * 2_000_000})
    with CaptureQueriesContext(connection) as queries:
        Recorder(run.pk).emit("principal", "Analyzing r", 10, {"principal": {"arn": "arn:aws:iam::1:role/r"}})
    sql = " ".join(query["sql"].lower() for query in queries.captured_queries)
    assert "runinput" not in sql and "snapshot" not in sql
    # Every statement of the write is small: nothing drags the 2 MB input along.
    assert max(len(query["sql"]) for query in queries.captured_queries) < 5_000


def test_it_copies_severity_and_principal_from_the_payload(alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    recorder = Recorder(run.pk)
    finding = {"check_id": "iam_admin", "category": "admin_access", "severity": "critical", "title": "Admin",
               "principal_arn": "arn:aws:iam::123456789012:role/Ops", "fingerprint": "f" * 64}  # fmt: skip
    recorder.emit("finding", "Admin on Ops", 20, {"finding": finding})
    recorder.emit("principal", "Analyzing Dev", 30, {"principal": {"arn": "arn:aws:iam::123456789012:role/Dev"}})
    recorder.emit("progress", "Halfway", 50)
    rows = list(AuditEvent.objects.filter(run=run).order_by("seq").values_list("severity", "principal_arn"))
    assert rows == [("critical", "arn:aws:iam::123456789012:role/Ops"), ("", "arn:aws:iam::123456789012:role/Dev"),
                    ("", "")]  # fmt: skip


def test_it_audits_a_stored_upload_in_the_worker(alice):
    run = make_run(alice, source=AuditRun.Source.SNAPSHOT)
    store_input(run, io.BytesIO(DEMO_PATH.read_bytes()))
    assert worker.execute(run.pk) == "completed"
    run.refresh_from_db()
    assert run.status == AuditRun.Status.COMPLETED and run.account_id == load_demo_snapshot().account_id


@pytest.mark.parametrize(("content", "message"), [
    (b'{"UserDetailList": []}', "Snapshot is missing GroupDetailList"),
    (b'{"RoleDetailList": [', "Snapshot is not valid JSON"),
    (b"{" + b'"a": 1,' * 10 + b'"b": ' + b"9" * 5000 + b"}", "more than 4300 digits"),
])  # fmt: skip
def test_it_fails_a_bad_large_upload_with_the_loaders_message(alice, content, message):
    """A large upload is only screened by the form; the worker's full check must end the run cleanly."""
    run = make_run(alice, source=AuditRun.Source.SNAPSHOT)
    store_input(run, io.BytesIO(content))
    assert worker.execute(run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == AuditRun.Status.FAILED and message in run.error
    assert "internal error" not in run.error


@pytest.mark.django_db(transaction=True)
def test_it_moves_stored_snapshots_out_of_the_run_row_when_migrating():
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("audits", "0003_session_schema")], [("audits", "0004_move_snapshot_to_runinput")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        owner = old.get_model("auth", "User").objects.create(username="migrated")
        bundle = {"account_id": "123456789012", "authorization_details": {"RoleDetailList": [], "Policies": []}}
        run = old.get_model("audits", "AuditRun").objects.create(owner=owner, source="snapshot", snapshot=bundle)
        bare = old.get_model("audits", "AuditRun").objects.create(owner=owner, source="demo")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        # Then back to the latest migrations, so the tests after this one see the whole schema.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert json.loads(input_bytes(run.pk)) == bundle
    assert RunInput.objects.get(pk=run.pk).size_bytes == len(input_bytes(run.pk))
    assert input_bytes(bare.pk) is None
