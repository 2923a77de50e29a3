"""Real SMTP servers on 127.0.0.1 for the mail tests: aiosmtpd with a trustme CA, and one that never greets.

Each server records what it saw (connections, AUTH commands and whether they came over TLS, messages), so
tests assert on the server side what the client did, e.g. that a wrong password was tried on one connection
only, or that no AUTH was sent over a plain connection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
USERNAME = "release-bot"
PASSWORD = "correct horse battery staple"


class ServerMode(enum.Enum):
    STARTTLS = "starttls"  #: STARTTLS required before any other command; AUTH only after it
    IMPLICIT_TLS = "tls"  #: TLS from the first byte (SMTPS); AUTH
    PLAIN = "plain"  #: no STARTTLS at all, yet AUTH offered in clear, as a careless server does


@dataclasses.dataclass(frozen=True)
class AuthSeen:
    login: str
    encrypted: bool


@dataclasses.dataclass
class ServerLog:
    connections: int = 0  #: TCP connections accepted
    auth_commands: list[bool] = dataclasses.field(default_factory=list)  #: per AUTH command: over TLS?
    logins: list[AuthSeen] = dataclasses.field(default_factory=list)  #: credentials the server checked
    messages: list[EmailMessage] = dataclasses.field(default_factory=list)
    recipients: list[list[str]] = dataclasses.field(default_factory=list)  #: envelope RCPT TO, per message


@dataclasses.dataclass(frozen=True)
class Certificates:
    ca: Any  #: trustme.CA
    ca_file: Path  #: PEM of the CA, for `ca_file:`
    server_context: ssl.SSLContext  #: serves a certificate for 127.0.0.1 and localhost


@dataclasses.dataclass
class RunningServer:
    host: str
    port: int
    log: ServerLog


def make_certificates(directory: Path) -> Certificates:
    ca = trustme.CA()
    ca_file = directory / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "localhost").configure_cert(context)
    return Certificates(ca=ca, ca_file=ca_file, server_context=context)


def unused_port() -> int:
    """A port nothing listens on (bound, then released), for refused connections."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


class _Recorder:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self, log: ServerLog) -> None:
        self.log = log

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.log.messages.append(parsed)
        self.log.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


class _RecordingSMTP(SMTP):
    def __init__(self, log: ServerLog, *args: Any, **kwargs: Any) -> None:
        self._server_log = log
        super().__init__(*args, **kwargs)

    async def smtp_AUTH(self, arg: str) -> None:
        assert self.transport is not None
        encrypted = self._tls_protocol is not None or self.transport.get_extra_info("sslcontext") is not None
        self._server_log.auth_commands.append(encrypted)
        await super().smtp_AUTH(arg)


class _RecordingController(Controller):
    def __init__(self, log: ServerLog, handler: _Recorder, **kwargs: Any) -> None:
        self._server_log = log
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        # Called once per accepted TCP connection, before any TLS handshake.
        self._server_log.connections += 1
        return _RecordingSMTP(self._server_log, self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # Bound to port 0: learn the port the system chose before the readiness probe connects.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def _authenticator(log: ServerLog) -> Any:
    def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode()
        encrypted = server.transport is not None and server.transport.get_extra_info("sslcontext") is not None
        log.logins.append(AuthSeen(login=login, encrypted=encrypted))
        return AuthResult(success=login == USERNAME and data.password.decode() == PASSWORD, handled=False)

    return authenticate


@contextmanager
def smtp_server(mode: ServerMode, certificates: Certificates, *, port: int = 0) -> Iterator[RunningServer]:
    """An aiosmtpd server in `mode` on 127.0.0.1 (a free port unless `port` is given), stopped afterwards."""
    log = ServerLog()
    options: dict[str, Any] = {
        "hostname": HOST,
        "port": port,
        "server_hostname": "smtp.test",
        "authenticator": _authenticator(log),
        "ready_timeout": 10.0,
    }
    if mode is ServerMode.STARTTLS:
        options |= {"tls_context": certificates.server_context, "require_starttls": True, "auth_require_tls": True}
    elif mode is ServerMode.IMPLICIT_TLS:
        # aiosmtpd's auth_require_tls only knows STARTTLS; here the whole connection is TLS already.
        options |= {"ssl_context": certificates.server_context, "auth_require_tls": False}
    else:
        options |= {"auth_require_tls": False}
    controller = _RecordingController(log, _Recorder(log), **options)
    controller.start()
    log.connections = 0  # the controller's own readiness probe
    try:
        yield RunningServer(host=HOST, port=int(controller.port), log=log)
    finally:
        controller.stop()


@dataclasses.dataclass
class SilentServer:
    """Accepts TCP connections and never sends the SMTP greeting."""

    host: str
    port: int
    accepted: int = 0


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((HOST, 0))
    listener.listen(16)
    server = SilentServer(host=HOST, port=listener.getsockname()[1])
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)  # kept open and silent until the server stops
            server.accepted += 1

    thread = threading.Thread(target=accept, name="silent-smtp", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stopping.set()
        # shutdown() wakes the blocked accept(); close() alone does not on Linux.
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
