"""Loopback receivers for alert delivery tests: an HTTP webhook receiver (stdlib http.server in a
thread) and an SMTP server (aiosmtpd) that requires STARTTLS and a login."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SMTP_USER, SMTP_PASSWORD = "alerts", "s3cret"


class WebhookReceiver:
    """Answers POSTs by path: ``/hook/*`` 200, ``/fail`` 500, ``/flaky`` 500 once then 200,
    ``/redirect`` 302, ``/slow`` holds the request until the test ends. Keeps every JSON body."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[Any]] = {}
        self.release = threading.Event()
        self.lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    seen = receiver.bodies.setdefault(self.path, [])
                    seen.append(json.loads(data))
                    receiver.lock.notify_all()
                if self.path == "/slow":
                    receiver.release.wait(60)
                status = 200
                if self.path == "/fail" or (self.path == "/flaky" and len(seen) == 1):
                    status = 500
                if self.path == "/redirect":
                    status = 302
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "/hook/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, path: str, count: int = 1, timeout: float = 60.0) -> list[Any]:
        """The bodies POSTed to `path` once there are `count` (AssertionError after `timeout`)."""
        with self.lock:
            ok = self.lock.wait_for(lambda: len(self.bodies.get(path, [])) >= count, timeout)
            got = list(self.bodies.get(path, []))
        assert ok, f"waited {timeout}s for {count} POSTs to {path}; got {len(got)}: {got}"
        return got

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (the certificate is its own CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class SmtpServer:
    port: int
    ca_file: Path
    messages: list[Message] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int = 1, timeout: float = 60.0) -> list[Message]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.messages) >= count, timeout)
            got = list(self.messages)
        assert ok, f"waited {timeout}s for {count} e-mails; got {[m['Subject'] for m in got]}"
        return got


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    """An SMTP server on loopback that takes mail only after STARTTLS and a login."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = int(probe.getsockname()[1])
    server = SmtpServer(port, cert)

    class Handler:
        async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
            with server.cond:
                server.messages.append(message_from_bytes(envelope.content))
                server.cond.notify_all()
            return "250 OK"

    def authenticator(smtp: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
        ready_timeout=30,
    )
    controller.start()
    yield server
    controller.stop()


__all__ = ["SMTP_PASSWORD", "SMTP_USER", "SmtpServer", "WebhookReceiver"]
