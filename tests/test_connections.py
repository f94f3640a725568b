"""AWS connections: the trust policy names the real principal, verify tells who must fix what, no unverified audits."""

import json

import boto3
import pytest
from botocore.stub import Stubber
from django.utils import timezone
from moto import mock_aws

from audits.forms import verified_connections
from audits.models import AwsConnection
from audits.views import connections
from audits.views.connections import aegis_principal

pytestmark = pytest.mark.django_db

ROLE = "arn:aws:iam::123456789012:role/AegisAudit"
WORKER = "arn:aws:iam::999999999999:role/aegis-worker"


@pytest.fixture(autouse=True)
def fresh_principal(settings):
    settings.AEGIS_AWS_PRINCIPAL_ARN = ""
    connections.forget_principal()
    yield
    connections.forget_principal()


@pytest.fixture
def aws_env(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


def make_connection(owner, **fields) -> AwsConnection:
    fields.setdefault("role_arn", ROLE)
    return AwsConnection.objects.create(owner=owner, name=fields.pop("name", "prod"), **fields)


def stubbed_sts(monkeypatch) -> Stubber:
    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(sts)
    stubber.activate()
    monkeypatch.setattr(connections, "_sts_client", lambda: sts)
    return stubber


def trust_policy_on(page: str) -> dict:
    return json.loads(page.split('id="trust-policy">')[1].split("</pre>")[0].replace("&quot;", '"'))


def test_it_adds_a_connection_and_shows_its_trust_policy(client, alice, settings):
    settings.AEGIS_AWS_PRINCIPAL_ARN = WORKER
    client.force_login(alice)
    response = client.post("/audits/connections/", {"name": "prod", "role_arn": ROLE})
    connection = AwsConnection.objects.get(owner=alice)
    assert response["Location"] == f"/audits/connections/{connection.pk}/"
    assert len(connection.external_id) >= 24
    page = client.get(response["Location"]).text
    statement = trust_policy_on(page)["Statement"][0]
    assert statement["Principal"] == {"AWS": WORKER}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": connection.external_id}}
    assert page.count('data-copy-target="') >= 3 and "audits/copy.js" in page
    assert "&lt;your-aegis-account&gt;" not in page and ":root" not in page


def test_it_trusts_the_role_the_server_runs_as_with_its_path(client, alice, aws_env, monkeypatch):
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_role(RoleName="aegis-worker", Path="/service/", AssumeRolePolicyDocument="{}")
        creds = boto3.client("sts", region_name="us-east-1").assume_role(
            RoleArn="arn:aws:iam::123456789012:role/service/aegis-worker", RoleSessionName="web-1"
        )["Credentials"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
        monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
        assert aegis_principal().arn == "arn:aws:iam::123456789012:role/service/aegis-worker"
        connection = make_connection(alice)
        client.force_login(alice)
        page = client.get(f"/audits/connections/{connection.pk}/").text
    assert trust_policy_on(page)["Statement"][0]["Principal"] == {
        "AWS": "arn:aws:iam::123456789012:role/service/aegis-worker"
    }


def test_it_converts_a_session_arn_without_iam_access_and_caches_it(monkeypatch):
    stubber = stubbed_sts(monkeypatch)
    stubber.add_response(
        "get_caller_identity",
        {
            "Arn": "arn:aws:sts::999999999999:assumed-role/aegis-worker/i-0ab",
            "Account": "999999999999",
            "UserId": "AROA:i-0ab",
        },
    )
    monkeypatch.setattr(connections, "_role_arn_with_path", lambda name: "")
    assert aegis_principal().arn == WORKER
    assert aegis_principal().arn == WORKER  # the second answer comes from the cache: no second stubbed call
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("arn", "words"),
    [
        ("arn:aws:iam::999999999999:root", "root user"),
        ("arn:aws:sts::999999999999:federated-user/bob", "cannot name"),
    ],
)
def test_it_never_offers_a_root_or_session_principal(monkeypatch, client, alice, arn, words):
    stubber = stubbed_sts(monkeypatch)
    stubber.add_response("get_caller_identity", {"Arn": arn, "Account": "999999999999", "UserId": "x"})
    connection = make_connection(alice)
    client.force_login(alice)
    page = client.get(f"/audits/connections/{connection.pk}/").text
    assert 'id="trust-policy"' not in page
    assert "On the Aegis server (for its operator):" in page and words in page


def test_it_tells_the_operator_when_the_server_has_no_credentials(client, alice, monkeypatch):
    monkeypatch.setattr(
        connections,
        "_caller_principal",
        lambda: connections.Principal(
            error="The Aegis server has no AWS credentials, so it cannot assume customer roles."
        ),
    )
    connection = make_connection(alice)
    client.force_login(alice)
    response = client.post(f"/audits/connections/{connection.pk}/verify", follow=True)
    connection.refresh_from_db()
    assert connection.last_error.startswith("On the Aegis server (for its operator): The Aegis server has no AWS")
    assert "tell whoever runs this Aegis server" in response.text
    assert "Check that the role" not in response.text


def test_it_verifies_a_connection_with_moto(client, alice, aws_env, settings):
    settings.AEGIS_AWS_PRINCIPAL_ARN = WORKER
    connection = make_connection(alice)
    client.force_login(alice)
    with mock_aws():
        response = client.post(f"/audits/connections/{connection.pk}/verify", follow=True)
    connection.refresh_from_db()
    assert connection.account_id == "123456789012"
    assert connection.verified_at is not None and connection.last_error == ""
    assert "Verified" in response.text
    assert list(verified_connections(alice)) == [connection]


def test_it_tells_the_user_what_to_fix_in_their_account(client, alice, monkeypatch, settings):
    settings.AEGIS_AWS_PRINCIPAL_ARN = WORKER
    stubber = stubbed_sts(monkeypatch)
    stubber.add_client_error(
        "assume_role",
        service_error_code="AccessDenied",
        http_status_code=403,
        service_message=f"User: {WORKER} is not authorized to perform: sts:AssumeRole",
    )
    connection = make_connection(alice, verified_at=timezone.now(), account_id="123456789012")
    client.force_login(alice)
    response = client.post(f"/audits/connections/{connection.pk}/verify", follow=True)
    connection.refresh_from_db()
    assert connection.last_error.startswith("In your AWS account: AWS refused")
    assert WORKER in connection.last_error and connection.external_id in connection.last_error
    assert "trust policy" in response.text and "operator" not in connection.last_error
    # A failed check withdraws the earlier verification: no audit on a connection that does not work now.
    assert not verified_connections(alice).exists()
    stubber.assert_no_pending_responses()


def test_it_blames_the_server_for_its_own_bad_credentials(client, alice, monkeypatch, settings):
    settings.AEGIS_AWS_PRINCIPAL_ARN = WORKER
    stubber = stubbed_sts(monkeypatch)
    stubber.add_client_error(
        "assume_role",
        service_error_code="InvalidClientTokenId",
        http_status_code=403,
        service_message="The security token included in the request is invalid.",
    )
    connection = make_connection(alice)
    client.force_login(alice)
    client.post(f"/audits/connections/{connection.pk}/verify")
    connection.refresh_from_db()
    assert connection.last_error.startswith("On the Aegis server (for its operator): AWS rejected the server")


def test_it_refuses_a_bad_configured_principal(settings):
    settings.AEGIS_AWS_PRINCIPAL_ARN = "arn:aws:iam::999999999999:root"
    assert aegis_principal().arn == "" and "not an IAM role or user ARN" in aegis_principal().error


@pytest.mark.parametrize("arn", ["arn:aws:iam::12345:role/x", "arn:aws:iam::123456789012:user/x", "role/x", ""])
def test_it_rejects_a_bad_role_arn_beside_the_field(client, alice, arn):
    client.force_login(alice)
    response = client.post("/audits/connections/", {"name": "prod", "role_arn": arn})
    assert response.status_code == 400
    assert 'class="field-error"' in response.text
    assert not AwsConnection.objects.exists()


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
    make_connection(bob, name="theirs", verified_at=timezone.now())
    client.force_login(alice)
    text = client.get("/audits/connections/").text
    assert "mine" in text and "theirs" not in text
    assert not verified_connections(alice).exists()


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
