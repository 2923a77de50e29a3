"""What pulling an image does on a sandbox node: nothing is pulled, but the failures a kubelet reports are
staged, so a release of an image that no node can pull fails as it does on a real cluster.

- A reference that does not parse (an upper-case repository, a bad tag) gives `InvalidImageName`.
- A reference whose registry host is under `.invalid` (reserved by RFC 2606: no such host can ever exist,
  e.g. `registry.invalid/shop/web:2`) gives `ErrImagePull`, then `ImagePullBackOff` while the node
  backs off before the next attempt.
- Any other image counts as present on the node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The TLD that marks an image no sandbox node can pull.
UNPULLABLE_TLD = ".invalid"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)


@dataclass(frozen=True)
class PullFailure:
    reason: str  #: the container's waiting reason: InvalidImageName or ErrImagePull
    message: str  #: as the kubelet words it in the container status and in its `Failed` event


def _registry_host(image: str) -> str | None:
    """The registry host of a reference, if it names one (the first part has a dot or a port, or is localhost)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first.split(":", 1)[0]
    return None


def pull_failure(image: str) -> PullFailure | None:
    """Why a sandbox node cannot pull `image`, or None when it counts as pulled."""
    if not image or not _REFERENCE.match(image):
        return PullFailure(
            "InvalidImageName",
            f'Failed to apply default image tag "{image}": couldn\'t parse image name "{image}": invalid reference '
            "format",
        )
    host = _registry_host(image)
    if host is not None and host.lower().endswith(UNPULLABLE_TLD):
        return PullFailure(
            "ErrImagePull",
            f'rpc error: code = Unknown desc = failed to pull and unpack image "{image}": failed to resolve '
            f'reference "{image}": failed to do request: Head "https://{host}/v2/": dial tcp: lookup {host}: '
            "no such host",
        )
    return None
