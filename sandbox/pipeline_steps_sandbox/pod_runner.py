"""One pod's life on a sandbox node, as a kubelet lives it.

Start a process per container, probe it for real, report status; on deletion run the preStop
hook, send SIGTERM, SIGKILL after the grace period, then remove the pod. The endpoint controller and
the proxy follow the same pod by watch, each at its own pace, so the race between "the endpoint is
gone from the data plane" and "the process has stopped" is as real here as on any cluster.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from pipeline_steps_sandbox.addresses import to_loopback
from pipeline_steps_sandbox.containers import (
    API_TIMEOUT,
    OOM_AFTER_S,
    PRESTOP_OVERRUN_GRACE,
    RESTART_BACKOFF_FIRST,
    RESTART_BACKOFF_MAX,
    ContainerRun,
    NodeContext,
    container_env,
    now_rfc3339,
    out_of_memory,
    prestop_seconds,
)
from pipeline_steps_sandbox.events import PodEvents
from pipeline_steps_sandbox.images import pull_failure
from pipeline_steps_sandbox.layout import MARKER_ENV
from pipeline_steps_sandbox.probes import ProbeState, resolve_port, run_probe

log = logging.getLogger(__name__)

STRATEGIC = "application/strategic-merge-patch+json"
_TICK = 0.25
#: A failed pull shows as ErrImagePull this long, then as ImagePullBackOff until the next attempt.
_ERR_IMAGE_PULL_SHOWN_S = 1.0


class PodRunner:
    """Owns one pod's processes. The informer thread calls `observe`; the runner's thread acts."""

    def __init__(self, node: NodeContext, pod: dict[str, Any], virtual_ip: str, on_exit: Any = None) -> None:
        self.node = node
        self.core = client.CoreV1Api(node.api)
        self.pod = pod
        self.uid = pod["metadata"]["uid"]
        self.namespace = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.virtual_ip = virtual_ip
        self.host = node.pod_network.listen_host(virtual_ip) if node.pod_network else to_loopback(virtual_ip)
        self.containers = [ContainerRun(spec=c) for c in pod["spec"]["containers"]]
        self.start_time = now_rfc3339()
        self._wake = threading.Event()
        self._deleted = threading.Event()  # the pod object is gone: kill at once
        self._lock = threading.Lock()
        self._on_exit = on_exit
        self._last_status: str = ""
        #: The last status post failed (the API server was away), or the API's copy differs from ours: post again.
        self._status_dirty = False
        self._posted_ready: bool | None = None
        self.events = PodEvents(self.core, pod, node.node_name)
        self.thread = threading.Thread(target=self._run, name=f"pod-{self.namespace}/{self.name}", daemon=True)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def start(self) -> None:
        self.thread.start()

    @property
    def pod_deleted(self) -> bool:
        """The pod object is gone (or the agent is shutting down)."""
        return self._deleted.is_set()

    def observe(self, kind: str, pod: dict[str, Any]) -> None:
        with self._lock:
            self.pod = pod
            # Someone else changed the pod's readiness (the node lifecycle controller marks the pods of a node it
            # thinks is gone not ready): a kubelet's status manager puts back what it knows.
            if self._posted_ready is not None and _ready_in(pod) != self._posted_ready:
                self._status_dirty = True
        if kind == "DELETED":
            self._deleted.set()
        self._wake.set()

    def kill_now(self) -> None:
        """Agent shutdown: stop every process without the pod's grace period."""
        self._deleted.set()
        self._wake.set()

    # -- the runner's thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._post_status()  # Pending, ContainerCreating: what a kubelet reports before it starts anything
            for run in self.containers:
                self._start(run)
            self._post_status()
            while not self._deleted.is_set():
                with self._lock:
                    deleting = self.pod["metadata"].get("deletionTimestamp") is not None
                if deleting:
                    self._terminate()
                    return
                changed = self._supervise()
                changed = self._probe() or changed
                if changed or self._status_dirty:
                    self._post_status()
                self._wake.wait(self._next_wakeup())
                self._wake.clear()
            self._kill_all(grace=0)
        except Exception:
            log.exception("pod %s: runner failed", self.key)
            self._kill_all(grace=0)
        finally:
            if self._on_exit:
                self._on_exit(self)

    def _next_wakeup(self) -> float:
        now = time.monotonic()
        dues = [s.next_due for r in self.containers for s in (r.readiness, r.liveness, r.startup) if s]
        dues += [r.restart_at for r in self.containers if r.restart_at]
        dues += [r.pull_retry_at for r in self.containers if r.pull_retry_at]
        dues += [
            r.pull_failed_at + _ERR_IMAGE_PULL_SHOWN_S
            for r in self.containers
            if r.pull_waiting and r.pull_waiting[0] == "ErrImagePull"
        ]
        dues += [r.oom_at for r in self.containers if r.oom_at]
        if self._status_dirty:
            dues.append(now + 1.0)
        soonest = min(dues, default=now + 5)
        return max(0.05, min(soonest - now, _TICK * 4))

    def _pull(self, run: ContainerRun) -> bool:
        """Pull the container's image, as far as the sandbox stages pulls; False when it failed (and is backed off)."""
        image = str(run.spec.get("image", ""))
        failure = pull_failure(image)
        now = time.monotonic()
        if failure is None:
            if run.pull_waiting is not None or not run.ever_started:
                self.events.record("Pulled", f'Container image "{image}" already present on machine')
            run.pull_waiting, run.pull_retry_at = None, 0.0
            return True
        if failure.reason == "InvalidImageName":
            self.events.record("InspectFailed", failure.message, "Warning")
            self.events.record("Failed", "Error: InvalidImageName", "Warning")
        else:
            self.events.record("Pulling", f'Pulling image "{image}"')
            self.events.record("Failed", f'Failed to pull image "{image}": {failure.message}', "Warning")
            self.events.record("Failed", f"Error: {failure.reason}", "Warning")
        run.pull_waiting = (failure.reason, failure.message)
        run.pull_failed_at, run.pull_retry_at = now, now + run.backoff
        run.backoff = min(run.backoff * 2, RESTART_BACKOFF_MAX)
        return False

    def _start(self, run: ContainerRun) -> None:
        if not self._pull(run):
            return
        spec = run.spec
        ports = [str(p["containerPort"]) for p in spec.get("ports") or [] if (p.get("protocol") or "TCP") == "TCP"]
        spec_env = container_env(spec, self.pod, self.virtual_ip)
        meta = self.pod["metadata"]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            MARKER_ENV: str(self.node.sandbox_root),
            **spec_env,
            "SANDBOX_POD_LISTEN_HOST": self.host,
            "SANDBOX_POD_PORTS": ",".join(ports),
            "SANDBOX_POD_NAME": meta["name"],
            "SANDBOX_POD_NAMESPACE": meta["namespace"],
            "SANDBOX_POD_CONTAINER": spec["name"],
            "SANDBOX_POD_IMAGE": spec.get("image", ""),
            "SANDBOX_POD_NODE": self.node.node_name,
            "SANDBOX_POD_IP": self.virtual_ip,
            "SANDBOX_POD_LABELS": json.dumps(meta.get("labels") or {}),
            "SANDBOX_POD_SPEC_ENV": json.dumps(spec_env),
            "SANDBOX_POD_AGENT_PID": str(os.getpid()),
            "PYTHONUNBUFFERED": "1",
        }
        log_path = self.node.pod_logs / f"{self.namespace}_{self.name}_{spec['name']}.log"
        command = [sys.executable, "-m", "pipeline_steps_sandbox.pod_app"]
        if self.node.pod_network is not None:
            command = self.node.pod_network.wrap(self.virtual_ip, command)
        with open(log_path, "ab") as out:
            run.process = subprocess.Popen(
                command,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        run.started_at = now_rfc3339()
        run.restart_at = 0.0
        run.ever_started = True
        run.oom_at = time.monotonic() + OOM_AFTER_S if out_of_memory(spec, spec_env) else 0.0
        run.startup = ProbeState(spec["startupProbe"], result=False) if spec.get("startupProbe") else None
        run.readiness = ProbeState(spec["readinessProbe"], result=False) if spec.get("readinessProbe") else None
        run.liveness = ProbeState(spec["livenessProbe"], result=True) if spec.get("livenessProbe") else None
        self.events.record("Created", f"Created container: {spec['name']}")
        self.events.record("Started", f"Started container {spec['name']}")

    def _supervise(self) -> bool:
        """Notice exits (and kill what outgrew its memory limit), restart per restartPolicy with back-off, pull
        again what failed to pull. True when status changed."""
        changed = False
        now = time.monotonic()
        for run in self.containers:
            if run.process is None and run.pull_waiting is not None:
                if now >= run.pull_retry_at:
                    self._start(run)
                    changed = True
                elif now >= run.pull_failed_at + _ERR_IMAGE_PULL_SHOWN_S and run.pull_waiting[0] == "ErrImagePull":
                    image = run.spec.get("image", "")
                    run.pull_waiting = (
                        "ImagePullBackOff",
                        f'Back-off pulling image "{image}": ErrImagePull: ' + run.pull_waiting[1],
                    )
                    self.events.record("BackOff", f'Back-off pulling image "{image}"')
                    self.events.record("Failed", "Error: ImagePullBackOff", "Warning")
                    changed = True
                continue
            if run.process is not None and run.oom_at and now >= run.oom_at:
                # What the kernel's OOM killer does to a cgroup over its limit: SIGKILL, no grace.
                self._stop_process(run, 0)
                assert run.last_exit is not None
                run.last_exit.update(exitCode=137, reason="OOMKilled")
                self._after_exit(run, now)
                changed = True
            elif run.process is not None and run.process.poll() is not None:
                run.last_exit = self._exit_record(run, run.process.returncode)
                run.process = None
                self._after_exit(run, now)
                changed = True
            elif run.process is None and run.restart_at and now >= run.restart_at:
                run.restart_count += 1
                self._start(run)
                changed = True
        return changed

    def _after_exit(self, run: ContainerRun, now: float) -> None:
        """Schedule the restart restartPolicy asks for: the first at once, later ones after a doubling back-off."""
        run.oom_at = 0.0
        policy = self.pod["spec"].get("restartPolicy", "Always")
        code = (run.last_exit or {}).get("exitCode", 0)
        if not (policy == "Always" or (policy == "OnFailure" and code != 0)):
            return
        if not run.backing_off:
            run.restart_at, run.backing_off = now + _TICK, True
            return
        run.restart_at = now + run.backoff
        self.events.record(
            "BackOff", f"Back-off restarting failed container {run.name} in pod {self._pod_ref}", "Warning"
        )
        run.backoff = min(run.backoff * 2, RESTART_BACKOFF_MAX)

    @property
    def _pod_ref(self) -> str:
        return f"{self.name}_{self.namespace}({self.uid})"

    @staticmethod
    def _exit_record(run: ContainerRun, code: int) -> dict[str, Any]:
        return {
            "exitCode": code if code >= 0 else 128 - code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": run.started_at,
            "finishedAt": now_rfc3339(),
            "containerID": f"sandbox://{run.name}/{run.restart_count}",
        }

    def _probe(self) -> bool:
        changed = False
        now = time.monotonic()
        for run in self.containers:
            if not run.running:
                continue
            if run.startup is not None and not run.startup.result:
                if run.startup.due(now):
                    changed |= self._probe_once(run, run.startup, "Startup", now)
                continue
            for state, kind in ((run.readiness, "Readiness"), (run.liveness, "Liveness")):
                if state is not None and state.due(now):
                    changed |= self._probe_once(run, state, kind, now)
            if run.liveness is not None and not run.liveness.result:
                self.events.record("Killing", f"Container {run.name} failed liveness probe, will be restarted")
                self._stop_process(run, self._grace_period())
                run.liveness = None  # a fresh one comes with the restart
                self._after_exit(run, now)
                changed = True
        return changed

    def _probe_once(self, run: ContainerRun, state: ProbeState, kind: str, now: float) -> bool:
        """One attempt; every failed one is an `Unhealthy` event, as the kubelet's prober records it."""
        outcome = self._attempt(state, run)
        flipped = state.record(outcome, now)
        if not outcome.ok:
            self.events.record("Unhealthy", f"{kind} probe failed: {outcome.message}", "Warning")
        return flipped

    def _attempt(self, state: ProbeState, run: ContainerRun) -> Any:
        return run_probe(state.probe, run.spec, self.host, self.node.kube_version, shown_as=self.virtual_ip)

    def _grace_period(self) -> float:
        meta = self.pod["metadata"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        return float(grace)

    def _terminate(self) -> None:
        """Graceful deletion: preStop, SIGTERM, SIGKILL at the deadline, then remove the pod."""
        grace = self._grace_period()
        deadline = time.monotonic() + grace
        for run in self.containers:
            self.events.record("Killing", f"Stopping container {run.name}")
        hooks = [
            threading.Thread(target=self._stop_container, args=(run, deadline), daemon=True) for run in self.containers
        ]
        for hook in hooks:
            hook.start()
        for hook in hooks:
            hook.join()
        self._post_status()
        try:
            self.core.delete_namespaced_pod(
                self.name,
                self.namespace,
                grace_period_seconds=0,
                body=client.V1DeleteOptions(grace_period_seconds=0, preconditions=client.V1Preconditions(uid=self.uid)),
            )
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    def _stop_container(self, run: ContainerRun, deadline: float) -> None:
        sleep_for, http_hook = prestop_seconds(run.spec)
        if run.running and http_hook is not None:
            self._prestop_http(run, http_hook, deadline)
        if run.running and sleep_for:
            # preStop runs inside the grace period; the deletion of the pod object ends it early.
            self._deleted.wait(max(0.0, min(sleep_for, deadline - time.monotonic())))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            remaining = PRESTOP_OVERRUN_GRACE
        self._stop_process(run, 0 if self._deleted.is_set() else remaining)
        run.restart_at = run.pull_retry_at = 0.0

    def _prestop_http(self, run: ContainerRun, hook: dict[str, Any], deadline: float) -> None:
        timeout = max(0.1, deadline - time.monotonic())
        with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
            conn = http.client.HTTPConnection(self.host, resolve_port(hook["port"], run.spec), timeout=timeout)
            conn.request("GET", hook.get("path") or "/")
            conn.getresponse().read()
            conn.close()

    def _stop_process(self, run: ContainerRun, grace: float) -> None:
        process = run.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        try:
            process.wait(timeout=grace if grace > 0 else 5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        run.last_exit = self._exit_record(run, process.returncode)
        run.process = None

    def _kill_all(self, grace: float) -> None:
        for run in self.containers:
            self._stop_process(run, grace)

    # -- status ------------------------------------------------------------------------------------

    def _container_status(self, run: ContainerRun) -> dict[str, Any]:
        state: dict[str, Any]
        if run.running:
            state = {"running": {"startedAt": run.started_at}}
        elif run.pull_waiting is not None:
            state = {"waiting": {"reason": run.pull_waiting[0], "message": run.pull_waiting[1]}}
        elif run.restart_at and run.backing_off and run.last_exit is not None and self._in_backoff(run):
            back_off = f"{run.backoff / 2:g}s"
            state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {back_off} restarting failed container={run.name} pod={self._pod_ref}",
                }
            }
        elif run.last_exit is not None:
            state = {"terminated": run.last_exit}
        else:
            state = {"waiting": {"reason": "ContainerCreating"}}
        status: dict[str, Any] = {
            "name": run.name,
            "image": run.spec.get("image", ""),
            "imageID": run.spec.get("image", "") if run.ever_started else "",
            "ready": run.ready,
            "started": run.started,
            "restartCount": run.restart_count,
            "state": state,
        }
        if run.ever_started:
            status["containerID"] = f"sandbox://{self.uid}/{run.name}"
        if run.last_exit is not None and not state.get("terminated"):
            status["lastState"] = {"terminated": run.last_exit}
        return status

    @staticmethod
    def _in_backoff(run: ContainerRun) -> bool:
        # The first restart follows a crash at once (the container shows terminated meanwhile); from the second
        # on, the kubelet waits out a back-off and says so.
        return run.backoff > RESTART_BACKOFF_FIRST

    def _post_status(self) -> None:
        ready = all(run.ready for run in self.containers)
        all_exited = all(not run.running for run in self.containers)
        unready = [run.name for run in self.containers if not run.ready]
        now = now_rfc3339()

        def condition(kind: str, value: bool) -> dict[str, Any]:
            found: dict[str, Any] = {
                "type": kind,
                "status": "True" if value else "False",
                "lastTransitionTime": now,
                "lastProbeTime": None,
            }
            if not value and kind in ("ContainersReady", "Ready"):
                found["reason"] = "ContainersNotReady"
                found["message"] = f"containers with unready status: [{' '.join(unready)}]"
            return found

        if not all(run.ever_started for run in self.containers):
            phase = "Pending"  # a container has not run yet: creating, or its image cannot be pulled
        elif not all_exited:
            phase = "Running"
        else:
            phase = self.pod.get("status", {}).get("phase", "Running")
        status: dict[str, Any] = {
            "phase": phase,
            "hostIP": self.node.host_ip,
            "hostIPs": [{"ip": self.node.host_ip}],
            "podIP": self.virtual_ip,
            "podIPs": [{"ip": self.virtual_ip}],
            "startTime": self.start_time,
            "conditions": [
                condition("PodReadyToStartContainers", True),
                condition("Initialized", True),
                condition("ContainersReady", ready),
                condition("Ready", ready),
            ],
            "containerStatuses": [self._container_status(run) for run in self.containers],
        }
        # Only a changed status is sent (or one the API server lost or someone else changed), and
        # lastTransitionTime is left out of the comparison, so conditions keep the time they last really changed.
        fingerprint = json.dumps(
            {**status, "conditions": [(c["type"], c["status"]) for c in status["conditions"]]}, sort_keys=True
        )
        if fingerprint == self._last_status and not self._status_dirty:
            return
        previous = {c["type"]: c for c in (self.pod.get("status") or {}).get("conditions") or []}
        for c in status["conditions"]:
            old = previous.get(c["type"])
            if old is not None and old.get("status") == c["status"] and old.get("lastTransitionTime"):
                c["lastTransitionTime"] = old["lastTransitionTime"]
        try:
            self._status_dirty = False
            self.core.patch_namespaced_pod_status(
                self.name, self.namespace, {"status": status}, _content_type=STRATEGIC, _request_timeout=API_TIMEOUT
            )
            self._last_status = fingerprint
            with self._lock:
                self._posted_ready = ready
        except ApiException as exc:
            if exc.status != 404:
                self._status_dirty = True
                log.warning("pod %s: status update failed: %s", self.key, exc.reason)
        except Exception as exc:  # the API server is away (restarting, frozen): try again shortly
            self._status_dirty = True
            log.warning("pod %s: status update failed: %s", self.key, exc)


def _ready_in(pod: dict[str, Any]) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False
