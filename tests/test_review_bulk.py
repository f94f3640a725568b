"""The review page with many findings: filters, pages of 50 with counts, and accepting many risks in one POST."""

import re
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.test import Client
from django.utils import timezone

from audits.models import Finding, Suppression
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db


@pytest.fixture
def big_run(alice):
    """135 findings: 15 critical on role ops-*, 120 low on the check access_key_unused."""
    findings = [make_finding(f"crit{i}", severity="critical", principal_name=f"ops-{i}") for i in range(15)]
    findings += [
        make_finding(f"low{i}", severity="low", check_id="access_key_unused", principal_name=f"dev-{i}")
        for i in range(120)
    ]
    return make_completed_run(alice, findings)


def _in_days(days: int) -> str:
    return (timezone.now() + timedelta(days=days)).date().isoformat()


def rows(text: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<div class="review-row">\s*<input [^>]*value="(\d+)"', text)]


def bulk(client, run, **form):
    data = {"accept_selected": "1", "justification": "Known CI keys, rotated by the vault.", "expires": _in_days(30)}
    return client.post(f"/audits/review/{run.pk}/", data | form, follow=True)


def test_it_pages_the_findings_fifty_at_a_time_with_counts(client, rita, big_run):
    client.force_login(rita)
    first = client.get(f"/audits/review/{big_run.pk}/").text
    assert len(rows(first)) == 50
    assert "Findings (135)" in first and "Showing 1 to 50 of 135." in first and "Page 1 of 3" in first
    last = client.get(f"/audits/review/{big_run.pk}/?page=3").text
    assert len(rows(last)) == 35 and "Showing 101 to 135 of 135." in last
    # Worst first: the 15 critical ones open the first page.
    critical = set(Finding.objects.filter(run=big_run, severity="critical").values_list("pk", flat=True))
    assert set(rows(first)[:15]) == critical


def test_it_filters_by_severity_check_and_principal(client, rita, big_run):
    client.force_login(rita)
    text = client.get(f"/audits/review/{big_run.pk}/?severity=critical").text
    assert len(rows(text)) == 15 and "Findings (15 matching of 135)" in text
    text = client.get(f"/audits/review/{big_run.pk}/?check=access_key_unused&page=2").text
    assert "Findings (120 matching of 135)" in text and "Page 2 of 3" in text
    assert "check=access_key_unused&amp;page=3" in text  # the pager keeps the filters
    text = client.get(f"/audits/review/{big_run.pk}/?principal=OPS-1").text  # ops-1, ops-10 .. ops-14
    assert len(rows(text)) == 6
    text = client.get(f"/audits/review/{big_run.pk}/?severity=bogus&check=%3Cscript%3E&principal=nobody").text
    assert "No findings match these filters." in text and "<script>" not in text


def test_it_accepts_the_ticked_findings_in_one_post(client, rita, alice, big_run):
    picked = list(Finding.objects.filter(run=big_run, severity="critical").order_by("pk")[:3])
    client.force_login(rita)
    page = bulk(client, big_run, finding=[f.pk for f in picked], severity="critical", page="1")
    assert "3 risks accepted until" in page.text
    assert page.redirect_chain[-1][0] == f"/audits/review/{big_run.pk}/?severity=critical&page=1"
    accepted = Suppression.objects.filter(owner=alice, account_id="111122223333")
    assert {s.fingerprint for s in accepted} == {f.fingerprint for f in picked}
    assert {s.justification for s in accepted} == {"Known CI keys, rotated by the vault."}
    assert len({s.expires_at for s in accepted}) == 1 and all(s.created_by == rita for s in accepted)
    assert Finding.objects.filter(run=big_run, suppressed=True).count() == 3


def test_it_accepts_all_matching_findings_across_pages(client, rita, big_run):
    client.force_login(rita)
    text = client.get(f"/audits/review/{big_run.pk}/?check=access_key_unused").text
    assert "Select all 120 matching open findings, on every page" in text
    page = bulk(client, big_run, all_matching="1", check="access_key_unused")
    assert "120 risks accepted until" in page.text
    assert Suppression.objects.count() == 120
    assert set(Finding.objects.filter(run=big_run, suppressed=True).values_list("check_id", flat=True)) == {
        "access_key_unused"
    }
    # Those are now accepted: there is nothing left to select all of.
    after = client.get(f"/audits/review/{big_run.pk}/?check=access_key_unused").text
    assert 'name="all_matching"' not in after and "Every matching finding is accepted already" in after


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({}, "Choose at least one finding"),
        ({"finding": ["1x"]}, "The selection was not understood"),
        ({"finding": ["PICK"], "justification": " "}, "justification is required"),
        ({"finding": ["PICK"], "expires": "2020-01-01"}, "is not in the future"),
        ({"finding": ["PICK"], "justification": "x" * 4001}, "under 4000 characters"),
    ],
)
def test_it_refuses_a_bad_bulk_accept_clearly_and_accepts_nothing(client, rita, big_run, form, words):
    pick = str(Finding.objects.filter(run=big_run).first().pk)
    form = {
        k: [pick if v == "PICK" else v for v in value] if isinstance(value, list) else value
        for k, value in form.items()
    }
    client.force_login(rita)
    page = bulk(client, big_run, **form)
    assert page.status_code == 200 and words in page.text
    assert not Suppression.objects.exists() and not Finding.objects.filter(suppressed=True).exists()


def test_it_accepts_none_when_one_chosen_finding_is_of_another_run(client, rita, alice, big_run):
    other = make_completed_run(alice, [make_finding("elsewhere")])
    mine = Finding.objects.filter(run=big_run).first()
    theirs = Finding.objects.get(run=other)
    client.force_login(rita)
    page = bulk(client, big_run, finding=[mine.pk, theirs.pk])
    assert "not in this audit: nothing was accepted" in page.text
    assert not Suppression.objects.exists()


def test_it_accepts_all_or_nothing_in_one_transaction(client, rita, big_run, monkeypatch):
    from audits.views import review

    real = review._suppress
    calls = []

    def fail_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise IntegrityError("simulated failure half way")
        return real(*args, **kwargs)

    monkeypatch.setattr(review, "_suppress", fail_on_the_third)
    picked = list(Finding.objects.filter(run=big_run).values_list("pk", flat=True)[:5])
    client.force_login(rita)
    client.raise_request_exception = False
    response = client.post(
        f"/audits/review/{big_run.pk}/",
        {"accept_selected": "1", "finding": picked, "justification": "x", "expires": _in_days(5)},
    )
    assert response.status_code == 500
    assert not Suppression.objects.exists() and not Finding.objects.filter(suppressed=True).exists()


def test_it_keeps_the_bulk_accept_to_reviewers_with_csrf(client, alice, bob, rita, big_run):
    pick = Finding.objects.filter(run=big_run).first().pk
    form = {"accept_selected": "1", "finding": [pick], "justification": "x", "expires": _in_days(5)}
    for user in (alice, bob):  # the owner and a stranger: the page does not exist for them
        client.force_login(user)
        assert client.post(f"/audits/review/{big_run.pk}/", form).status_code == 404
        assert client.get(f"/audits/review/{big_run.pk}/?severity=critical").status_code == 404
    client.force_login(rita)
    assert client.put(f"/audits/review/{big_run.pk}/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(rita)
    assert strict.post(f"/audits/review/{big_run.pk}/", form).status_code == 403
    assert not Suppression.objects.exists()
    page = client.get(f"/audits/review/{big_run.pk}/").text
    assert 'name="csrfmiddlewaretoken"' in page and 'form="bulk-accept"' in page
