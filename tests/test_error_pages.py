"""Styled 403/404/500 pages with the site's navigation."""

import pytest
from django.test import Client

from tests.helpers import make_run

pytestmark = pytest.mark.django_db


def test_it_gives_another_users_run_a_styled_404(client, alice, bob, settings):
    settings.DEBUG = False
    run = make_run(alice)
    client.force_login(bob)
    response = client.get(f"/audits/{run.pk}/")
    assert response.status_code == 404
    assert '<nav aria-label="Main"' in response.text and "This page does not exist" in response.text
    assert 'href="/static/audits/aegis.css"' in response.text


def test_it_styles_403(client, alice, settings):
    settings.DEBUG = False
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(alice)
    response = csrf_client.post("/audits/new", {"source": "demo"})
    assert response.status_code == 403
    assert "This form has expired" in response.text and "Your audits" in response.text


def test_it_styles_a_permission_denied(rf, alice):
    from django.core.exceptions import PermissionDenied

    from aegis_site.errors import forbidden

    request = rf.get("/")
    request.user = alice
    response = forbidden(request, PermissionDenied())
    assert response.status_code == 403 and "You may not do that" in response.content.decode()


def test_it_styles_500_without_needing_the_request(rf):
    from aegis_site.errors import server_error

    response = server_error(rf.get("/"))
    assert response.status_code == 500
    text = response.content.decode()
    assert "Something went wrong on our side" in text and 'href="/audits/"' in text


def test_a_404_stays_a_404_when_its_styled_page_cannot_render(client, bob, settings, monkeypatch, caplog):
    # The layout reads the database (the reviewer link); a failure there must not turn "not found" into a 500.
    from audits import reviewers

    def broken(user):
        raise RuntimeError("the database went away")

    settings.DEBUG = False
    monkeypatch.setattr(reviewers, "is_reviewer", broken)
    monkeypatch.setattr("audits.templatetags.reviews._is_reviewer", broken)
    client.raise_request_exception = False
    client.force_login(bob)
    response = client.get("/audits/999999/")
    assert response.status_code == 404 and "Not found" in response.text
    assert "the 404 page failed to render" in caplog.text
