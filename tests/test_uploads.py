"""Snapshot uploads: streamed to a temporary file, refused at the size limit while they are read."""

import json
from pathlib import Path

import httpx
import psutil
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audits import uploads
from audits.iam.snapshot import DEMO_PATH
from audits.models import AuditRun, RunInput
from audits.runs.inputs import input_bytes
from tests.helpers import free_port, session_cookie, start_server, stop

pytestmark = pytest.mark.django_db

LIMIT = 200_000


@pytest.fixture
def received(monkeypatch) -> list[int]:
    """Bytes of file data the upload handler was given, chunk by chunk."""
    chunks: list[int] = []
    original = uploads.LimitedTemporaryFileUploadHandler.receive_data_chunk

    def spy(self, raw_data, start):
        chunks.append(len(raw_data))
        return original(self, raw_data, start)

    monkeypatch.setattr(uploads.LimitedTemporaryFileUploadHandler, "receive_data_chunk", spy)
    return chunks


def post(client, content: bytes):
    upload = SimpleUploadedFile("big.json", content, content_type="application/json")
    return client.post("/audits/new", {"source": "snapshot", "frameworks": ["cis"], "snapshot_file": upload})


def test_it_refuses_a_body_far_over_the_limit_before_reading_it(client, alice, settings, received):
    settings.AEGIS_MAX_UPLOAD_BYTES = LIMIT
    client.force_login(alice)
    response = post(client, b"{" + b" " * (LIMIT * 3) + b"}")
    assert response.status_code == 413
    assert "larger than the 195 KB limit; upload a smaller export" in response.text
    assert 'id="snapshot-error"' in response.text
    assert received == [] and not AuditRun.objects.exists()


def test_it_stops_reading_at_the_first_chunk_over_the_limit(client, alice, settings, received):
    settings.AEGIS_MAX_UPLOAD_BYTES = LIMIT
    client.force_login(alice)
    response = post(client, b"{" + b" " * (LIMIT + 100) + b"}")
    assert response.status_code == 413
    assert sum(received) <= LIMIT + max(received) and not AuditRun.objects.exists()


def test_it_stores_an_upload_under_the_limit_from_the_temporary_file(client, alice, settings, received):
    content = DEMO_PATH.read_bytes()
    settings.AEGIS_MAX_UPLOAD_BYTES = len(content)
    client.force_login(alice)
    response = post(client, content)
    assert response.status_code == 302
    run = AuditRun.objects.get()
    assert input_bytes(run.pk) == content and sum(received) == len(content)


def test_it_screens_a_large_upload_and_leaves_the_full_check_to_the_worker(client, alice, monkeypatch):
    monkeypatch.setattr("audits.uploads.FULL_CHECK_BYTES", 1000)
    client.force_login(alice)
    bundle = json.loads(DEMO_PATH.read_bytes())
    assert post(client, json.dumps(bundle).encode()).status_code == 302
    assert RunInput.objects.count() == 1
    for content, message in [(b"\xff\xfe" + b"x" * 2000, "not UTF-8"), (b"[" + b" " * 2000 + b"]", "JSON object")]:
        response = post(client, content)
        assert response.status_code == 400 and message in response.text
    assert AuditRun.objects.count() == 1


def test_it_refuses_a_400_mb_upload_without_growing_the_web_process(transactional_db, alice):
    port = free_port()
    proc = start_server(port)
    try:
        base = f"http://127.0.0.1:{port}"
        cookies = session_cookie(alice)
        with httpx.Client(base_url=base, cookies=cookies, timeout=120) as client:
            token = client.get("/audits/new").cookies.get("csrftoken") or client.cookies.get("csrftoken")
            server = psutil.Process(proc.pid)
            before = server.memory_info().rss
            boundary = "aegisboundary"
            head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n{token}\r\n"
                    f"--{boundary}\r\nContent-Disposition: form-data; name=\"source\"\r\n\r\nsnapshot\r\n"
                    f"--{boundary}\r\nContent-Disposition: form-data; name=\"snapshot_file\"; filename=\"huge.json\""
                    f"\r\nContent-Type: application/json\r\n\r\n{{").encode()  # fmt: skip
            tail = f"}}\r\n--{boundary}--\r\n".encode()
            size = 400 * 1024 * 1024

            def body():
                yield head
                block = b" " * (1024 * 1024)
                for _ in range(size // len(block)):
                    yield block
                yield tail

            response = client.post("/audits/new", content=body(), headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}", "X-CSRFToken": token or "",
                "Content-Length": str(len(head) + size + len(tail)), "Referer": f"{base}/audits/new"})  # fmt: skip
            status = (server.memory_info().rss, _high_water(proc.pid))
        assert response.status_code == 413
        assert "upload a smaller export" in response.text
        # The request body is spooled to disk past FILE_UPLOAD_MAX_MEMORY_SIZE and never parsed past the limit.
        grown_mb = (max(status) - before) / 1024 / 1024
        assert grown_mb < 150, f"the web process grew by {grown_mb:.0f} MB"
        assert not AuditRun.objects.exists()
    finally:
        stop(proc)


def _high_water(pid: int) -> int:
    """The kernel's peak RSS of the process (Linux), so a short spike between samples still counts."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0
