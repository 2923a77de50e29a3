"""Image references (`registry/repository:tag@digest`), parsed and normalised the way docker does."""

from __future__ import annotations

import dataclasses
import re

from pipeline_steps.errors import ConfigError

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
#: Docker Hub's name for one-component repositories ("nginx" is "library/nginx").
OFFICIAL_NAMESPACE = "library"

# The grammar of github.com/distribution/reference, so a reference we accept is one every registry accepts.
_HOST_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REGISTRY_RE = re.compile(rf"(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_PATH_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_SHA256_RE = re.compile(r"sha256:[0-9a-f]{64}")
_MAX_NAME_LENGTH = 255


@dataclasses.dataclass(frozen=True)
class ImageReference:
    """A fully qualified image reference: `registry` always set, `tag` and/or `digest` at least one."""

    registry: str  #: host[:port], e.g. "docker.io", "127.0.0.1:5000", "ghcr.io"
    repository: str  #: path inside the registry, e.g. "library/nginx", "team/app"
    tag: str | None = DEFAULT_TAG
    digest: str | None = None  #: "sha256:<64 hex>"

    def __post_init__(self) -> None:
        if self.tag is None and self.digest is None:
            raise ConfigError(f"image reference {self.name} has neither tag nor digest")

    @classmethod
    def parse(cls, text: str, *, source: str | None = None, field: str | None = None) -> ImageReference:
        """Parse `text` as docker does: no registry means docker.io, no tag and no digest means `latest`.

        `source` and `field` name where the text came from, for the error message.
        """

        def invalid(why: str) -> ConfigError:
            return ConfigError(
                f"invalid image reference {text!r}: {why}",
                source=source,
                field=field,
                hint="write it as [registry[:port]/]repository[:tag][@sha256:digest], e.g. ghcr.io/team/app:v1",
            )

        remainder, _, digest = text.strip().partition("@")
        if not remainder:
            raise invalid("it is empty")
        if digest and (problem := _digest_problem(digest)):
            raise invalid(problem)

        tag: str | None = None
        last_slash = remainder.rfind("/")
        colon = remainder.rfind(":")
        if colon > last_slash:
            remainder, tag = remainder[:colon], remainder[colon + 1 :]
            if not _TAG_RE.fullmatch(tag):
                raise invalid(
                    f"tag {tag!r} must be 1-128 of letters, digits, '_', '.', '-' and not start with '.' or '-'"
                )

        registry, repository = _split_registry(remainder)
        if not _REGISTRY_RE.fullmatch(registry):
            raise invalid(f"registry {registry!r} is not a host name or address with an optional port")
        for component in repository.split("/"):
            if not _PATH_COMPONENT_RE.fullmatch(component):
                raise invalid(
                    f"repository component {component!r} must be lower-case letters and digits, "
                    "separated by '.', '_', '__' or '-'"
                )
        if len(registry) + 1 + len(repository) > _MAX_NAME_LENGTH:
            raise invalid(f"the name is longer than {_MAX_NAME_LENGTH} characters")
        if tag is None and not digest:
            tag = DEFAULT_TAG
        return cls(registry=registry, repository=repository, tag=tag, digest=digest or None)

    @property
    def name(self) -> str:
        """`registry/repository`, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What the registry API calls the reference: the digest if pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_digest(self, digest: str) -> ImageReference:
        """The same repository pinned to `digest`, without the tag.

        The tag is dropped because runtimes ignore it next to a digest, and showing it would only mislead
        once the tag moves on.
        """
        if problem := _digest_problem(digest):
            raise ConfigError(problem, hint="expected sha256:<64 lower-case hex characters>")
        return dataclasses.replace(self, tag=None, digest=digest)

    def with_tag(self, tag: str) -> ImageReference:
        """The same repository at `tag`, without a digest."""
        if not _TAG_RE.fullmatch(tag):
            raise ConfigError(f"invalid tag {tag!r}", hint="1-128 of letters, digits, '_', '.', '-'")
        return dataclasses.replace(self, tag=tag, digest=None)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def names_a_version(text: str) -> bool:
    """Whether a reference says which image it is: a tag or a digest. Without either, a runtime pulls whatever
    `latest` is when each pod starts."""
    return "@" in text or ":" in text.rsplit("/", 1)[-1]


UNPINNED_HINT = "add a tag (repository:1.4.2) or a digest (repository@sha256:...)"


def _split_registry(name: str) -> tuple[str, str]:
    """Split off the registry: the first component is one if it has a '.' or ':', is localhost or has capitals."""
    first, slash, rest = name.partition("/")
    is_host = slash and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first)
    if not is_host:
        registry, repository = DEFAULT_REGISTRY, name
    else:
        registry, repository = first, rest
    if registry == "index.docker.io":
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"{OFFICIAL_NAMESPACE}/{repository}"
    return registry, repository


def _digest_problem(digest: str) -> str | None:
    if not _DIGEST_RE.fullmatch(digest):
        return f"digest {digest!r} is not algorithm:hex"
    if digest.startswith("sha256:") and not _SHA256_RE.fullmatch(digest):
        return f"digest {digest!r}: a sha256 digest is 64 lower-case hex characters"
    return None
