"""Mute rules: what a rule covers, a rule muting findings in the owner's next audit on every page, the API and
every export (score and counts without them), expiry, the YAML file, and who may keep rules."""

import csv
import io
import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audits import mutelist
from audits.models import AuditRun, Finding, MuteRule
from audits.runs import start, worker
from audits.tokens import create_token
from tests.helpers import ROOT

ACCOUNT = "123456789012"


def rule(**fields) -> mutelist.Rule:
    return mutelist.Rule("rule #1: test", **fields)


def finding(**fields) -> dict:
    return {"check_id": "iam_user_no_mfa", "principal_arn": f"arn:aws:iam::{ACCOUNT}:user/ci-deploy"} | fields


def no_tags(arn: str) -> None:
    return None


# --- matching ---------------------------------------------------------------------------------------------------


def test_it_matches_check_arn_pattern_and_account():
    assert mutelist.covers(rule(), finding(), ACCOUNT, no_tags)
    assert mutelist.covers(rule(check_id="iam_user_no_mfa"), finding(), ACCOUNT, no_tags)
    assert not mutelist.covers(rule(check_id="iam_root_keys"), finding(), ACCOUNT, no_tags)
    assert mutelist.covers(rule(arn_pattern="arn:aws:iam::*:user/ci-*"), finding(), ACCOUNT, no_tags)
    assert not mutelist.covers(rule(arn_pattern="arn:aws:iam::*:user/prod-*"), finding(), ACCOUNT, no_tags)
    # IAM's segment rule: a `*` inside the account segment does not span colons.
    assert not mutelist.covers(rule(arn_pattern="arn:aws:iam::1*3:user/ci-deploy"), finding(), ACCOUNT, no_tags)
    assert mutelist.covers(rule(account_id=ACCOUNT), finding(), "999999999999", no_tags)  # the ARN's account wins
    assert not mutelist.covers(rule(account_id="999999999999"), finding(), ACCOUNT, no_tags)
    assert mutelist.covers(rule(account_id=ACCOUNT), finding(principal_arn=""), ACCOUNT, no_tags)


def test_it_matches_tags_only_where_the_snapshot_has_them():
    snapshot = SimpleNamespace(
        users=[{"Arn": f"arn:aws:iam::{ACCOUNT}:user/ci-deploy", "Tags": [{"Key": "team", "Value": "platform"}]},
               {"Arn": f"arn:aws:iam::{ACCOUNT}:user/untagged"}],
        roles=[],
    )  # fmt: skip
    tags_of = mutelist.principal_tags(snapshot)
    assert mutelist.covers(rule(tags=(("team", "platform"),)), finding(), ACCOUNT, tags_of)
    assert mutelist.covers(rule(tags=(("team", "*"),)), finding(), ACCOUNT, tags_of)
    assert not mutelist.covers(rule(tags=(("team", "data"),)), finding(), ACCOUNT, tags_of)
    untagged = finding(principal_arn=f"arn:aws:iam::{ACCOUNT}:user/untagged")
    assert not mutelist.covers(rule(tags=(("team", "platform"),)), untagged, ACCOUNT, tags_of)


def test_it_matches_a_hostile_pattern_in_linear_time():
    pattern = "arn:aws:iam::*:role/" + "*a" * 1000 + "b"
    arn = "arn:aws:iam::123456789012:role/" + "a" * 5000
    assert not mutelist.covers(rule(arn_pattern=pattern), finding(principal_arn=arn), ACCOUNT, no_tags)


# --- a rule muting findings in the next run --------------------------------------------------------------------


def demo_run(owner) -> AuditRun:
    run = start.start_run(owner, source="demo", frameworks=["cis", "pci_dss"])
    assert worker.execute(run.pk) == "completed"
    run.refresh_from_db()
    return run


def make_rule(owner, by, **fields) -> MuteRule:
    values = {"reason": "CI deploy users, reviewed quarterly", "expires": timezone.now() + timedelta(days=30)}
    return MuteRule.objects.create(owner=owner, created_by=by, **(values | fields))


