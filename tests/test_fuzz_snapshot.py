"""Property-based checks of snapshot input (a smaller, repeatable share of bench/fuzz_snapshot.py).

Whatever bytes, text or JSON arrive - as a file upload or straight to the loader - the answer is a
snapshot the engine can audit, or a SnapshotError with a short, plain message; never a 500, never an
uncaught exception. The strategies live in bench/fuzz_snapshot.py; derandomize keeps CI repeatable.
"""

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bench.fuzz_snapshot import (
    classify,
    classify_upload,
    encoded,
    mutated_demo,
    shaped_snapshots,
    snapshot_inputs,
    unclear,
    upload_bytes,
    upload_field_name,
)

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)

# Inputs the fuzzing found crashing (kept as explicit examples so they are always tried).
NULL_DOCUMENT = b"null"  # load_snapshot raised TypeError (a 500 on upload)
# Accepted, then not storable in the run's JSON column (a 500 on upload).
NAN_IN_ENTRY = (b'{"UserDetailList": [{"Arn": "arn:aws:iam::123456789012:user/a", "X": NaN}],'
                b' "GroupDetailList": [], "RoleDetailList": [], "Policies": []}')  # fmt: skip
# Made run_audit raise until the engine read wrongly typed fields as absent.
STRING_ATTACHMENT = {
    "UserDetailList": [{"Arn": "arn:aws:iam::123456789012:user/a", "UserName": "a", "AttachedManagedPolicies": ["x"]}],
    "GroupDetailList": [], "RoleDetailList": [], "Policies": [],
}  # fmt: skip


def test_it_calls_a_message_clear_only_when_it_is():
    assert unclear("UserDetailList[0] has no Arn") is None
    assert unclear("") and unclear("x" * 1000) and unclear("a\nb") and unclear("'NoneType' object is not iterable")


@FUZZ
@given(snapshot_inputs)
@example(NULL_DOCUMENT)
@example(NAN_IN_ENTRY)
def test_it_loads_any_input_or_names_the_problem(case):
    outcome, detail = classify(case, engine=False)
    assert outcome in ("accepted", "error"), detail


@FUZZ
@given(st.one_of(encoded(mutated_demo()), encoded(shaped_snapshots())))
@example(STRING_ATTACHMENT)
def test_it_audits_every_snapshot_it_accepts(case):
    outcome, detail = classify(case, engine=True)
    assert outcome in ("accepted", "error"), detail


@settings(FUZZ, max_examples=150)
@given(snapshot_inputs)
@example(NULL_DOCUMENT)
@example(NAN_IN_ENTRY)
def test_it_answers_every_upload_with_a_run_or_a_clear_400(client, alice, settings, case):
    settings.AEGIS_MAX_ACTIVE_RUNS = 1_000_000
    client.force_login(alice)
    outcome, detail = classify_upload(client, upload_bytes(case), upload_field_name())
    assert outcome in ("accepted", "error"), detail
