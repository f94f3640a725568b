import marshal

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


def test_it_caches_the_dataset_tables_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("AEGIS_IAM_CACHE", str(tmp_path))
    actions._tables.cache_clear()
    try:
        built = actions.index()
        [cache_file] = list((tmp_path / "aegis-iam").glob("iam-tables-*.marshal"))
        names, display, *_ = marshal.loads(cache_file.read_bytes())
        assert display["iam"].split("\n")[names["iam"].index("iam:passrole")] == "PassRole"
        actions._tables.cache_clear()
        assert actions.index() == built  # read back from the file
        assert built["iam"]["passrole"] == ("PassRole", "W", True)
        assert "iam:passrole" in actions.all_actions()
        assert "iam:passrole" in actions.actions_at_level("W")
    finally:
        actions._tables.cache_clear()


def test_it_rebuilds_a_damaged_cache_file(tmp_path, monkeypatch):
    monkeypatch.setenv("AEGIS_IAM_CACHE", str(tmp_path))
    actions._tables.cache_clear()
    try:
        built = actions.index()
        [cache_file] = list((tmp_path / "aegis-iam").glob("iam-tables-*.marshal"))
        cache_file.write_bytes(cache_file.read_bytes()[:1000])  # cut short, as by a full disk
        actions._tables.cache_clear()
        assert actions.index() == built
        assert marshal.loads(cache_file.read_bytes()) == tuple(actions._tables())  # written again whole
    finally:
        actions._tables.cache_clear()


def test_it_expands_a_trailing_star_as_the_general_matcher_does():
    for pattern in ("iam:*", "iam:create*", "s3:get*", "ec2:describe*", "kms:*", "nosuch:get*", "*:getobject*"):
        service, _, name = pattern.partition(":")
        matcher, services = actions._pattern(name), actions._pattern(service)
        expected = {
            a
            for a in actions.all_actions()
            if services.matches(a.partition(":")[0]) and matcher.matches(a.partition(":")[2])
        }
        assert actions.expand(pattern) == expected, pattern


def test_it_caches_the_action_facts_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("AEGIS_IAM_CACHE", str(tmp_path))
    actions._fact_tables.cache_clear()
    try:
        built = actions._fact_tables()
        [cache_file] = list((tmp_path / "aegis-iam").glob("iam-facts-*.marshal"))
        assert marshal.loads(cache_file.read_bytes()) == built
        actions._fact_tables.cache_clear()
        assert actions._fact_tables() == built  # read back from the file
        assert actions.resource_types("iam:PassRole") == ("role",)
        assert "iam:passedtoservice" in actions.condition_key_names()
    finally:
        actions._fact_tables.cache_clear()
