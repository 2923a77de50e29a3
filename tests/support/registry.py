"""A real container registry for the image tests: Debian's docker-registry, optionally behind a token service.

The token service is the small counterpart of Docker Hub's auth.docker.io: it checks a user's password
with Basic auth and signs a JWT the registry verifies against the service's certificate.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import http.server
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

REGISTRY_BINARY = "/usr/bin/docker-registry"
INSTALL_HINT = "apt-get install docker-registry buildah skopeo"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
TOKEN_ISSUER = "pipeline-steps-tests"
TOKEN_SERVICE = "local-registry"


def isolated_container_storage(workdir: Path) -> dict[str, str]:
    """Environment that gives buildah and skopeo a storage of their own under `workdir` (vfs, no root-wide state)."""
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{workdir / "graph"}"\nrunroot = "{workdir / "run"}"\n')
    return {"CONTAINERS_STORAGE_CONF": str(conf)}


def require_binaries(*names: str) -> dict[str, str]:
    """Paths of the named programs; fails (never skips) the test when one is missing."""
    found = {name: shutil.which(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run `{INSTALL_HINT}`", pytrace=False)
    return {name: path for name, path in found.items() if path is not None}


@dataclasses.dataclass
class LocalRegistry:
    host: str  #: "127.0.0.1:PORT", the registry part of image references
    storage: Path
    log: Path
    process: subprocess.Popen[bytes]

    def ref(self, repository: str, tag: str = "latest") -> str:
        return f"{self.host}/{repository}:{tag}"


class TokenService:
    """Issues registry tokens to `users` (name -> password); anonymous callers get a token granting nothing."""

    def __init__(self, workdir: Path, users: dict[str, str]) -> None:
        self.users = users
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.certificate = _self_signed(self._key)
        self.cert_file = workdir / "token-signer.pem"
        self.cert_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        self.requests: list[tuple[str | None, str]] = []  #: (user or None, scope) per token asked for
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def __enter__(self) -> TokenService:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def issue(self, user: str | None, scope: str) -> str:
        access = []
        if user is not None and scope.count(":") == 2:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": user or "",
            "aud": TOKEN_SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                scope = query.get("scope", [""])[0]
                user = None
                authorization = self.headers.get("Authorization", "")
                if authorization.startswith("Basic "):
                    name, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
                    if service.users.get(name) != password:
                        self._reply(401, {"details": "incorrect username or password"})
                        return
                    user = name
                service.requests.append((user, scope))
                self._reply(200, {"token": service.issue(user, scope)})

            def _reply(self, status: int, body: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@contextlib.contextmanager
def running_registry(
    workdir: Path, *, storage: Path | None = None, token_service: TokenService | None = None
) -> Iterator[LocalRegistry]:
    """Start docker-registry on a free loopback port, wait until /v2/ answers, and stop it afterwards.

    Two registries may share `storage`: one open for pushing, one behind `token_service` for reading.
    """
    if not Path(REGISTRY_BINARY).is_file():
        pytest.fail(f"{REGISTRY_BINARY} not installed: run `{INSTALL_HINT}`", pytrace=False)
    workdir.mkdir(parents=True, exist_ok=True)
    storage = storage or workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    registry = None
    # A free port can be taken between choosing and binding it; a second port nearly always works.
    for _attempt in range(3):
        registry = _start(workdir, storage, token_service)
        if registry is not None:
            break
    if registry is None:
        pytest.fail(f"docker-registry did not start; its log:\n{_tail(workdir / 'registry.log')}", pytrace=False)
    try:
        yield registry
    finally:
        _stop(registry.process)


def _start(workdir: Path, storage: Path, token_service: TokenService | None) -> LocalRegistry | None:
    port = _free_port()
    config = workdir / "config.yml"
    log = workdir / "registry.log"
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {storage}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
    ]
    if token_service is not None:
        lines += [
            "auth:",
            "  token:",
            f"    realm: {token_service.realm}",
            f"    service: {TOKEN_SERVICE}",
            f"    issuer: {TOKEN_ISSUER}",
            f"    rootcertbundle: {token_service.cert_file}",
        ]
    config.write_text("\n".join(lines) + "\n")
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config)], stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        with contextlib.suppress(requests.RequestException):
            # 401 is an answer too: a registry behind a token service challenges even /v2/.
            if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code in (200, 401):
                return LocalRegistry(host=f"127.0.0.1:{port}", storage=storage, log=log, process=process)
        time.sleep(0.05)
    _stop(process)
    pytest.fail(f"docker-registry did not answer /v2/ within {START_TIMEOUT_S}s; log:\n{_tail(log)}", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.poll() is not None, f"docker-registry (pid {process.pid}) is still running"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TOKEN_ISSUER)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
