"""Resolving digests against a real registry: open, behind a token service, and behind a failing proxy."""

from __future__ import annotations

import base64
import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pipeline_steps.errors import ImageError
from pipeline_steps.image import BuildSpec, Credentials, ImageReference, find_credentials, resolve_digest, run_build
from tests.support.registry import (
    LocalRegistry,
    TokenService,
    isolated_container_storage,
    require_binaries,
    running_registry,
)

USER, PASSWORD = "ci", "s3cret"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    require_binaries("buildah", "skopeo")
    with running_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture(scope="module")
def pushed(registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> ImageReference:
    """demo/app:v1, built and pushed once for the module; its digest is what skopeo reports."""
    root = tmp_path_factory.mktemp("build")
    context = root / "app"
    context.mkdir()
    (context / "Containerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    (context / "hello.txt").write_text("hello\n")
    spec = BuildSpec.from_mapping(
        {
            "context": "app",
            "tag": registry.ref("demo/app", "v1"),
            "tls_verify": False,
            "storage_driver": "vfs",
            "isolation": "chroot",
        },
        source="pipeline.yaml",
        base_dir=root,
        environ={},
    )
    with pytest.MonkeyPatch.context() as patch:
        for name, value in isolated_container_storage(root / "containers").items():
            patch.setenv(name, value)
        run_build(spec)
    return spec.tag


@pytest.fixture(scope="module")
def token_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenService]:
    with TokenService(tmp_path_factory.mktemp("token"), users={USER: PASSWORD}) as service:
        yield service


@pytest.fixture(scope="module")
def private_registry(
    registry: LocalRegistry,
    pushed: ImageReference,
    token_service: TokenService,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalRegistry]:
    """A second registry on the same storage, which only answers holders of a token."""
    with running_registry(
        tmp_path_factory.mktemp("private"), storage=registry.storage, token_service=token_service
    ) as started:
        yield started


def skopeo_digest(image: str, *extra: str) -> str:
    result = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", *extra, "--format", "{{.Digest}}", f"docker://{image}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


def no_auth_files(tmp_path: Path) -> dict[str, str]:
    """An environment whose credential lookup finds nothing, whatever the machine's home holds."""
    empty = tmp_path / "docker-config"
    empty.mkdir(exist_ok=True)
    return {"DOCKER_CONFIG": str(empty)}


class FlakyProxy:
    """Answers the first `failures` requests with `status`, then forwards to the registry: a registry in trouble.

    With `hide_digest` it drops Docker-Content-Digest, as some registries do on HEAD.
    """

    def __init__(self, upstream: str, failures: int, status: int = 503, hide_digest: bool = False) -> None:
        self.upstream, self.failures, self.status, self.hide_digest = upstream, failures, status, hide_digest
        self.seen: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                proxy.answer(self)

            def do_GET(self) -> None:
                proxy.answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        self.seen.append(f"{handler.command} {handler.path}")
        if len(self.seen) <= self.failures:
            handler.send_response(self.status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        upstream = requests.request(
            handler.command,
            f"http://{self.upstream}{handler.path}",
            headers={"Accept": handler.headers.get("Accept", "*/*")},
            timeout=10,
        )
        handler.send_response(upstream.status_code)
        for name in ("Content-Type", "Docker-Content-Digest", "Content-Length"):
            if name in upstream.headers and not (self.hide_digest and name == "Docker-Content-Digest"):
                handler.send_header(name, upstream.headers[name])
        handler.end_headers()
        if handler.command == "GET":
            handler.wfile.write(upstream.content)

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def test_resolves_the_digest_skopeo_reports(pushed: ImageReference) -> None:
    assert resolve_digest(pushed) == skopeo_digest(str(pushed))


def test_an_unknown_tag_asks_whether_it_was_pushed(registry: LocalRegistry, pushed: ImageReference) -> None:
    with pytest.raises(ImageError) as raised:
        resolve_digest(pushed.with_tag("never-pushed"))

    assert f"tag never-pushed not found in repository demo/app at registry {registry.host}: was it pushed?" in str(
        raised.value
    )


def test_an_unknown_repository_is_not_found(registry: LocalRegistry) -> None:
    with pytest.raises(ImageError, match="tag v1 not found in repository demo/nothing-here"):
        resolve_digest(ImageReference.parse(registry.ref("demo/nothing-here", "v1")))


def test_a_digest_reference_is_checked_against_the_registry(pushed: ImageReference) -> None:
    digest = resolve_digest(pushed)
    unknown = "sha256:" + "0" * 64

    assert resolve_digest(pushed.with_digest(digest)) == digest
    with pytest.raises(ImageError, match=f"digest {unknown} not found in repository demo/app"):
        resolve_digest(pushed.with_digest(unknown))


def test_an_unreachable_registry_is_named(registry: LocalRegistry) -> None:
    with FlakyProxy(registry.host, failures=0) as proxy:
        closed = proxy.host  # the port is free again once the proxy is gone
    ref = ImageReference.parse(f"{closed}/demo/app:v1")

    with pytest.raises(ImageError, match=f"cannot reach registry {closed}") as raised:
        resolve_digest(ref, attempts=2)

    assert "(2 attempts)" in str(raised.value)


def test_server_errors_are_retried_until_the_registry_answers(registry: LocalRegistry, pushed: ImageReference) -> None:
    with FlakyProxy(registry.host, failures=2) as proxy:
        digest = resolve_digest(ImageReference(proxy.host, pushed.repository, pushed.tag), attempts=3)

    assert digest == skopeo_digest(str(pushed))
    assert len(proxy.seen) == 3


def test_retries_are_bounded(registry: LocalRegistry, pushed: ImageReference) -> None:
    with (
        FlakyProxy(registry.host, failures=100, status=502) as proxy,
        pytest.raises(ImageError, match="HTTP 502 3 times"),
    ):
        resolve_digest(ImageReference(proxy.host, pushed.repository, pushed.tag), attempts=3)

    assert len(proxy.seen) == 3


def test_not_found_is_not_retried(registry: LocalRegistry, pushed: ImageReference) -> None:
    with FlakyProxy(registry.host, failures=0) as proxy, pytest.raises(ImageError, match="not found"):
        resolve_digest(ImageReference(proxy.host, pushed.repository, "never-pushed"), attempts=3)

    assert proxy.seen == [f"HEAD /v2/{pushed.repository}/manifests/never-pushed"]


def test_without_a_digest_header_the_manifest_is_hashed(registry: LocalRegistry, pushed: ImageReference) -> None:
    with FlakyProxy(registry.host, failures=0, hide_digest=True) as proxy:
        digest = resolve_digest(ImageReference(proxy.host, pushed.repository, pushed.tag))

    assert digest == skopeo_digest(str(pushed))
    assert [request.split()[0] for request in proxy.seen] == ["HEAD", "GET"]


def test_bearer_token_flow_with_credentials_from_the_environment(
    private_registry: LocalRegistry, pushed: ImageReference, token_service: TokenService, tmp_path: Path
) -> None:
    ref = ImageReference(private_registry.host, pushed.repository, pushed.tag)
    environ = {
        **no_auth_files(tmp_path),
        "PIPELINE_STEPS_REGISTRY_USERNAME": USER,
        "PIPELINE_STEPS_REGISTRY_PASSWORD": PASSWORD,
    }

    digest = resolve_digest(ref, environ=environ)

    assert digest == skopeo_digest(str(ref), f"--creds={USER}:{PASSWORD}")
    assert (USER, f"repository:{pushed.repository}:pull") in token_service.requests


def test_bearer_token_flow_with_credentials_from_an_auth_file(
    private_registry: LocalRegistry, pushed: ImageReference, tmp_path: Path
) -> None:
    ref = ImageReference(private_registry.host, pushed.repository, pushed.tag)
    auth_file = tmp_path / "auth.json"
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    auth_file.write_text(json.dumps({"auths": {private_registry.host: {"auth": encoded}}}))
    environ = {**no_auth_files(tmp_path), "REGISTRY_AUTH_FILE": str(auth_file)}

    assert find_credentials(ref, environ=environ) == Credentials(USER, PASSWORD, origin=str(auth_file))
    assert resolve_digest(ref, environ=environ) == resolve_digest(pushed)


def test_wrong_credentials_are_named(private_registry: LocalRegistry, pushed: ImageReference) -> None:
    ref = ImageReference(private_registry.host, pushed.repository, pushed.tag)

    with pytest.raises(ImageError) as raised:
        resolve_digest(ref, credentials=Credentials(USER, "not-the-password-4711", origin="the test"))

    message = str(raised.value)
    assert f"registry {private_registry.host} refused access to demo/app (HTTP 401)" in message
    assert f"credentials of user '{USER}' from the test" in message
    assert "not-the-password-4711" not in message
    assert "PIPELINE_STEPS_REGISTRY_USERNAME" in message


def test_without_credentials_the_registry_refuses(
    private_registry: LocalRegistry, pushed: ImageReference, token_service: TokenService, tmp_path: Path
) -> None:
    ref = ImageReference(private_registry.host, pushed.repository, pushed.tag)

    with pytest.raises(ImageError, match="refused access to demo/app \\(HTTP 401\\) with no credentials") as raised:
        resolve_digest(ref, environ=no_auth_files(tmp_path))

    assert "PIPELINE_STEPS_REGISTRY_PASSWORD" in str(raised.value)
    assert (None, f"repository:{pushed.repository}:pull") in token_service.requests
