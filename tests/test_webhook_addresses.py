"""Webhook targets: internal addresses in every IPv6 disguise are refused, the connection goes to the address that was
checked (no DNS rebinding), and every failed delivery reads the same to the user."""

import contextlib
import datetime
import socket
import ssl
import struct
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Self

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.cache import cache

from audits import webhooks
from audits.models import UserSettings
from audits.webhook_addresses import embedded_ipv4, is_public

pytestmark = pytest.mark.django_db

# 169.254.169.254 (the cloud metadata service) and other internal addresses, bare and in every IPv6 form that carries
# an IPv4 address. Teredo keeps the client address bit-inverted in its last 32 bits (0x5601 = ~0xa9fe).
INTERNAL = [
    "169.254.169.254",
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::ffff:a9fe:a9fe",
    "::ffff:0:a9fe:a9fe",  # IPv4-translated
    "::a9fe:a9fe",  # IPv4-compatible
    "64:ff9b::a9fe:a9fe",  # NAT64 well-known prefix
    "64:ff9b::169.254.169.254",
    "64:ff9b:1::a9fe:a9fe",  # NAT64 local-use prefix
    "64:ff9b:1::808:808",  # local-use translates into the operator's own network, whatever it embeds
    "2002:a9fe:a9fe::",  # 6to4
    "2002:a9fe:a9fe:1::1",
    "2001:0:808:808::5601:5601",  # Teredo: public server 8.8.8.8, client 169.254.169.254
    "2001:0:a00:1::f7f7:f7f7",  # Teredo: server 10.0.0.1, client 8.8.8.8
    "::ffff:127.0.0.1",
    "::ffff:0:7f00:1",
    "::7f00:1",
    "64:ff9b::7f00:1",
    "2002:7f00:1::",
    "64:ff9b::a00:5",  # 10.0.0.5
    "::ffff:c0a8:101",  # 192.168.1.1
    "2002:ac10:1::",  # 172.16.0.1
    "64:ff9b::6440:1",  # 100.64.0.1, carrier-grade NAT
    "127.0.0.1",
    "10.0.0.5",
    "100.64.0.1",
    "0.0.0.0",
    "192.0.0.8",
    "198.18.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "::",
    "::1",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "100::1",
    "2001:db8::1",
    "3fff::1",
]
# Public addresses, some in the same IPv6 forms: near misses that must stay allowed.
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "::ffff:0:808:808",
    "::808:808",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2001:0:808:404::f7f7:f7f7",  # Teredo: server 8.8.4.4, client 8.8.8.8
]


