"""Resolving a tag to its digest with the Registry HTTP API v2, so a release deploys exactly what was pushed."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import requests
import tenacity

from pipeline_steps.errors import ImageError
from pipeline_steps.image.reference import DEFAULT_REGISTRY, ImageReference

#: Every manifest kind a build may push; without them a registry may convert the manifest and change its digest.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
USERNAME_ENV = "PIPELINE_STEPS_REGISTRY_USERNAME"
PASSWORD_ENV = "PIPELINE_STEPS_REGISTRY_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
#: Docker Hub serves its API from another host than its name.
_API_HOSTS = {DEFAULT_REGISTRY: "registry-1.docker.io"}
_DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_CHALLENGE_PARAM_RE = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]+))')
_LOGIN_HINT = (
    f"set {USERNAME_ENV} and {PASSWORD_ENV}, or log in with `buildah login {{registry}}` and point "
    "REGISTRY_AUTH_FILE at its auth.json (credential helpers and credsStore are not read)"
)


@dataclasses.dataclass(frozen=True)
class Credentials:
    username: str
    password: str = dataclasses.field(repr=False)
    origin: str = ""  #: where they were found, for error messages: an environment variable or a file


class _ServerError(Exception):
    """A 5xx answer, raised only so tenacity retries it."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def resolve_digest(
    ref: ImageReference,
    *,
    tls_verify: bool = True,
    insecure_registries: Iterable[str] = (),
    credentials: Credentials | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    attempts: int = 4,
) -> str:
    """The digest (`sha256:...`) of the manifest `ref` names, as the registry reports it.

    Loopback registries, those in `insecure_registries` and any with `tls_verify=False` are spoken to over
    plain HTTP. Without `credentials`, find_credentials looks them up when the registry asks. Connection failures,
    timeouts and 5xx answers are tried `attempts` times in all.
    """
    plain_http = not tls_verify or _is_loopback(ref.registry) or ref.registry in set(insecure_registries)
    base = f"{'http' if plain_http else 'https'}://{_API_HOSTS.get(ref.registry, ref.registry)}"
    creds = credentials
    url = f"{base}/v2/{ref.repository}/manifests/{ref.reference}"
    headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=tenacity.wait_exponential(multiplier=0.5, max=4),
        retry=tenacity.retry_if_exception(_retryable),
        reraise=True,
    )

    def send(method: str, target: str, **kwargs: Any) -> requests.Response:
        def once() -> requests.Response:
            response = session.request(method, target, timeout=timeout, allow_redirects=True, **kwargs)
            if response.status_code >= 500:
                raise _ServerError(response)
            return response

        try:
            return retrying(once)
        except _ServerError as exc:
            raise ImageError(
                f"registry {ref.registry} answered {method} {target} with HTTP {exc.response.status_code} "
                f"{attempts} times: {exc.response.text[:200]}",
                hint="the registry is failing; try again later or check its logs",
                retryable=True,
            ) from exc
        except requests.exceptions.SSLError as exc:
            raise ImageError(
                f"TLS with registry {ref.registry} failed: {exc}",
                hint="set REQUESTS_CA_BUNDLE to the registry's CA bundle, or tls_verify: false for a plain-HTTP one",
            ) from exc
        except requests.RequestException as exc:
            tries = f" ({attempts} attempts)" if _retryable(exc) and attempts > 1 else ""
            raise ImageError(
                f"cannot reach registry {ref.registry} at {target}{tries}: {_reason(exc, timeout)}",
                hint="check the registry host and port, and that it is running and reachable from here",
                retryable=_retryable(exc),
            ) from exc

    with requests.Session() as session:
        # A loopback registry is never behind the CI's proxy.
        session.trust_env = not _is_loopback(ref.registry)
        response = send("HEAD", url, headers=headers)
        if response.status_code == 401:
            # Looked up only now: an open registry must not fail on an unreadable auth file.
            creds = creds or find_credentials(ref, environ=environ)
            headers = {**headers, **_authorize(response, ref, creds, send)}
            response = send("HEAD", url, headers=headers)
        _check_status(response, ref, creds)
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:
            # Some registries omit the header on HEAD: the digest is then the hash of the manifest itself.
            response = send("GET", url, headers=headers)
            _check_status(response, ref, creds)
            digest = (
                response.headers.get("Docker-Content-Digest")
                or f"sha256:{hashlib.sha256(response.content).hexdigest()}"
            )
    if not _DIGEST_RE.fullmatch(digest):
        raise ImageError(
            f"registry {ref.registry} reported digest {digest!r} for {ref}, not sha256:<64 hex>",
            hint="deploy by an explicit digest instead (image reference with @sha256:...)",
        )
    return digest


