"""The "Who can...?" page and API endpoint on a run's stored snapshot."""

import gzip
import json
from pathlib import Path

from audits.models import RunInput
from audits.runs.inputs import store_input
from audits.tokens import create_token
from tests.helpers import make_run

LITERATURE = Path(__file__).resolve().parent / "iam" / "scenarios" / "literature_account.json"
HIGH_PRIV = "arn:aws:iam::111122223333:role/privesc-high-priv-service-role"
ASK = {"action": "iam:PassRole", "resource": HIGH_PRIV}


def snapshot_run(owner, *, as_input: bool = False):
    data = json.loads(LITERATURE.read_text())
    run = make_run(owner, source="snapshot")
    if as_input:  # stored the way an upload is
        RunInput.objects.create(run=run, data=gzip.compress(json.dumps(data).encode()))
    else:
        store_input(run, data)
    return run


def test_it_answers_on_the_page_from_the_runs_snapshot(client, alice):
    run = snapshot_run(alice)
    client.force_login(alice)
    page = client.get(f"/audits/{run.pk}/query", ASK)
    text = page.content.decode()
    assert page.status_code == 200 and "nm-PassRoleAlone-role" in text and "allowed by" in text


def test_it_reads_the_run_input_table_when_the_input_lives_there(client, alice):
    run = snapshot_run(alice, as_input=True)
    client.force_login(alice)
    assert "nm-PassRoleAlone-role" in client.get(f"/audits/{run.pk}/query", ASK).content.decode()


def test_it_shows_the_empty_form_and_explains_a_bad_action(client, alice):
    run = make_run(alice)  # a demo run: the bundled demo account
    client.force_login(alice)
    assert client.get(f"/audits/{run.pk}/query").status_code == 200
    bad = client.get(f"/audits/{run.pk}/query", {"action": "iam:NoSuchThing"})
    assert bad.status_code == 400 and "unknown action" in bad.content.decode()


def test_it_gives_strangers_a_404_and_refuses_post(client, alice, bob):
    run = snapshot_run(alice)
    client.force_login(bob)
    assert client.get(f"/audits/{run.pk}/query", ASK).status_code == 404
    client.force_login(alice)
    assert client.post(f"/audits/{run.pk}/query", ASK).status_code == 405
    client.logout()
    assert client.get(f"/audits/{run.pk}/query", ASK).status_code == 302  # to the login page


def test_it_answers_the_api_with_a_token_and_not_for_strangers(client, alice, bob):
    run = snapshot_run(alice, as_input=True)
    _, mine = create_token(alice, "mine")
    _, theirs = create_token(bob, "theirs")
    ok = client.get(f"/api/v1/audits/{run.pk}/query", ASK, HTTP_AUTHORIZATION=f"Bearer {mine}")
    decisions = {d["principal"]: d for d in ok.json()["decisions"]}
    assert ok.status_code == 200
    assert decisions["arn:aws:iam::111122223333:role/nm-PassRoleAlone-role"]["decision"] == "allowed"
    assert client.get(f"/api/v1/audits/{run.pk}/query", ASK, HTTP_AUTHORIZATION=f"Bearer {theirs}").status_code == 404
    assert client.get(f"/api/v1/audits/{run.pk}/query", ASK).status_code == 401
    missing = client.get(f"/api/v1/audits/{run.pk}/query", HTTP_AUTHORIZATION=f"Bearer {mine}")
    assert missing.status_code == 400 and "action" in missing.json()["error"]


def test_it_agrees_with_the_cli(client, alice, capsys):
    from audits.management.commands.audit import main

    run = snapshot_run(alice)
    _, mine = create_token(alice, "mine")
    api = client.get(f"/api/v1/audits/{run.pk}/query", ASK, HTTP_AUTHORIZATION=f"Bearer {mine}").json()
    assert main(["query", "--snapshot", str(LITERATURE), "--action", ASK["action"], "--resource", HIGH_PRIV]) == 0
    assert json.loads(capsys.readouterr().out)["decisions"] == api["decisions"]
