"""Request bodies: a deadline once the headers are in, and per-address size limits enforced while reading."""

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audits.iam.snapshot import DEMO_PATH
from audits.models import AuditRun, RunInput
from audits.tokens import create_token

MB = 1024 * 1024


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def blocks(total: int, block: bytes = b" " * MB) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = block[: total - sent]
        sent += len(piece)
        yield piece


def multipart(boundary: str, file_size: int) -> Iterator[bytes]:
    """A multipart body with the fields of an API snapshot upload and a file of `file_size` spaces."""
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"source\"\r\n\r\nsnapshot\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"snapshot\"; filename=\"huge.json\"\r\n"
            f"Content-Type: application/json\r\n\r\n{{").encode()  # fmt: skip
    yield head
    yield from blocks(file_size - 2)
    yield f"}}\r\n--{boundary}--\r\n".encode()


def multipart_length(boundary: str, file_size: int) -> int:
    return sum(len(piece) for piece in multipart(boundary, file_size))


def read_to_close(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_it_closes_a_body_that_stops_arriving_with_408(quick_server):
    with socket.create_connection(("127.0.0.1", port_of(quick_server)), timeout=60) as sock:
        sock.sendall(b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\nusername=mallory")  # fmt: skip
        # Ends because the server closed the connection (AEGIS_BODY_TIMEOUT_S=2), not by our 60 s timeout.
        answer = read_to_close(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b"The request body did not arrive in time; send it again.")


def test_it_answers_the_api_with_json_when_a_body_stops_arriving(quick_server):
    with socket.create_connection(("127.0.0.1", port_of(quick_server)), timeout=60) as sock:
        sock.sendall(b"POST /api/v1/audits HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"
                     b"Content-Type: application/json\r\n\r\n{")  # fmt: skip
        answer = read_to_close(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and "did not arrive in time" in json.loads(body)["error"]


def test_it_gives_a_steady_body_more_time_than_the_base_deadline(quick_server, alice):
    # 64 KB every 0.25 s is four times AEGIS_BODY_MIN_BYTES_PER_S: it runs past the 2 s base deadline and is served.
    _, raw = create_token(alice, "ci", scope="write")
    pad = 16 * 64 * 1024

    def steady() -> Iterator[bytes]:
        yield b'{"source": "demo", "frameworks": ["cis"], "pad": "'
        for _ in range(pad // (64 * 1024)):
            time.sleep(0.25)
            yield b"x" * (64 * 1024)
        yield b'"}'

    response = httpx.post(f"{quick_server}/api/v1/audits", content=steady(), timeout=60,
                          headers=bearer(raw) | {"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 201, response.text
    assert AuditRun.objects.filter(owner=alice).count() == 1


def test_it_refuses_a_120_mb_multipart_upload_to_the_api_and_stores_nothing(server, alice):
    _, raw = create_token(alice, "ci", scope="write")
    length = multipart_length("aegisboundary", 120 * MB)
    body = multipart("aegisboundary", 120 * MB)
    response = httpx.post(f"{server}/api/v1/audits", content=body, timeout=120, headers=bearer(raw) | {
        "Content-Type": "multipart/form-data; boundary=aegisboundary", "Content-Length": str(length)})  # fmt: skip
    assert response.status_code == 413
    assert response.json() == {"error": "The snapshot file is larger than the 50 MB limit; upload a smaller export."}
    assert not AuditRun.objects.exists() and not RunInput.objects.exists()


def test_it_refuses_a_21_mb_json_body_to_the_api(server, alice):
    _, raw = create_token(alice, "ci", scope="write")
    content = b"[" + b"{}," * (7 * MB) + b"{}]"
    response = httpx.post(f"{server}/api/v1/audits", content=content, timeout=120,
                          headers=bearer(raw) | {"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 413
    assert "send a larger snapshot as a multipart file field named 'snapshot'" in response.json()["error"]
    assert not AuditRun.objects.exists()


def test_it_refuses_chunked_bodies_at_the_limit_while_reading(server, alice):
    _, raw = create_token(alice, "ci", scope="write")
    # No Content-Length: httpx sends a generator chunked, so only counting the bytes can stop it.
    api = httpx.post(f"{server}/api/v1/audits", content=blocks(6 * MB), timeout=120,
                     headers=bearer(raw) | {"Content-Type": "application/json"})  # fmt: skip
    assert "content-length" not in api.request.headers and api.request.headers["transfer-encoding"] == "chunked"
    assert api.status_code == 413 and "at most 4 MB" in api.json()["error"]
    form = {"Content-Type": "multipart/form-data; boundary=aegisboundary"}
    upload = httpx.post(f"{server}/api/v1/audits", content=multipart("aegisboundary", 60 * MB), timeout=120,
                        headers=bearer(raw) | form)  # fmt: skip
    assert upload.status_code == 413 and "50 MB limit" in upload.json()["error"]
    login = httpx.post(f"{server}/accounts/login/", content=blocks(3 * MB), timeout=120,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert login.status_code == 413 and "larger than the 1 MB this address accepts" in login.text
    assert not AuditRun.objects.exists()


def test_it_refuses_a_huge_login_body_with_the_portals_page(server):
    with httpx.Client(base_url=server, timeout=120) as client:
        response = client.post("/accounts/login/", content=b"username=" + b"a" * (5 * MB),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert response.status_code == 413
        assert "larger than the 1 MB this address accepts" in response.text
        assert 'class="card error-page"' in response.text
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in response.headers["content-security-policy"]
        # The refused body was read past, so the same connection serves the next request.
        assert client.get("/accounts/login/").status_code == 200
        assert client.post("/accounts/login/", content=b"x" * (5 * MB)).status_code == 413


def test_it_still_takes_an_honest_upload_through_the_api(server, alice):
    _, raw = create_token(alice, "ci", scope="write")
    files = {"snapshot": ("account.json", DEMO_PATH.read_bytes(), "application/json")}
    response = httpx.post(f"{server}/api/v1/audits", data={"source": "snapshot", "frameworks": ["cis"]},
                          files=files, headers=bearer(raw), timeout=60)  # fmt: skip
    assert response.status_code == 201, response.text
    assert RunInput.objects.get().size_bytes == len(DEMO_PATH.read_bytes())


@pytest.mark.django_db
def test_it_checks_api_bodies_in_the_view_too(client, alice, settings, monkeypatch):
    # Without the server in front (the test client), the view applies the portal's limits itself.
    _, raw = create_token(alice, "ci", scope="write")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    monkeypatch.setattr("audits.uploads.FULL_CHECK_BYTES", 1000)
    big_json = json.dumps({"source": "demo", "pad": "x" * 2000})
    response = client.post("/api/v1/audits", big_json, content_type="application/json", **auth)
    assert response.status_code == 413 and "at most 1 KB" in response.json()["error"]
    settings.AEGIS_MAX_UPLOAD_BYTES = 1000
    upload = SimpleUploadedFile("big.json", b"{" + b" " * 5000 + b"}", content_type="application/json")
    response = client.post("/api/v1/audits", {"source": "snapshot", "snapshot": upload}, **auth)
    assert response.status_code == 413 and "upload a smaller export" in response.json()["error"]
    assert not AuditRun.objects.exists()
