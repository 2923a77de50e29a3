"""Where one sandbox keeps its files, and the record of what it started."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline_steps_sandbox.certs import PkiPaths

#: Every process the sandbox starts carries this variable, so `down` can find what a crashed
#: parent left behind by reading /proc/<pid>/environ, even with the pid files lost.
MARKER_ENV = "PIPELINE_STEPS_SANDBOX_DIR"


def default_root() -> Path:
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "pipeline-steps" / "sandbox"


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def pki(self) -> PkiPaths:
        return PkiPaths(self.root / "pki")

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd-data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pods(self) -> Path:
        """Per-pod logs of the processes the node agent runs."""
        return self.root / "pods"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig handed to users and tests."""
        return self.root / "kubeconfig"

    def component_kubeconfig(self, component: str) -> Path:
        return self.root / f"{component}.kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.root / "sandbox.json"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"


@dataclass
class SandboxState:
    """What `up` started and where it listens; `down` and `status` read it back."""

    bin_dir: str
    kube_version: str
    apiserver_url: str
    etcd_url: str
    network_octet: int
    nodes: list[str]
    ports: dict[str, int]
    pids: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    startup_seconds: dict[str, float] = field(default_factory=dict)
    #: "python" (the service proxy) or "kube-proxy" (network namespaces and the real kube-proxy).
    data_plane: str = "python"
    #: Control-plane components stopped by `stop` (not yet started again) and frozen by `freeze`.
    stopped: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)

    def save(self, layout: Layout) -> None:
        tmp = layout.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(layout.state_file)

    @classmethod
    def load(cls, layout: Layout) -> SandboxState | None:
        try:
            data = json.loads(layout.state_file.read_text())
        except FileNotFoundError:
            return None
        return cls(**data)
