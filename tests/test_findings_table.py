"""The findings table: sort by any column, group by check or principal, page size, words for labels."""

import re

import pytest

from audits.models import Finding
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db


def titles(text: str) -> list[str]:
    return re.findall(r'class="finding-link"[^>]*>([^<]+)</a>', text)


@pytest.fixture
def run(alice):
    return make_completed_run(
        alice,
        [
            make_finding(
                "b-low",
                severity="low",
                title="Bravo",
                principal_name="zed",
                check_id="check_b",
                category="credential_hygiene",
            ),
            make_finding(
                "a-crit",
                severity="critical",
                title="Alpha",
                principal_name="yak",
                check_id="check_a",
                category="admin_access",
            ),
            make_finding(
                "c-high",
                severity="high",
                title="Charlie",
                principal_name="zed",
                check_id="check_a",
                category="privilege_escalation",
            ),
        ],
    )


def test_it_sorts_worst_first_by_default_and_by_any_column(client, alice, run):
    client.force_login(alice)
    base = f"/audits/{run.pk}/"
    assert titles(client.get(base).text) == ["Alpha", "Charlie", "Bravo"]
    assert titles(client.get(base + "?sort=-severity").text) == ["Bravo", "Charlie", "Alpha"]
    assert titles(client.get(base + "?sort=title").text) == ["Alpha", "Bravo", "Charlie"]
    assert titles(client.get(base + "?sort=-title").text) == ["Charlie", "Bravo", "Alpha"]
    assert titles(client.get(base + "?sort=principal").text) == ["Alpha", "Charlie", "Bravo"]
    assert titles(client.get(base + "?sort=category").text) == ["Alpha", "Bravo", "Charlie"]


def test_it_links_each_header_to_its_sort_and_reverses_the_active_one(client, alice, run):
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/?sort=title").text
    link = f'<th scope="col" aria-sort="ascending"><a class="sort" href="/audits/{run.pk}/?sort=-title#findings"'
    assert link in text
    assert "?sort=principal#findings" in text


def test_it_groups_by_check_or_principal(client, alice, run):
    client.force_login(alice)
    by_check = client.get(f"/audits/{run.pk}/?group=check").text
    assert by_check.count('class="group-row"') == 2
    assert titles(by_check) == ["Alpha", "Charlie", "Bravo"]  # check_a's two, then check_b's
    by_principal = client.get(f"/audits/{run.pk}/?group=principal").text
    assert by_principal.count('class="group-row"') == 3  # one per principal ARN


def test_it_lets_the_reader_choose_the_page_size(client, alice):
    run = make_completed_run(alice, [make_finding(f"f{i}") for i in range(30)])
    client.force_login(alice)
    assert len(titles(client.get(f"/audits/{run.pk}/").text)) == 30
    page = client.get(f"/audits/{run.pk}/?per=25").text
    assert len(titles(page)) == 25 and "Page 1 of 2" in page
    assert len(titles(client.get(f"/audits/{run.pk}/?per=7").text)) == 30  # not a choice: the default 50


def test_it_shows_category_titles_not_ids(client, alice, run):
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    assert "Admin access" in text and "Privilege escalation" in text
    assert ">admin_access<" not in text and "admin access<" not in text


def test_it_numbers_statements_from_one_and_titles_methods_and_paths_apart(client, alice):
    methods = {
        "methods": [
            {
                "method": "CreateAccessKey",
                "how": "create a key",
                "actions": ["iam:CreateAccessKey"],
                "statements": [{"policy": "p", "sid": "#0", "statement": {"Action": "*"}}],
            }
        ]
    }
    path = {"path": "role a -> role b (admin)", "hops": [{"type": "role", "name": "a"}, {"type": "role", "name": "b"}]}
    run = make_completed_run(alice, [make_finding("m", evidence=methods), make_finding("p", evidence=path)])
    client.force_login(alice)
    with_methods, with_path = Finding.objects.filter(run=run).order_by("seq")
    text = client.get(f"/audits/{run.pk}/findings/{with_methods.pk}/").text
    assert "statement 1" in text and "#0" not in text
    assert "<h3>Methods" in text and "Escalation path" not in text
    text = client.get(f"/audits/{run.pk}/findings/{with_path.pk}/").text
    assert "<h3>Escalation path</h3>" in text
    assert re.findall(r'<li class="mono">([^<]+)</li>', text) == ["role a", "role b"]


def test_it_gives_the_inline_panel_a_close_button(client, alice, run):
    client.force_login(alice)
    finding = Finding.objects.filter(run=run).first()
    inline = client.get(f"/audits/{run.pk}/findings/{finding.pk}/", HTTP_HX_REQUEST="true").text
    assert 'data-close-panel="finding-panel"' in inline and "Close" in inline
    assert "data-close-panel" not in client.get(f"/audits/{run.pk}/findings/{finding.pk}/").text
