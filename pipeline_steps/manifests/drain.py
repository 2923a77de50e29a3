"""Lossless pod termination: endpoint removal and SIGTERM race on every cluster, so a served container needs
a preStop hook that keeps it answering while the proxies catch up, and a grace period longer than that hook.

`add_pre_stop` gives every served container without a hook a `preStop.sleep` (the release's diff shows it),
so the classic manifest becomes lossless without being edited; `drain_findings` says where requests would
still be lost, with the fix."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal

from pipeline_steps.manifests.checks import Finding
from pipeline_steps.manifests.model import Manifest

#: Kubernetes' default terminationGracePeriodSeconds.
DEFAULT_GRACE_S = 30
FIX = (
    "add `lifecycle: {preStop: {sleep: {seconds: 5}}}` to the container (and a terminationGracePeriodSeconds "
    "longer than it), or set drain.pre_stop_sleep in pipeline.yaml; drain.accept_lost_requests: true releases anyway"
)


def _served(container: dict[str, Any]) -> bool:
    """A container that answers traffic: it declares ports (what a Service's targetPort names)."""
    return bool(container.get("ports"))


def _pod_spec(manifest: Manifest) -> dict[str, Any] | None:
    if manifest.kind != "Deployment":
        return None
    spec = ((manifest.body.get("spec") or {}).get("template") or {}).get("spec")
    return spec if isinstance(spec, dict) else None


def add_pre_stop(manifests: Sequence[Manifest], seconds: float) -> list[Manifest]:
    """The manifests with a preStop sleep of `seconds` added to served containers that have no preStop hook."""
    if seconds <= 0:
        return list(manifests)
    result = []
    for manifest in manifests:
        spec = _pod_spec(manifest)
        if spec is None or not any(_served(c) and not _pre_stop(c) for c in spec.get("containers") or []):
            result.append(manifest)
            continue
        body = copy.deepcopy(manifest.body)
        for container in body["spec"]["template"]["spec"]["containers"]:
            if _served(container) and not _pre_stop(container):
                lifecycle = container.setdefault("lifecycle", {})
                lifecycle["preStop"] = {"sleep": {"seconds": math.ceil(seconds)}}
        result.append(dataclasses.replace(manifest, body=body))
    return result


def _pre_stop(container: dict[str, Any]) -> dict[str, Any] | None:
    hook = (container.get("lifecycle") or {}).get("preStop")
    return hook if isinstance(hook, dict) and hook else None


def _hook_seconds(hook: dict[str, Any]) -> float | None:
    """How long a preStop hook keeps the pod serving, when it says so (a sleep); None for exec/http hooks."""
    sleep = hook.get("sleep")
    if isinstance(sleep, dict) and isinstance(sleep.get("seconds"), int | float):
        return float(sleep["seconds"])
    return None


def drain_findings(manifests: Sequence[Manifest], *, stops_pods: bool) -> list[Finding]:
    """Where stopping pods would lose requests. `stops_pods`: this release deletes serving pods (rolling, or
    blue/green scale-down): an error; otherwise (blue/green keep, hot-backup) a warning for a later scale-down."""
    level: Literal["error", "warning"] = "error" if stops_pods else "warning"
    findings: list[Finding] = []
    for manifest in manifests:
        spec = _pod_spec(manifest)
        if spec is None:
            continue
        grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_S)
        for index, container in enumerate(spec.get("containers") or []):
            if not _served(container):
                continue
            field = f"spec.template.spec.containers[{index}].lifecycle.preStop"
            hook = _pre_stop(container)
            if hook is None:
                findings.append(
                    Finding(
                        level,
                        manifest.where,
                        field,
                        f"container {container.get('name')} has no preStop hook: requests in flight when its pods "
                        "stop are lost (proxies still send them traffic after SIGTERM)",
                        FIX,
                    )
                )
                continue
            seconds = _hook_seconds(hook)
            if seconds is not None and isinstance(grace, int | float) and grace <= seconds:
                findings.append(
                    Finding(
                        level,
                        manifest.where,
                        "spec.template.spec.terminationGracePeriodSeconds",
                        f"the grace period ({grace}s) is not longer than container {container.get('name')}'s "
                        f"preStop sleep ({seconds:g}s): the pod is killed before it has drained",
                        "make terminationGracePeriodSeconds longer than the preStop sleep plus the app's shutdown",
                    )
                )
    return findings
