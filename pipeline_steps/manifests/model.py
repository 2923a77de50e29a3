"""One loaded Kubernetes object, with the place it came from; and the rendered YAML of a set of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import yaml


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A substituted, parsed and upgraded object. `body` is what gets applied."""

    source: str  #: the file's path as the pattern gave it
    index: int  #: the YAML document's number in the file, from 0 (items of a `kind: List` share it)
    line: int  #: the first line of the object in the file, from 1
    body: dict[str, Any]

    @property
    def api_version(self) -> str:
        return str(self.body["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def metadata(self) -> dict[str, Any]:
        metadata = self.body.get("metadata")
        return metadata if isinstance(metadata, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def namespace(self) -> str | None:
        namespace = self.metadata.get("namespace")
        return str(namespace) if namespace else None

    @property
    def labels(self) -> dict[str, str]:
        labels = self.metadata.get("labels")
        return {str(key): str(value) for key, value in labels.items()} if isinstance(labels, dict) else {}

    @property
    def where(self) -> str:
        """`file:line (Kind/name)`, the prefix of every message about this object."""
        return f"{self.source}:{self.line} ({self.kind}/{self.name})"


def manifest_to_yaml(manifests: Iterable[Manifest]) -> str:
    """Multi-document YAML of the objects in order, each headed by a comment naming where it came from."""
    documents = []
    for manifest in manifests:
        body = yaml.safe_dump(manifest.body, sort_keys=False, allow_unicode=True, width=float("inf"))
        documents.append(f"---\n# Source: {manifest.source}:{manifest.line}\n{body}")
    return "".join(documents)
