"""Bidirectional controls in IAM names are shown as visible escapes, never obeyed."""

import pytest

from audits.models import Finding
from audits.templatetags.aegis import iam, neutralise_bidi
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db
HOSTILE = "admin\u202egnp.exe\u2066x\u2069\u200f\u061c"


def test_it_turns_every_bidi_control_into_a_visible_escape():
    assert neutralise_bidi(HOSTILE) == "admin\\u202egnp.exe\\u2066x\\u2069\\u200f\\u061c"
    for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]:
        assert chr(code) not in neutralise_bidi(f"a{chr(code)}b")
    assert str(iam("<b>\u202e</b>")) == "&lt;b&gt;\\u202e&lt;/b&gt;"  # still escaped


def test_it_neutralises_a_hostile_role_name_on_every_page(client, alice):
    run = make_completed_run(
        alice,
        [
            make_finding(
                "evil",
                principal_name=HOSTILE,
                title=f"Admin role {HOSTILE}",
                principal_arn=f"arn:aws:iam::111122223333:role/{HOSTILE}",
            )
        ],
    )
    client.force_login(alice)
    finding = Finding.objects.get(run=run)
    for url in (
        f"/audits/{run.pk}/",
        f"/audits/{run.pk}/findings/{finding.pk}/",
        f"/audits/{run.pk}/compare",
        f"/audits/{run.pk}/timeline?before=99",
    ):
        text = client.get(url).text
        assert "\u202e" not in text and "\u2066" not in text and "\u200f" not in text, url
    assert "admin\\u202egnp.exe" in client.get(f"/audits/{run.pk}/").text
