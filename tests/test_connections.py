"""AWS connections: add with a generated ExternalId, the trust policy, verify, delete."""

import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from audits import views
from audits.models import AwsConnection

pytestmark = pytest.mark.django_db

ROLE = "arn:aws:iam::123456789012:role/AegisAudit"


@pytest.fixture
def aws_env(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)


def make_connection(owner, **fields) -> AwsConnection:
    fields.setdefault("role_arn", ROLE)
    return AwsConnection.objects.create(owner=owner, name=fields.pop("name", "prod"), **fields)


def test_it_adds_a_connection_and_shows_its_trust_policy(client, alice, settings):
    settings.AEGIS_AWS_PRINCIPAL_ARN = "arn:aws:iam::999999999999:role/aegis-worker"
    client.force_login(alice)
    response = client.post("/audits/connections/", {"name": "prod", "role_arn": ROLE})
    connection = AwsConnection.objects.get(owner=alice)
    assert response["Location"] == f"/audits/connections/{connection.pk}/"
    assert len(connection.external_id) >= 24
    page = client.get(response["Location"]).text
    policy = json.loads(page.split('id="trust-policy">')[1].split("</pre>")[0].replace("&quot;", '"'))
    statement = policy["Statement"][0]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::999999999999:role/aegis-worker"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": connection.external_id}}


def test_it_names_a_placeholder_principal_when_none_is_configured(client, alice, settings):
    del settings.AEGIS_AWS_PRINCIPAL_ARN
    connection = make_connection(alice)
    client.force_login(alice)
    assert "arn:aws:iam::&lt;your-aegis-account&gt;:root" in client.get(f"/audits/connections/{connection.pk}/").text


@pytest.mark.parametrize("arn", ["arn:aws:iam::12345:role/x", "arn:aws:iam::123456789012:user/x", "role/x", ""])
def test_it_rejects_a_bad_role_arn_beside_the_field(client, alice, arn):
    client.force_login(alice)
    response = client.post("/audits/connections/", {"name": "prod", "role_arn": arn})
    assert response.status_code == 400
    assert 'class="field-error"' in response.text
    assert not AwsConnection.objects.exists()


def test_it_verifies_a_connection_with_moto(client, alice, aws_env):
    connection = make_connection(alice)
    client.force_login(alice)
    with mock_aws():
        response = client.post(f"/audits/connections/{connection.pk}/verify", follow=True)
    connection.refresh_from_db()
    assert connection.account_id == "123456789012"
    assert connection.verified_at is not None and connection.last_error == ""
    assert "Verified" in response.text


def test_it_shows_access_denied_in_plain_words(client, alice, monkeypatch):
    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(sts)
    stubber.add_client_error("assume_role", service_error_code="AccessDenied", http_status_code=403,
                             service_message="User: arn:aws:iam::999:root is not authorized to perform: sts:AssumeRole")
    stubber.activate()
    monkeypatch.setattr(views, "_collect_session_for", lambda: None)
    monkeypatch.setattr(views, "_sts_client", lambda: sts)
    connection = make_connection(alice)
    client.force_login(alice)
    response = client.post(f"/audits/connections/{connection.pk}/verify", follow=True)
    connection.refresh_from_db()
    assert connection.verified_at is None
    assert "AccessDenied" in connection.last_error and "not authorized" in connection.last_error
    assert "AWS refused access" in response.text
    stubber.assert_no_pending_responses()


def test_it_stores_no_secret_keys(alice):
    names = {field.name for field in AwsConnection._meta.get_fields()}
    assert not names & {"access_key", "secret_key", "aws_secret_access_key", "session_token"}


def test_it_deletes_a_connection(client, alice):
    connection = make_connection(alice)
    client.force_login(alice)
    assert client.post(f"/audits/connections/{connection.pk}/delete")["Location"] == "/audits/connections/"
    assert not AwsConnection.objects.exists()


def test_it_lists_only_my_connections(client, alice, bob):
    make_connection(alice, name="mine")
    make_connection(bob, name="theirs")
    client.force_login(alice)
    text = client.get("/audits/connections/").text
    assert "mine" in text and "theirs" not in text


def test_it_hides_connections_from_strangers(client, alice, bob):
    connection = make_connection(alice)
    client.force_login(bob)
    assert client.get(f"/audits/connections/{connection.pk}/").status_code == 404
    assert client.post(f"/audits/connections/{connection.pk}/verify").status_code == 404
    assert client.post(f"/audits/connections/{connection.pk}/delete").status_code == 404
    assert AwsConnection.objects.exists()


def test_it_refuses_the_wrong_methods_on_connections(client, alice):
    connection = make_connection(alice)
    client.force_login(alice)
    assert client.put("/audits/connections/").status_code == 405
    assert client.post(f"/audits/connections/{connection.pk}/").status_code == 405
    assert client.get(f"/audits/connections/{connection.pk}/verify").status_code == 405
    assert client.get(f"/audits/connections/{connection.pk}/delete").status_code == 405