def find_credentials(
    ref: ImageReference, *, environ: Mapping[str, str] | None = None, home: Path | None = None
) -> Credentials | None:
    """Credentials for `ref`'s registry: from $PIPELINE_STEPS_REGISTRY_USERNAME/_PASSWORD, else auth files.

    The auth file is $REGISTRY_AUTH_FILE if set, else $DOCKER_CONFIG/config.json or ~/.docker/config.json.
    Only plain `auth` entries are read; credential helpers need their own programs and are skipped.
    """
    env = os.environ if environ is None else environ
    if env.get(USERNAME_ENV) and env.get(PASSWORD_ENV):
        return Credentials(env[USERNAME_ENV], env[PASSWORD_ENV], origin=f"${USERNAME_ENV}/${PASSWORD_ENV}")
    if env.get("REGISTRY_AUTH_FILE"):
        path = Path(env["REGISTRY_AUTH_FILE"])
    else:
        config_dir = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else (home or Path.home()) / ".docker"
        path = config_dir / "config.json"
    return _credentials_from_file(path, ref)


def _credentials_from_file(path: Path, ref: ImageReference) -> Credentials | None:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot read registry credentials from {path}: {exc}", hint="fix or remove the file") from exc
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        return None
    best: tuple[int, str] | None = None
    for key, entry in auths.items():
        scope = _auth_key_scope(str(key))
        covers = ref.name == scope or ref.name.startswith(scope + "/") or scope == ref.registry
        if covers and isinstance(entry, dict) and entry.get("auth") and (best is None or len(scope) > best[0]):
            best = (len(scope), str(entry["auth"]))
    if best is None:
        return None
    try:
        username, _, password = base64.b64decode(best[1]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ImageError(
            f"{path}: the auth entry for {ref.registry} is not base64 of user:password", hint="log in again"
        ) from exc
    return Credentials(username, password, origin=str(path))


def _auth_key_scope(key: str) -> str:
    """What an auths key covers: docker writes URLs ("https://index.docker.io/v1/"), podman host[/path]."""
    key = key.removeprefix("https://").removeprefix("http://").rstrip("/")
    host, _, path = key.partition("/")
    if host in _DOCKER_HUB_ALIASES:
        host = DEFAULT_REGISTRY
    if not path or re.fullmatch(r"v[12](/.*)?", path):
        return host
    return f"{host}/{path}"


def _authorize(
    challenge_response: requests.Response,
    ref: ImageReference,
    creds: Credentials | None,
    send: Callable[..., requests.Response],
) -> dict[str, str]:
    """Answer a 401 challenge: Basic with the credentials, or Bearer with a token fetched from the realm."""
    challenge = challenge_response.headers.get("WWW-Authenticate", "")
    scheme, _, params_text = challenge.partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM_RE.finditer(params_text)
    }
    if scheme.lower() == "basic":
        if creds is None:
            raise _access_denied(401, ref, creds)
        token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if scheme.lower() != "bearer" or not params.get("realm"):
        raise ImageError(
            f"registry {ref.registry} asked for authentication this client does not speak: {challenge!r}",
            hint="the Registry API v2 uses Basic or Bearer; check that the host is a container registry",
        )
    query = {"scope": params.get("scope") or f"repository:{ref.repository}:pull"}
    if params.get("service"):
        query["service"] = params["service"]
    auth = (creds.username, creds.password) if creds else None
    response = send("GET", params["realm"], params=query, auth=auth)
    if response.status_code in (401, 403):
        raise _access_denied(response.status_code, ref, creds)
    if response.status_code != 200:
        raise ImageError(
            f"token service {params['realm']} of registry {ref.registry} answered HTTP {response.status_code}",
            hint="check the registry's token service",
        )
    try:
        body = response.json()
        token = body.get("token") or body.get("access_token")
    except (ValueError, AttributeError) as exc:
        raise ImageError(f"token service {params['realm']} sent no JSON token", hint="check its logs") from exc
    if not isinstance(token, str) or not token:
        raise ImageError(f"token service {params['realm']} sent no token", hint="check its logs")
    return {"Authorization": f"Bearer {token}"}


def _check_status(response: requests.Response, ref: ImageReference, creds: Credentials | None) -> None:
    status = response.status_code
    if status == 200:
        return
    if status == 404:
        what = f"digest {ref.digest}" if ref.digest else f"tag {ref.tag}"
        raise ImageError(
            f"{what} not found in repository {ref.repository} at registry {ref.registry}: was it pushed?",
            hint="build and push it first, or correct the image reference",
        )
    if status in (401, 403):
        raise _access_denied(status, ref, creds)
    raise ImageError(
        f"registry {ref.registry} answered HTTP {status} for the manifest of {ref}",
        hint="check that the host is a container registry speaking the Registry API v2",
    )


def _access_denied(status: int, ref: ImageReference, creds: Credentials | None) -> ImageError:
    used = f"the credentials of user {creds.username!r} from {creds.origin}" if creds else "no credentials"
    return ImageError(
        f"registry {ref.registry} refused access to {ref.repository} (HTTP {status}) with {used}",
        hint=_LOGIN_HINT.format(registry=ref.registry),
    )


def _reason(exc: requests.RequestException, timeout: float) -> str:
    """The cause in a few words; urllib3 wraps it in two layers of pool and retry details."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g}s"
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    return errno.group(0).strip() if errno else text


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    return isinstance(exc, (_ServerError, requests.ConnectionError, requests.Timeout))


def _is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if not registry.endswith("]") else registry
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