def export(client, run, name) -> bytes:
    response = client.get(f"/audits/{run.pk}/export/{name}")
    assert response.status_code == 200
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.django_db(transaction=True)
def test_a_rule_mutes_findings_in_the_next_run_everywhere(client, alice, reviewer, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    first = demo_run(alice)
    target = Finding.objects.filter(run=first, severity="critical").exclude(principal_arn="").first()
    same_check = Finding.objects.filter(run=first, check_id=target.check_id).count()
    rule = make_rule(alice, reviewer, check_id=target.check_id, account_id=first.account_id)
    label = f"rule #{rule.pk}: CI deploy users, reviewed quarterly"

    second = demo_run(alice)
    muted = Finding.objects.filter(run=second, suppressed=True)
    assert muted.count() == same_check and set(muted.values_list("muted_by", flat=True)) == {label}
    assert second.result["suppressed_findings"] == same_check
    assert second.result["audit_summary"]["findings"] == first.result["audit_summary"]["findings"] - same_check
    assert second.result["risk_score_before_suppressions"] == first.risk_score
    assert target.fingerprint not in {t["fingerprint"] for t in second.result["top_risks"]}
    assert second.events.filter(message__contains=f"(muted by {label})").count() == same_check

    client.force_login(alice)
    one = muted.get(fingerprint=target.fingerprint)
    assert f"muted by {label}" in client.get(f"/audits/{second.pk}/findings/{one.pk}/").text
    assert f"muted by rule #{rule.pk}" in client.get(f"/audits/{second.pk}/").text

    document = json.loads(export(client, second, "findings.json"))
    marked = [f for f in document["findings"] if f.get("suppressed")]
    assert {f["fingerprint"] for f in marked} == set(muted.values_list("fingerprint", flat=True))
    assert {f["muted_by"] for f in marked} == {label}
    assert document["summary"]["total_findings"] == second.result["audit_summary"]["findings"]
    assert document["summary"]["suppressed_findings"] == same_check
    assert document["summary"]["by_severity"] == second.result["audit_summary"]["by_severity"]

    rows = list(csv.DictReader(io.StringIO(export(client, second, "findings.csv").decode())))
    assert {r["fingerprint"] for r in rows if r["suppressed"] == "true"} == {f["fingerprint"] for f in marked}
    assert {r["muted_by"] for r in rows if r["suppressed"] == "true"} == {label}
    assert {r["run"] for r in rows} == {str(second.pk)} and {r["account"] for r in rows} == {second.account_id}

    sarif = json.loads(export(client, second, "findings.sarif"))["runs"][0]["results"]
    suppressed = [r for r in sarif if r.get("suppressions")]
    assert len(suppressed) == same_check
    assert suppressed[0]["suppressions"] == [{"kind": "external", "status": "accepted", "justification": label}]

    ocsf = json.loads(export(client, second, "findings.ocsf.json"))
    assert sum(e["status"] == "Suppressed" for e in ocsf) == same_check
    assert {e["unmapped"]["muted_by"] for e in ocsf if e["status"] == "Suppressed"} == {label}

    _, token = create_token(alice, "ci")
    api = client.get(f"/api/v1/audits/{second.pk}/findings", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert {f["muted_by"] for f in api["findings"] if f["suppressed"]} == {label}
    assert sum(not f["suppressed"] for f in api["findings"]) == second.result["audit_summary"]["findings"]

    # The finished run keeps its result when the rule goes; the next run has nothing muted.
    rule.delete()
    second.refresh_from_db()
    assert Finding.objects.filter(run=second, suppressed=True).count() == same_check
    assert "suppressed_findings" not in demo_run(alice).result


@pytest.mark.django_db(transaction=True)
def test_expired_rules_and_other_owners_rules_mute_nothing(alice, bob, reviewer, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    make_rule(alice, reviewer, expires=timezone.now() - timedelta(seconds=1))
    make_rule(bob, reviewer)  # every finding of Bob's audits, none of Alice's
    run = demo_run(alice)
    assert not Finding.objects.filter(run=run, suppressed=True).exists()
    assert "suppressed_findings" not in run.result


# --- YAML -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_round_trips_rules_through_yaml(alice, reviewer):
    rules = [
        make_rule(alice, reviewer, check_id="iam_user_no_mfa", arn_pattern="arn:aws:iam::*:user/ci-*",
                  account_id=ACCOUNT, tags=["team=platform", "env=ci"]),
        make_rule(alice, reviewer, reason="Roles managed by AWS SSO: “aws-reserved”"),
    ]  # fmt: skip
    text = mutelist.to_yaml(rules)
    assert text.startswith("Mutelist:\n  Accounts:\n")
    drafts = mutelist.from_yaml(text.encode())
    fields = ("check_id", "arn_pattern", "account_id", "tags", "reason")
    assert [tuple(getattr(d, f) for f in fields) for d in drafts] == [
        tuple(getattr(r, f) for f in fields) for r in rules
    ]
    assert [d.expires.date() for d in drafts] == [r.expires.date() for r in rules]


BAD_YAML = """\
Mutelist:
  Accounts:
    "123456789012":
      Checks:
        iam_user_no_mfa:
          - Resources: ["arn:aws:iam::123456789012:user/ci-*"]
            Reason: "CI users"
            Expires: "2999-01-01"
          - Resources: ["*"]
            Expires: "2001-01-01"
    "12345":
      Checks:
        "*":
          Resources: ["*"]
          Exceptions: {Accounts: ["1"], Regions: ["mars-1"], Zones: ["a"]}
          Reason: "x"
          Expires: "2999-01-01"
        iam_root_keys:
          - Exceptions: {Accounts: ["1"], Regions: ["mars-1"]}
            Reason: "x"
            Expires: "2999-01-01"
"""


@pytest.mark.django_db
def test_it_refuses_a_bad_yaml_file_whole_naming_each_problem(client, alice, reviewer):
    client.force_login(reviewer)
    upload = SimpleUploadedFile("mutelist.yaml", BAD_YAML.encode())
    response = client.post("/audits/review/mutelist/import", {"owner": "alice", "mutelist": upload})
    assert response.status_code == 400
    text = response.text
    assert "Nothing was imported." in text
    assert "Accounts.123456789012.Checks.iam_user_no_mfa[1]: say why these findings are muted" in text
    assert "Accounts.123456789012.Checks.iam_user_no_mfa[1]: the expiry 2001-01-01 is not in the future" in text
    assert "Accounts.12345.Checks.*: Exceptions.Zones not supported" in text
    assert "Accounts.12345.Checks.iam_root_keys[0]: the excepted account &#x27;1&#x27; must be a 12-digit" in text
    assert "Accounts.12345.Checks.iam_root_keys[0]: the excepted region &#x27;mars-1&#x27; must be a region" in text
    assert "Accounts.12345.Checks.iam_root_keys[0]: the account must be" in text
    assert not MuteRule.objects.exists()
    for bad, message in [
        (b"Mutelist: [", "not valid YAML"),
        (b"\xff\xfe", "not UTF-8"),
        (b"rules: []", "must start with"),
        (b"a: &a [1]\n" + b"#" * (mutelist.MAX_YAML_BYTES + 1), "the limit is 256 KB"),
    ]:
        response = client.post(
            "/audits/review/mutelist/import", {"owner": "alice", "mutelist": SimpleUploadedFile("m.yaml", bad)}
        )
        assert response.status_code == 400 and message in response.text, message
    assert not MuteRule.objects.exists()


@pytest.mark.django_db
def test_it_imports_and_exports_through_the_page(client, alice, reviewer):
    client.force_login(reviewer)
    good = BAD_YAML.split('          - Resources: ["*"]')[0]
    upload = SimpleUploadedFile("mutelist.yaml", good.encode())
    response = client.post("/audits/review/mutelist/import", {"owner": "alice", "mutelist": upload})
    assert response.status_code == 302
    saved = MuteRule.objects.get()
    assert (saved.owner, saved.created_by, saved.check_id, saved.arn_pattern) == (
        alice, reviewer, "iam_user_no_mfa", "arn:aws:iam::123456789012:user/ci-*"
    )  # fmt: skip
    exported = client.get("/audits/review/mutelist/export.yaml?owner=alice")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("application/yaml")
    assert "arn:aws:iam::123456789012:user/ci-*" in exported.text and "Expires: '2999-01-01'" in exported.text


# --- the page ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_creates_a_rule_and_refuses_bad_ones(client, alice, rita):
    client.force_login(rita)  # a reviewer by group membership
    page = client.get("/audits/review/mutelist/")
    assert page.status_code == 200 and "Audits already finished keep the result they had" in page.text
    tomorrow = (timezone.now() + timedelta(days=2)).date().isoformat()
    good = {"owner": "alice", "check_id": "iam_user_no_mfa", "arn_pattern": "arn:aws:iam::*:user/ci-*",
            "account_id": "*", "tags": "team=platform", "reason": "CI users", "expires": tomorrow}  # fmt: skip
    for change, message in [
        ({"arn_pattern": "a" * 2049}, "the limit is 2048"),
        ({"reason": "  "}, "the reason is required"),
        ({"expires": "2001-01-01"}, "is not in the future"),
        ({"expires": "soon"}, "Give the expiry as a date"),
        ({"owner": "nobody"}, "Name the user whose audits"),
        ({"account_id": "12"}, "12-digit"),
        ({"tags": "team"}, "must be written key=value"),
    ]:
        response = client.post("/audits/review/mutelist/", good | change)
        assert response.status_code == 400 and message in response.text, message
    assert not MuteRule.objects.exists()
    response = client.post("/audits/review/mutelist/", good)
    assert response.status_code == 302 and response["Location"] == "/audits/review/mutelist/?owner=alice"
    rule = MuteRule.objects.get()
    assert (rule.owner, rule.created_by, rule.tags) == (alice, rita, ["team=platform"])
    assert rule.expires.date().isoformat() == tomorrow
    listed = client.get("/audits/review/mutelist/?owner=alice").text
    assert f"#{rule.pk}" in listed and "arn:aws:iam::*:user/ci-*" in listed
    assert client.post(f"/audits/review/mutelist/{rule.pk}/delete").status_code == 302
    assert not MuteRule.objects.exists()


@pytest.mark.django_db
def test_it_refuses_strangers_and_wrong_methods(client, alice, bob, reviewer):
    rule = make_rule(alice, reviewer)
    urls = ["/audits/review/mutelist/", "/audits/review/mutelist/export.yaml?owner=alice"]
    posts = ["/audits/review/mutelist/import", f"/audits/review/mutelist/{rule.pk}/delete"]
    assert client.get(urls[0]).status_code == 302  # signed out: to the sign-in page
    client.force_login(alice)  # the owner of the rule, not a reviewer
    for url in urls:
        assert client.get(url).status_code == 404, url
    for url in posts:
        assert client.post(url).status_code == 404, url
    assert client.post(urls[0], {"owner": "alice", "reason": "x", "expires": "2999-01-01"}).status_code == 404
    assert MuteRule.objects.count() == 1
    client.force_login(reviewer)
    assert client.put(urls[0]).status_code == 405
    assert client.post(urls[1]).status_code == 405
    for url in posts:
        assert client.get(url).status_code == 405, url
    assert client.get("/audits/review/mutelist/export.yaml").status_code == 302  # no owner chosen: back to the page
    assert client.post("/audits/review/mutelist/999999/delete").status_code == 404


# --- exceptions -------------------------------------------------------------------------------------------------

OTHER = "210987654321"


def excepting(**lists) -> mutelist.Rule:
    return rule(exceptions=mutelist.Exceptions.of(lists))


def test_an_exception_keeps_the_findings_it_names_unmuted_and_no_others():
    by_account = excepting(accounts=[ACCOUNT])
    assert not mutelist.covers(by_account, finding(), ACCOUNT, no_tags)
    assert mutelist.covers(by_account, finding(principal_arn=f"arn:aws:iam::{OTHER}:user/ci-deploy"), ACCOUNT, no_tags)
    by_resource = excepting(resources=["arn:aws:iam::*:user/ci-*"])
    assert not mutelist.covers(by_resource, finding(), ACCOUNT, no_tags)
    assert mutelist.covers(excepting(resources=["arn:aws:iam::*:user/ci-prod-*"]), finding(), ACCOUNT, no_tags)
    # Any entry of a list matches; every list given must match (Prowler's rule).
    assert not mutelist.covers(excepting(accounts=[OTHER, ACCOUNT]), finding(), ACCOUNT, no_tags)
    both = excepting(accounts=[ACCOUNT], resources=["arn:aws:iam::*:user/ops-*"])
    assert mutelist.covers(both, finding(), ACCOUNT, no_tags)
    assert not mutelist.covers(both, finding(principal_arn=f"arn:aws:iam::{ACCOUNT}:user/ops-1"), ACCOUNT, no_tags)
    assert mutelist.covers(excepting(), finding(), ACCOUNT, no_tags)  # empty lists except nothing


def test_a_region_exception_reads_the_region_in_the_findings_arn():
    function = finding(principal_arn="", evidence={"resource_arn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f"})
    assert not mutelist.covers(excepting(regions=["eu-west-1"]), function, ACCOUNT, no_tags)
    assert mutelist.covers(excepting(regions=["eu-west-2"]), function, ACCOUNT, no_tags)
    # IAM principals are global: a named region never excepts them, "*" does.
    assert mutelist.covers(excepting(regions=["eu-west-1"]), finding(), ACCOUNT, no_tags)
    assert not mutelist.covers(excepting(regions=["*"]), finding(), ACCOUNT, no_tags)


def test_a_tag_exception_matches_the_principals_tags_and_an_unknown_tag_never_mutes():
    snapshot = SimpleNamespace(
        users=[{"Arn": f"arn:aws:iam::{ACCOUNT}:user/ci-deploy", "Tags": [{"Key": "env", "Value": "prod"}]},
               {"Arn": f"arn:aws:iam::{ACCOUNT}:user/ci-dev", "Tags": [{"Key": "env", "Value": "dev"}]},
               {"Arn": f"arn:aws:iam::{ACCOUNT}:user/ci-untagged"}],
        roles=[],
    )  # fmt: skip
    tags_of = mutelist.principal_tags(snapshot)
    dev = finding(principal_arn=f"arn:aws:iam::{ACCOUNT}:user/ci-dev")
    assert not mutelist.covers(excepting(tags=["env=prod"]), finding(), ACCOUNT, tags_of)
    assert not mutelist.covers(excepting(tags=["env=*"]), dev, ACCOUNT, tags_of)
    assert mutelist.covers(excepting(tags=["env=prod"]), dev, ACCOUNT, tags_of)
    assert mutelist.covers(excepting(tags=["team=prod"]), finding(), ACCOUNT, tags_of)
    untagged = finding(principal_arn=f"arn:aws:iam::{ACCOUNT}:user/ci-untagged")
    assert not mutelist.covers(excepting(tags=["env=prod"]), untagged, ACCOUNT, tags_of)
    # The rule's own tags must all match and its exception's tags then take matching principals back out.
    tagged_rule = rule(tags=(("env", "*"),), exceptions=mutelist.Exceptions.of({"tags": ["env=prod"]}))
    assert mutelist.covers(tagged_rule, dev, ACCOUNT, tags_of)
    assert not mutelist.covers(tagged_rule, finding(), ACCOUNT, tags_of)


def docs_yaml() -> str:
    text = (ROOT / "docs" / "mutelist.md").read_text()
    return text.split("```yaml\n", 1)[1].split("```", 1)[0]


@pytest.mark.django_db
def test_it_round_trips_the_prowler_shaped_file_from_the_docs_with_its_exceptions(alice, reviewer):
    drafts = mutelist.from_yaml(docs_yaml().encode(), allow_expired=True)  # the docs' dates may have passed
    saved = [draft.save(alice, reviewer) for draft in drafts]
    by_check = {rule.check_id: rule for rule in saved}
    assert by_check["resource_public_access"].exceptions == {"accounts": [OTHER], "regions": ["eu-west-1"]}
    assert by_check["user_admin_access"].exceptions == {
        "resources": ["arn:aws:iam::*:user/sandbox-owner"], "tags": ["env=prod"]
    }  # fmt: skip
    assert by_check["user_admin_access"].tags == ["team=sandbox"]
    exported = mutelist.to_yaml(saved)
    assert "Exceptions:\n" in exported and "Accounts:\n" in exported
    again = mutelist.from_yaml(exported.encode(), allow_expired=True)
    fields = ("check_id", "arn_pattern", "account_id", "tags", "exceptions", "reason")
    assert [tuple(getattr(d, f) for f in fields) for d in again] == [
        tuple(getattr(r, f) for f in fields) for r in saved
    ]
    assert [d.expires for d in again] == [r.expires for r in saved]


@pytest.mark.django_db(transaction=True)
def test_an_exception_keeps_its_findings_counted_in_a_real_run(alice, reviewer, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    first = demo_run(alice)
    check_id, arn = (
        Finding.objects.filter(run=first, severity="critical").exclude(principal_arn="")
        .values_list("check_id", "principal_arn").first()
    )  # fmt: skip
    same_check = Finding.objects.filter(run=first, check_id=check_id).count()
    make_rule(alice, reviewer, check_id=check_id, exceptions={"resources": [arn]})
    second = demo_run(alice)
    kept = Finding.objects.get(run=second, principal_arn=arn, check_id=check_id)
    assert not kept.suppressed and kept.muted_by == ""
    muted = Finding.objects.filter(run=second, check_id=check_id, suppressed=True)
    assert muted.count() == same_check - Finding.objects.filter(run=first, check_id=check_id, principal_arn=arn).count()
    assert second.result["suppressed_findings"] == muted.count()


@pytest.mark.django_db
def test_the_page_saves_exceptions_and_refuses_bad_ones(client, alice, reviewer):
    client.force_login(reviewer)
    later = (timezone.now() + timedelta(days=2)).date().isoformat()
    good = {"owner": "alice", "check_id": "*", "arn_pattern": "*", "account_id": "*", "reason": "Sandbox",
            "expires": later, "except_accounts": f"{ACCOUNT}, {OTHER}", "except_regions": "",
            "except_resources": "arn:aws:iam::*:user/owner\narn:aws:iam::*:role/owner",
            "except_tags": "env=prod"}  # fmt: skip
    for change, message in [
        ({"except_accounts": "12"}, "The excepted account &#x27;12&#x27; must be a 12-digit"),
        ({"except_regions": "moon"}, "The excepted region &#x27;moon&#x27; must be a region"),
        ({"except_tags": "env"}, "The excepted tag &#x27;env&#x27; must be written key=value"),
    ]:
        response = client.post("/audits/review/mutelist/", good | change)
        assert response.status_code == 400 and message in response.text, message
        assert "except_accounts" in response.text  # the form is shown again with what was typed
    assert not MuteRule.objects.exists()
    assert client.post("/audits/review/mutelist/", good).status_code == 302
    rule = MuteRule.objects.get()
    assert rule.exceptions == {
        "accounts": [ACCOUNT, OTHER], "resources": ["arn:aws:iam::*:user/owner", "arn:aws:iam::*:role/owner"],
        "tags": ["env=prod"],
    }  # fmt: skip
    listed = client.get("/audits/review/mutelist/?owner=alice").text
    assert f"accounts: {ACCOUNT}, {OTHER}" in listed and "tags: env=prod" in listed
