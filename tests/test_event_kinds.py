"""Event kinds are declared once, in the engine (audits.iam.events): what the engine and the run code emit, the
model's choices, the timeline's type filter and the pages' scripts all come from that one list."""

import ast
import html
import json
import re

import pytest
from django.urls import reverse

from audits import timeline
from audits.iam import run_audit
from audits.iam.events import ENDING, EVENT_CHOICES, EVENT_KINDS, EVENT_TYPES, TIMELINE_FILTERS
from audits.iam.snapshot import load_demo_snapshot
from audits.models import AuditEvent, AuditRun
from tests.helpers import ROOT, make_run

EMITTERS = {"emit", "out", "emit_fn", "emit_paced"}


def literal_kinds() -> set[str]:
    """The first argument of every emit(...) / out(...) call in audits/ that is a string literal."""
    kinds = set()
    for path in (ROOT / "audits").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            first = node.args[0]
            if name in EMITTERS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                kinds.add(first.value)
    return kinds


def test_it_declares_each_kind_once():
    assert len(EVENT_TYPES) == len(set(EVENT_TYPES)) == len(EVENT_KINDS)
    assert set(ENDING) <= set(EVENT_TYPES)


def test_it_emits_only_declared_kinds():
    emitted = []
    run_audit(load_demo_snapshot(), lambda kind, *rest: emitted.append(kind), frameworks=["cis"])
    assert {"start", "principal", "finding", "stats", "complete"} <= set(emitted)
    assert set(emitted) <= set(EVENT_TYPES)
    written = literal_kinds()
    assert {"start", "cancelled", "error", "warning", "progress"} <= written, "the scan found the emit calls"
    assert written <= set(EVENT_TYPES), f"emitted but not declared: {written - set(EVENT_TYPES)}"


def test_it_gives_the_model_its_choices():
    assert AuditEvent._meta.get_field("type").choices == list(EVENT_CHOICES)


def test_it_filters_the_timeline_by_the_declared_kinds():
    assert tuple(kind for kind, _ in TIMELINE_FILTERS) == timeline.EVENT_FILTERS
    assert timeline.clean_filters({"type": "finding"})["type"] == "finding"
    assert timeline.clean_filters({"type": "complete"})["type"] == "", "a kind the filter does not offer"


def test_it_keeps_no_list_of_kinds_in_the_scripts():
    for name in ("run.js", "org.js"):
        script = (ROOT / "static" / "audits" / name).read_text()
        assert "JSON.parse(root.dataset.ending)" in script
        for kind, status in ENDING.items():
            assert not re.search(rf"\b{kind}\s*:\s*\"{status}\"", script), f"{name} lists {kind} itself"


def data_ending(text: str) -> dict:
    found = re.search(r'data-ending="([^"]*)"', text)
    assert found, "the page hands its scripts no data-ending list"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.django_db
def test_it_hands_the_pages_the_declared_list(client, alice):
    client.force_login(alice)
    run = make_run(alice, status=AuditRun.Status.COMPLETED)
    page = client.get(reverse("audits:run", args=[run.pk])).content.decode()
    options = re.findall(
        r'<option value="(\w+)">([^<]+)</option>', page.split('name="type"', 1)[1].split("</select>")[0]
    )
    assert options == list(TIMELINE_FILTERS)
    assert data_ending(page) == ENDING
    replay = client.get(reverse("audits:playback", args=[run.pk])).content.decode()
    assert data_ending(replay) == ENDING
    org = make_run(alice, status=AuditRun.Status.COMPLETED, kind=AuditRun.Kind.ORGANIZATION)
    assert data_ending(client.get(reverse("audits:run", args=[org.pk])).content.decode()) == ENDING
