import os

import pytest

from tests.helpers import free_port, make_user, start_server, start_worker, stop, wait_for_other_sessions_to_close


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def reviewer(db):
    return make_user("reviewer", staff=True)


@pytest.fixture
def rita(db):
    """A reviewer by membership of the `reviewer` group, not staff."""
    from audits.reviewers import reviewer_group

    user = make_user("rita")
    user.groups.add(reviewer_group())
    return user


@pytest.fixture(scope="session")
def _server_url(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        port = free_port()
        proc = start_server(port)
    yield f"http://127.0.0.1:{port}"
    stop(proc)
    with django_db_blocker.unblock():
        wait_for_other_sessions_to_close()


@pytest.fixture
def server(_server_url, transactional_db):
    """A real uvicorn serving the ASGI app on a free port, sharing the (committed) test database."""
    return _server_url


@pytest.fixture
def worker(transactional_db):
    """A real `manage.py db_worker` process."""
    proc = start_worker()
    yield proc
    stop(proc)


def running_under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Locally a missing Chromium or Playwright skips the browser tests; under CI that would pass a suite that never
    # drove a browser, so a skipped browser test is a failure there.
    report = yield
    if report.skipped and running_under_ci() and item.get_closest_marker("browser") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"browser test skipped while CI is set; CI must run the browser tests ({reason})"
    return report


# A second server with a 1 s heartbeat and small stream limits, for the tests of stream re-checks and limits.
QUICK_ENV = {"AEGIS_SSE_HEARTBEAT_S": "1", "AEGIS_MAX_STREAMS_PER_USER": "3", "AEGIS_HEADER_TIMEOUT_S": "2",
             "AEGIS_BODY_TIMEOUT_S": "2"}  # fmt: skip


@pytest.fixture(scope="session")
def _quick_server_url(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        port = free_port()
        proc = start_server(port, QUICK_ENV)
    yield f"http://127.0.0.1:{port}"
    stop(proc)
    with django_db_blocker.unblock():
        wait_for_other_sessions_to_close()


@pytest.fixture
def quick_server(_quick_server_url, transactional_db):
    return _quick_server_url


@pytest.fixture
def aws(monkeypatch):
    """moto standing in for AWS, with fake credentials: a boto3 session in us-east-1."""
    import boto3
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")
