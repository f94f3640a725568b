"""New, resolved and unchanged findings against the previous audit of the same account."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits.compare import compare, previous_run
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db


def test_it_matches_findings_by_fingerprint(alice):
    earlier = timezone.now() - timedelta(days=1)
    before = make_completed_run(alice, [make_finding("kept"), make_finding("fixed")], created=earlier)
    after = make_completed_run(alice, [make_finding("kept"), make_finding("fresh")])
    result = compare(after)
    assert result.previous == before
    assert [f.fingerprint for f in result.new] == ["fresh"]
    assert [f.fingerprint for f in result.resolved] == ["fixed"]
    assert [f.fingerprint for f in result.unchanged] == ["kept"]


def test_it_only_compares_my_runs_of_the_same_account(alice, bob):
    earlier = timezone.now() - timedelta(days=1)
    make_completed_run(bob, [make_finding("a")], created=earlier)
    make_completed_run(alice, [make_finding("a")], account_id="999988887777", created=earlier)
    run = make_completed_run(alice, [make_finding("a")])
    assert previous_run(run) is None
    assert compare(run).previous is None


def test_it_shows_the_comparison_page(client, alice, bob):
    make_completed_run(alice, [make_finding("fixed")], created=timezone.now() - timedelta(days=1))
    run = make_completed_run(alice, [make_finding("fresh")])
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/compare").text
    assert "Finding fresh" in text.split('id="c-new"')[1].split("</section>")[0]
    assert "Finding fixed" in text.split('id="c-resolved"')[1].split("</section>")[0]
    assert "1 new" in client.get(f"/audits/{run.pk}/").text
    client.force_login(bob)
    assert client.get(f"/audits/{run.pk}/compare").status_code == 404


def test_it_compares_with_any_run_i_can_see_chosen_from_a_select(client, alice, bob, reviewer):
    other_account = make_completed_run(
        alice,
        [make_finding("x", severity="low"), make_finding("y")],
        account_id="999988887777",
        created=timezone.now() - timedelta(days=2),
    )
    previous = make_completed_run(alice, [make_finding("z")], created=timezone.now() - timedelta(days=1))
    bobs = make_completed_run(bob, [make_finding("b")])
    run = make_completed_run(
        alice,
        [
            make_finding("x", severity="low"),
            make_finding("w", severity="critical"),
            make_finding("v", severity="medium"),
        ],
    )
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/compare").text
    assert f'<option value="{previous.pk}" selected>' in text  # the previous run of the same account
    assert f'<option value="{other_account.pk}">' in text and f'value="{bobs.pk}"' not in text
    text = client.get(f"/audits/{run.pk}/compare?with={other_account.pk}").text
    assert "a different account" in text
    new = text.split('id="c-new"')[1].split("</section>")[0]
    assert new.index("Finding w") < new.index("Finding v")  # worst first
    unchanged = text.split('<details class="card unchanged"')[1].split("</details>")[0]
    assert "Finding x" in unchanged  # collapsed: a <details> without `open`
    assert client.get(f"/audits/{run.pk}/compare?with={bobs.pk}").status_code == 404
    assert client.get(f"/audits/{run.pk}/compare?with=abc").status_code == 200  # ignored, the default
    client.force_login(reviewer)  # staff may compare anyone's runs
    assert client.get(f"/audits/{run.pk}/compare?with={bobs.pk}").status_code == 200