@pytest.mark.parametrize("address", INTERNAL)
def test_it_refuses_internal_addresses_in_every_form(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_it_allows_public_addresses_in_the_same_forms(address):
    assert is_public(address)


def test_it_finds_the_embedded_ipv4_addresses():
    import ipaddress

    def inner(text: str) -> list[str] | None:
        found = embedded_ipv4(ipaddress.IPv6Address(text))
        return None if found is None else [str(a) for a in found]

    assert inner("64:ff9b::a9fe:a9fe") == ["169.254.169.254"]
    assert inner("::ffff:0:a9fe:a9fe") == ["169.254.169.254"]
    assert inner("::a9fe:a9fe") == ["169.254.169.254"]
    assert inner("2002:a9fe:a9fe::") == ["169.254.169.254"]
    assert inner("2001:0:808:808::5601:5601") == ["8.8.8.8", "169.254.169.254"]
    assert inner("2001:4860:4860::8888") is None


@pytest.mark.parametrize(
    "host",
    ["[64:ff9b::a9fe:a9fe]", "[::ffff:0:a9fe:a9fe]", "[::a9fe:a9fe]", "[2002:a9fe:a9fe::]", "[::ffff:a9fe:a9fe]",
     "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "127.1", "localhost"],
)  # fmt: skip
def test_it_refuses_webhook_urls_to_internal_hosts(host):
    assert "public address" in webhooks.validate_url(f"https://{host}/hook")


@pytest.mark.parametrize("host", ["8.8.8.8", "[2001:4860:4860::8888]", "[64:ff9b::808:808]", "[2002:808:808::1]"])
def test_it_accepts_webhook_urls_to_public_addresses(host):
    assert webhooks.validate_url(f"https://{host}/hook") == ""


class Resolver:
    """Stands in for DNS (an external system): answers in turn from a list, and counts the questions."""

    def __init__(self, *answers: tuple[str, ...]) -> None:
        self.answers = list(answers)
        self.asked = 0

    def __call__(self, host: str, port: int) -> tuple[str, ...]:
        self.asked += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class Listener:
    """A TCP listener on 127.0.0.1 with an accept thread of its own, which hands each connection to handle().

    Leaving the block shuts the socket down, which wakes the blocked accept() (closing it alone would not), and
    waits for the thread, so what the listener saw is complete when the test reads it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stopped(self) -> None:
        """Called once the accept thread has ended."""

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # shut down by __exit__
                return
            self.handle(conn)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(15)  # handle() blocks for at most 10 s (ResettingListener)
        self.stopped()


class CountingListener(Listener):
    """Counts the connections it accepts and closes each."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted = 0

    def handle(self, conn: socket.socket) -> None:
        self.accepted += 1
        conn.close()


@pytest.fixture
def connections(monkeypatch):
    """Records every address the webhook connects to; the public internet is not reached from tests (refused)."""
    seen: list[str] = []
    real_connect = webhooks.connect_to

    def connect(address: str, port: int, timeout: float) -> socket.socket:
        seen.append(address)
        if not address.startswith("127."):
            raise ConnectionRefusedError("the public internet is not reached from tests")
        return real_connect(address, port, timeout)

    monkeypatch.setattr(webhooks, "connect_to", connect)
    return seen


def test_it_connects_to_the_address_it_checked_not_a_rebound_one(monkeypatch, connections):
    resolver = Resolver(("8.8.8.8",), ("127.0.0.1",))
    monkeypatch.setattr(webhooks, "resolve_host", resolver)
    with CountingListener() as listener:
        error = webhooks.send(f"https://rebind.example:{listener.port}/hook", {"text": "hi"})
    assert error == webhooks.DELIVERY_FAILED
    assert resolver.asked == 1  # resolved once, to check and to connect
    assert connections == ["8.8.8.8"]
    assert listener.accepted == 0


def test_it_refuses_a_host_with_any_internal_address(monkeypatch, connections):
    monkeypatch.setattr(webhooks, "resolve_host", Resolver(("8.8.8.8", "127.0.0.1")))
    with CountingListener() as listener:
        assert webhooks.send(f"https://rebind.example:{listener.port}/hook", {"text": "hi"}) == webhooks.DELIVERY_FAILED
        assert "public address" in webhooks.validate_url(f"https://rebind.example:{listener.port}/hook")
    assert connections == [] and listener.accepted == 0


def test_it_rechecks_when_sending_a_saved_webhook_that_now_resolves_inside(client, alice, monkeypatch, connections):
    monkeypatch.setattr(webhooks, "resolve_host", Resolver(("8.8.8.8",), ("127.0.0.1",)))
    client.force_login(alice)
    with CountingListener() as listener:
        client.post("/settings/webhook", {"webhook_url": f"https://rebind.example:{listener.port}/hook"})
        assert UserSettings.objects.get(user=alice).webhook_url.startswith("https://rebind.example")
        page = client.post("/settings/webhook/test", follow=True)
    assert f"The webhook call failed: {webhooks.DELIVERY_FAILED}" in page.text
    assert connections == [] and listener.accepted == 0


def test_it_sends_the_host_name_to_the_pinned_address():
    seen: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen["host"] = self.headers["Host"]
            seen["path"] = self.path
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    with serving(HTTPServer(("127.0.0.1", 0), Handler)) as server:
        port = server.server_port
        target = webhooks.Target("http", "hooks.example.com", port, "/services/x?a=1", ("127.0.0.1",))
        assert webhooks.post_to(target, b"{}", 5) == 204
    assert seen == {"host": f"hooks.example.com:{port}", "path": "/services/x?a=1"}


def test_it_speaks_tls_with_the_host_name_and_checks_the_certificate_against_it(tmp_path, monkeypatch):
    ca_file, server_context = tls_for("hooks.example.com", tmp_path)
    monkeypatch.setattr(webhooks, "_tls_context", lambda: ssl.create_default_context(cafile=ca_file))
    names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, context: names.append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    class TLSServer(HTTPServer):
        def get_request(self):
            conn, address = super().get_request()
            return server_context.wrap_socket(conn, server_side=True), address

        def handle_error(self, request, client_address):  # the refused handshake below is expected
            pass

    with serving(TLSServer(("127.0.0.1", 0), Handler)) as server:
        good = webhooks.Target("https", "hooks.example.com", server.server_port, "/x", ("127.0.0.1",))
        assert webhooks.post_to(good, b"{}", 5) == 200
        other = webhooks.Target("https", "other.example.com", server.server_port, "/x", ("127.0.0.1",))
        with pytest.raises(ssl.SSLCertVerificationError):
            webhooks.post_to(other, b"{}", 5)
    assert names[:2] == ["hooks.example.com", "other.example.com"]


class serving:  # noqa: N801 - reads as a context manager
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)

    def __enter__(self) -> HTTPServer:
        self.thread.start()
        return self.server

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def tls_for(host: str, directory) -> tuple[str, ssl.SSLContext]:
    """A throw-away CA file and a server context with a certificate for `host`, signed by that CA."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return str(ca_file), context


# ---- one message for every failure -------------------------------------------------------------------------------


@pytest.fixture
def local_http(settings):
    settings.AEGIS_WEBHOOK_ALLOW_LOCAL_HTTP = True
    settings.AEGIS_WEBHOOK_TIMEOUT_S = 1
    cache.clear()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ResettingListener(Listener):
    """Waits for each request to start, then aborts the connection (RST)."""

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        with contextlib.suppress(OSError):
            conn.recv(1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


class SilentListener(Listener):
    """Accepts each connection and never answers; the connections close when the block is left."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[socket.socket] = []

    def handle(self, conn: socket.socket) -> None:
        self.held.append(conn)

    def stopped(self) -> None:
        for conn in self.held:
            conn.close()


def test_it_reports_refused_reset_and_timeout_the_same_way(local_http):
    refused = f"http://127.0.0.1:{closed_port()}/hook"
    with ResettingListener() as resetting, SilentListener() as silent:
        urls = [refused, f"http://127.0.0.1:{resetting.port}/hook", f"http://127.0.0.1:{silent.port}/hook"]
        reasons = [webhooks.deliver(url, {"text": "hi"}) for url in urls]
        shown = [webhooks.send(url, {"text": "hi"}) for url in urls]
    # The three failures are really different (the server log says which) ...
    assert "ConnectionRefusedError" in reasons[0]
    assert "Reset" in reasons[1] or "Disconnected" in reasons[1] or "BrokenPipe" in reasons[1]
    assert "timed out" in reasons[2]
    # ... and the user reads one message for all of them, naming none.
    assert shown == [webhooks.DELIVERY_FAILED] * 3
    for word in ("refused", "reset", "timed out", "timeout"):
        assert word not in webhooks.DELIVERY_FAILED.lower()


def test_it_shows_the_same_failure_on_the_settings_page(client, alice, local_http):
    client.force_login(alice)
    texts = []
    with SilentListener() as silent:
        for url in (f"http://127.0.0.1:{closed_port()}/hook", f"http://127.0.0.1:{silent.port}/hook"):
            client.post("/settings/webhook", {"webhook_url": url})
            page = client.post("/settings/webhook/test", follow=True)
            texts.append(page.text.count(f"The webhook call failed: {webhooks.DELIVERY_FAILED}"))
    assert texts == [1, 1]
