"""Every feature is reachable from a page a user already is on: "Who can…?" from a run's results, the
organization audit from New audit."""

import pytest

from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db


def test_it_links_who_can_from_a_finished_runs_results(client, alice):
    run = make_completed_run(alice, [make_finding("x")])
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    assert f'id="open-query" href="/audits/{run.pk}/query"' in text
    assert client.get(f"/audits/{run.pk}/query").status_code == 200


def test_it_links_the_organization_audit_from_new_audit(client, alice):
    client.force_login(alice)
    text = client.get("/audits/new").text
    assert 'href="/audits/new-organization" id="open-new-org"' in text
    assert client.get("/audits/new-organization").status_code == 200
