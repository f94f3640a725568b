"""Sign-in throttling counts each attempt atomically before its password is checked, so simultaneous guesses
cannot all slip under the limit."""

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from audits import sign_in_counts as counts
from audits.models import SignInCount


def test_it_checks_at_most_the_limit_of_twenty_simultaneous_wrong_passwords(server, alice):
    with httpx.Client(base_url=server, timeout=120) as http:
        page = http.get("/accounts/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

        def guess(i: int) -> httpx.Response:
            return http.post("/accounts/login/", data={"csrfmiddlewaretoken": csrf, "username": "alice",
                                                       "password": f"wrong-{i}"})  # fmt: skip

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(guess, range(20)))
    checked = [a for a in answers if a.status_code == 200 and "didn't match" in a.text]
    throttled = [a for a in answers if a.status_code == 429 and "Too many failed sign-in attempts" in a.text]
    assert len(checked) == 5  # AEGIS_LOGIN_FAILURES_ALLOWED
    assert len(throttled) == 15


@pytest.mark.django_db
def test_it_takes_no_more_places_than_the_limit_and_starts_again_after_the_window():
    assert [counts.take("k", 3, 60) for _ in range(5)] == [True, True, True, False, False]
    assert counts.count("k") == 3
    SignInCount.objects.filter(key="k").update(expires=timezone.now() - timedelta(seconds=1))
    assert counts.count("k") == 0
    assert counts.take("k", 3, 60) and counts.count("k") == 1


@pytest.mark.django_db
def test_it_gives_a_place_back_but_never_below_zero():
    counts.take("k", 2, 60)
    counts.take("k", 2, 60)
    counts.give_back("k")
    assert counts.take("k", 2, 60) and not counts.take("k", 2, 60)
    for _ in range(5):
        counts.give_back("k")
    assert counts.count("k") == 0


@pytest.mark.django_db
def test_it_lets_one_request_through_a_lapsed_gate():
    assert counts.through_gate("slow", 60), "no gate held: open"
    counts.hold("slow", 60)
    assert not counts.through_gate("slow", 60)
    SignInCount.objects.filter(key="slow").update(expires=timezone.now() - timedelta(seconds=1))
    assert [counts.through_gate("slow", 60) for _ in range(3)] == [True, False, False]


@pytest.mark.django_db
def test_it_forgets_windows_that_ended():
    counts.take("old", 5, 60)
    counts.take("new", 5, 60)
    SignInCount.objects.filter(key="old").update(expires=timezone.now() - timedelta(seconds=1))
    counts.forget_expired()
    assert list(SignInCount.objects.values_list("key", flat=True)) == ["new"]
