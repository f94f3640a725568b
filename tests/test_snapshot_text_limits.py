"""Hostile snapshot text and numbers: clear messages at upload, and a run that never fails on them."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audits.iam.snapshot import SnapshotError, load_snapshot
from audits.models import AuditEvent, AuditRun
from audits.runs import worker
from audits.stream import frames

ADMIN_STATEMENT = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def export(**role_extra) -> dict:
    role = {
        "RoleName": "app",
        "Arn": "arn:aws:iam::123456789012:role/app",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
        "RolePolicyList": [
            {"PolicyName": "admin", "PolicyDocument": {"Version": "2012-10-17", "Statement": [ADMIN_STATEMENT]}}
        ],
        "AttachedManagedPolicies": [],
    } | role_extra
    return {"UserDetailList": [], "GroupDetailList": [], "Policies": [], "RoleDetailList": [role]}


def surrogate_export() -> str:
    """JSON text whose escapes decode to lone surrogates and NUL, in keys and values, as an attacker would send."""
    doc = export()
    doc["RoleDetailList"][0]["RolePolicyList"][0]["PolicyDocument"]["Statement"][0]["Sid"] = "SID_MARK"
    doc["RoleDetailList"][0]["Tags"] = [{"Key": "KEY_MARK", "Value": "VALUE_MARK"}]
    text = json.dumps(doc)
    return (text.replace("SID_MARK", "\\ud800").replace('"KEY_MARK"', '"k\\udc00"')
            .replace("VALUE_MARK", "nul\\u0000x"))  # fmt: skip


def error_of(data) -> str:
    with pytest.raises(SnapshotError) as exc:
        load_snapshot(data)
    return str(exc.value)


def test_it_names_a_huge_integer_instead_of_nan():
    text = json.dumps(export()).replace('"RoleName"', '"Count": ' + "9" * 5000 + ', "RoleName"', 1)
    message = error_of(text)
    assert "more than 4300 digits" in message and "NaN" not in message
    assert "4300 digits" in error_of(export(Count=10**5000))


def test_it_names_a_huge_integer_inside_a_string_policy_document():
    doc = export()
    doc["RoleDetailList"][0]["RolePolicyList"][0]["PolicyDocument"] = '{"Version": ' + "1" * 5000 + "}"
    assert "RolePolicyList[0].PolicyDocument" in error_of(doc)


@pytest.mark.parametrize("report", ["user,arn\n" + "x" * 200_000 + ",arn:aws:iam::1:user/x\n",
                                    "user,arn," + "x" * 200_000 + "\nu,arn:aws:iam::1:user/u,1\n"])  # fmt: skip
def test_it_names_a_credential_report_field_over_the_csv_limit(report):
    assert "credential_report has a field longer than 128 KB" in error_of({"authorization_details": export(),
                                                                          "credential_report": report})  # fmt: skip


def test_it_replaces_lone_surrogates_and_nul_in_keys_and_values():
    snap = load_snapshot(surrogate_export())
    role = snap.roles[0]
    assert role["RolePolicyList"][0]["PolicyDocument"]["Statement"][0]["Sid"] == "\ufffd"
    assert role["Tags"] == [{"Key": "k\ufffd", "Value": "nul\ufffdx"}]
    json.dumps(snap.to_dict(), ensure_ascii=False).encode("utf-8")  # strict UTF-8: would raise on a surrogate


def test_it_replaces_them_in_an_already_parsed_document_and_inside_string_documents():
    doc = export()
    doc["RoleDetailList"][0]["RolePolicyList"][0]["PolicyDocument"] = (
        '{"Statement": [{"Sid": "\\ud83d", "Effect": "Allow", "Action": "*", "Resource": "*"}]}'
    )
    doc["RoleDetailList"][0]["Description"] = "lone \udfff"
    role = load_snapshot(doc).roles[0]
    assert role["RolePolicyList"][0]["PolicyDocument"]["Statement"][0]["Sid"] == "\ufffd"
    assert role["Description"] == "lone \ufffd"
    assert doc["RoleDetailList"][0]["Description"] == "lone \udfff"  # the caller's data is left alone


def test_it_keeps_a_clean_document_as_it_is():
    doc = export(Description="caf\u00e9 \U0001f600")
    assert load_snapshot(doc).roles[0]["Description"] == "caf\u00e9 \U0001f600"


def upload(client, content: bytes):
    file = SimpleUploadedFile("account.json", content, content_type="application/json")
    return client.post("/audits/new", {"source": "snapshot", "frameworks": ["cis"], "snapshot_file": file})


@pytest.mark.django_db
def test_it_tells_the_uploader_about_a_huge_number(client, alice):
    client.force_login(alice)
    text = json.dumps(export()).replace('"RoleName"', '"Count": ' + "9" * 5000 + ', "RoleName"', 1)
    response = upload(client, text.encode())
    assert response.status_code == 400
    assert "more than 4300 digits" in response.text and "NaN" not in response.text
    assert not AuditRun.objects.exists()


@pytest.mark.django_db
def test_it_tells_the_uploader_about_a_huge_credential_report_field(client, alice):
    client.force_login(alice)
    bundle = {"authorization_details": export(), "credential_report": "user,arn\n" + "x" * 200_000 + ",a\n"}
    response = upload(client, json.dumps(bundle).encode())
    assert response.status_code == 400
    assert "field longer than 128 KB" in response.text
    assert not AuditRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_audits_a_snapshot_with_lone_surrogates_to_the_end(client, alice):
    client.force_login(alice)
    assert upload(client, surrogate_export().encode()).status_code == 302
    run = AuditRun.objects.get(owner=alice)
    assert worker.execute(run.pk) == "completed"
    run.refresh_from_db()
    assert run.status == AuditRun.Status.COMPLETED and not run.error
    events = list(AuditEvent.objects.filter(run=run))
    assert any("\ufffd" in frames.encode(event).decode("utf-8") for event in events)  # strict: no surrogate left
    assert "internal error" not in " ".join(event.message for event in events)
