"""The finding's fix partial: the stored fix when the engine wrote one, else fix_for, with copy buttons."""

import pytest
from django.template.loader import render_to_string

from audits.models import Finding
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db


def test_it_renders_a_computed_fix_with_copy_buttons_and_docs(alice):
    console = make_finding(
        "console",
        check_id="console_access_unused",
        category="credential_hygiene",
        principal_type="user",
        principal_name="dave",
        principal_arn="arn:aws:iam::111122223333:user/dave",
        evidence={"days": 120},
    )
    run = make_completed_run(alice, [console])
    finding = Finding.objects.get(run=run)
    html = render_to_string("audits/_fix.html", {"finding": finding})
    assert "aws iam delete-login-profile --user-name dave" in html
    assert f'data-copy-target="fix-cli-{finding.pk}"' in html and f'id="fix-cli-{finding.pk}"' in html
    assert 'href="https://docs.aws.amazon.com/IAM/latest/UserGuide/' in html
    assert "audits/copy.js" in html and "<script>" not in html  # no inline script under the CSP


def test_it_prefers_the_fix_the_engine_stored(alice):
    run = make_completed_run(alice, [make_finding("x")])
    finding = Finding.objects.get(run=run)
    finding.fix = {
        "summary": "Stored <fix>",
        "cli": ["aws iam do-it"],
        "policy": {"Version": "2012-10-17", "Statement": []},
        "terraform": "",
        "docs": [],
    }
    html = render_to_string("audits/_fix.html", {"finding": finding})
    assert "Stored &lt;fix&gt;" in html and "aws iam do-it" in html and "&quot;Version&quot;" in html
