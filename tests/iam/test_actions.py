import json

from audits.iam import actions


def test_it_expands_wildcards_against_the_dataset():
    expanded = actions.expand("iam:Create*")
    assert "iam:createaccesskey" in expanded
    assert "iam:createrole" in expanded
    assert "iam:deleterole" not in expanded
    assert all(a.startswith("iam:create") for a in expanded)


def test_it_matches_action_names_case_insensitively():
    assert actions.expand("IAM:PassRole") == actions.expand("iam:passrole") == frozenset({"iam:passrole"})
    assert actions.display("iam:passrole") == "iam:PassRole"


def test_it_expands_question_marks_and_service_wildcards():
    assert "s3:getobject" in actions.expand("s3:GetObjec?")
    assert "sts:assumerole" in actions.expand("st?:AssumeRole")
    assert len(actions.expand("*")) == len(actions.all_actions()) > 15000


def test_it_keeps_unknown_literal_actions():
    assert actions.expand("newservice:DoThing") == frozenset({"newservice:dothing"})
    assert actions.access_level("newservice:DoThing") == "Write"


def test_it_reports_access_levels():
    assert actions.access_level("s3:GetObject") == "Read"
    assert actions.access_level("s3:ListAllMyBuckets") == "List"
    assert actions.access_level("s3:PutBucketPolicy") == "Permissions management"
    assert actions.access_level("s3:PutObjectTagging") == "Tagging"
    assert actions.access_level("ec2:RunInstances") == "Write"


def test_it_knows_actions_without_resource_level_permissions():
    assert "sts:getsessiontoken" in actions.resourceless_actions()
    assert "s3:getobject" not in actions.resourceless_actions()


def test_it_caches_the_compact_index_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("AEGIS_IAM_CACHE", str(tmp_path))
    actions.index.cache_clear()
    try:
        built = actions.index()
        [cache_file] = list((tmp_path / "aegis-iam").glob("iam-actions-*.json"))
        assert json.loads(cache_file.read_text())["iam"]["passrole"][0] == "PassRole"
        actions.index.cache_clear()
        assert actions.index() == built  # read back from the file
    finally:
        actions.index.cache_clear()
