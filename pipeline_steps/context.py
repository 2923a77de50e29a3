"""What every step is given: the config, the cluster, the run's state, and how to report progress."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

from pipeline_steps.config import Config
from pipeline_steps.facts import RunFacts
from pipeline_steps.kube.cluster import KubeCluster
from pipeline_steps.state import RunState, local_scope, rendered_dir

#: Asks a person a yes/no question; None when there is no terminal to ask on.
Prompt = Callable[[str], bool]


@dataclasses.dataclass
class ReleaseContext:
    config: Config
    cluster: KubeCluster
    state: RunState
    workspace: Path
    env: Mapping[str, str]
    dry_run: bool = False
    #: No cluster to read (a dry-run without credentials): steps that need one are reported as not checked.
    offline: bool = False
    #: --yes: approve the confirm step without asking.
    assume_yes: bool = False
    prompt: Prompt | None = None
    progress: Callable[[str], None] = lambda _message: None
    #: What the run warned of, each once: shown as it happens and listed in the report.
    warnings: list[str] = dataclasses.field(default_factory=list)
    _warned: set[str] = dataclasses.field(default_factory=set, repr=False)

    @property
    def facts(self) -> RunFacts:
        return self.state.facts

    @property
    def run_id(self) -> str:
        return self.state.run_id

    def warn(self, message: str, *, key: str | None = None) -> None:
        """Warn once per run: the same finding from several steps or roles (each renders the manifests) is one
        warning. `key` says what makes two findings the same (default: the message)."""
        seen = key or message
        if seen not in self._warned:
            self._warned.add(seen)
            self.warnings.append(message)
            self.progress(f"warning: {message}")

    @property
    def local_scope(self) -> Path:
        return local_scope(self.cluster.identity, self.cluster.namespace, self.config.app)

    def rendered_dir(self, run_id: str | None = None) -> Path:
        return rendered_dir(self.workspace, self.local_scope, run_id or self.run_id)

    def variables(self, **extra: str) -> dict[str, str]:
        """Variables for rendering: environment and --set, the resolved image, and `extra` (TARGET_ROLE)."""
        values = dict(self.config.variables)
        # Before prepare-image has resolved it (a stage run alone), the configured reference stands in.
        image = self.facts.image_ref or self.config.image.reference
        if image:
            values[self.config.image.variable] = str(image)
        values.update(extra)
        return values
