"""The release lock: one run of an app at a time changes the cluster, whatever CI starts it.

Jenkins' `lock` and GitHub's `concurrency` serialise runs inside one CI system; this lock holds across
all of them, and across the separate processes of a stage-by-stage run, because it lives on the cluster:
a `coordination.k8s.io/v1` Lease named after the app, held by the run id. Every step that changes the
cluster takes or renews it; the run gives it back when it is over (post-clean done, or a failure,
rollback or rejection). A run that died holding it is stale once the lease has not been renewed for its
duration. pre-clean removes a lock of its own run (a restarted build), of the unfinished run its workspace
recorded (which it replaces), or a stale one, and nothing else.

A Lease's renewTime is written on the holder's clock, which may be minutes off this machine's: comparing the two
would take a live run's lock (or keep a dead one's). So expiry is timed as client-go's leader election times it:
from when the record (holder, renewTime, acquireTime, duration) was seen to change, on this process's monotonic
clock. A process that first sees a Lease has not seen it change; it dates the last renewal by the API server's
own clock instead (the time the server stamped on the renewing write, in managedFields, against the Date of its
answer), so a lock left by a dead run still expires for the next CI run without anyone trusting the holder's clock.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from pipeline_steps.config import Config
from pipeline_steps.errors import LockHeld
from pipeline_steps.kube.cluster import FIELD_MANAGER, REQUEST_TIMEOUT, KubeCluster
from pipeline_steps.kube.errors import call

API_VERSION = "coordination.k8s.io/v1"
KIND = "Lease"
#: Beyond the longest single step: the gap a stage-by-stage run may leave between two of its stages.
MARGIN_S = 300
#: The step the holder is in, so that `rollback` (which takes no lock) can refuse to race a switch.
STEP_ANNOTATION = "pipeline-steps.dev/step"
#: Steps that move the public Service's selector.
SWITCHING_STEPS = ("switch", "verify-prod")
#: On a Lease whose taking created the namespace: until the lock is next renewed, this run made it.
CREATED_NAMESPACE_ANNOTATION = "pipeline-steps.dev/created-namespace"


def duration_for(config: Config) -> int:
    """How long the release lock outlives its last renewal: the longest wait one step may make, plus a margin."""
    timeouts, confirm, post_clean = config.timeouts, config.confirm, config.post_clean
    longest = max(timeouts.rollout_s, timeouts.switch_s, confirm.timeout_s, post_clean.scale_down_delay_s)
    return int(longest) + MARGIN_S


def lease_name(app: str) -> str:
    return f"pipeline-steps-{app}"


@dataclasses.dataclass(frozen=True)
class LockState:
    """Who holds the lock and whether that still counts, as read from the Lease."""

    holder: str | None
    renewed_at: datetime.datetime | None  #: on the holder's clock: shown, never compared with ours
    duration_s: int
    unchanged_for_s: float  #: since the record last changed, as this process judges it (see the module's doc)
    step: str | None = None

    @property
    def free(self) -> bool:
        return self.holder is None

    @property
    def expires_in_s(self) -> float:
        return self.duration_s - self.unchanged_for_s

    @property
    def stale(self) -> bool:
        """Held, but not renewed within its duration: its run is gone. A held Lease without any time never
        expires by itself otherwise, so it counts as stale."""
        return self.holder is not None and (self.renewed_at is None or self.expires_in_s <= 0)

    def held_by_other(self, run_id: str) -> bool:
        return self.holder is not None and self.holder != run_id and not self.stale


@dataclasses.dataclass
class LeaseObservations:
    """When this process saw each Lease's record change, on a monotonic clock: client-go's observedTime."""

    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, tuple[tuple[str, ...], float]] = dataclasses.field(default_factory=dict)

    def unchanged_for(self, key: str, record: tuple[str, ...], age_at_first_sight: float | None) -> float:
        """Seconds since `record` last changed. A change seen now is dated now; a record this process sees for the
        first time is as old as `age_at_first_sight` (the API server's reckoning), else dated now."""
        now = self.clock()
        seen = self._seen.get(key)
        if seen is None or seen[0] != record:
            since = now - max(0.0, age_at_first_sight or 0.0) if seen is None else now
            seen = (record, since)
            self._seen[key] = seen
        return now - seen[1]


#: This process's observations: every reading of the lock goes through them.
OBSERVED = LeaseObservations()


def _parse_time(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def record_of(lease: Mapping[str, Any] | None) -> tuple[str, ...]:
    """What a change of the lock is judged by, as client-go compares its leader election records."""
    spec = (lease or {}).get("spec") or {}
    return tuple(
        str(spec.get(key) or "") for key in ("holderIdentity", "renewTime", "acquireTime", "leaseDurationSeconds")
    )


def lock_state(lease: Mapping[str, Any] | None, unchanged_for_s: float) -> LockState:
    """What a Lease (as the API sends it, or None) says about the lock, given how long its record has stood
    unchanged. Pure, so it is tested."""
    spec = (lease or {}).get("spec") or {}
    holder = spec.get("holderIdentity") or None
    renewed = _parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    step = (((lease or {}).get("metadata") or {}).get("annotations") or {}).get(STEP_ANNOTATION)
    duration = int(spec.get("leaseDurationSeconds") or 0)
    return LockState(holder=holder, renewed_at=renewed, duration_s=duration, unchanged_for_s=unchanged_for_s, step=step)


def server_age(lease: Mapping[str, Any], server_now: datetime.datetime | None) -> float | None:
    """How long ago, by the API server's clock, the Lease's renewTime was last written: the server stamps the
    time of every write that changes a manager's fields in managedFields. None when either time is missing."""
    stamps = []
    for entry in ((lease.get("metadata") or {}).get("managedFields")) or []:
        owned = ((entry.get("fieldsV1") or {}).get("f:spec")) or {}
        if "f:renewTime" in owned or "f:holderIdentity" in owned:
            stamps.append(_parse_time(entry.get("time")))
    written = max((stamp for stamp in stamps if stamp is not None), default=None)
    if written is None or server_now is None:
        return None
    return max(0.0, (server_now - written).total_seconds())


def _observe(cluster: KubeCluster, name: str) -> tuple[dict[str, Any] | None, LockState]:
    """Read the lock Lease and judge it by this process's observations (and the server's clock, at first sight)."""
    lease, server_now = _read(cluster, name)
    age = server_age(lease, server_now) if lease is not None else None
    key = f"{cluster.identity}/{cluster.namespace}/{name}"
    return lease, lock_state(lease, OBSERVED.unchanged_for(key, record_of(lease), age))


def _read(cluster: KubeCluster, name: str) -> tuple[dict[str, Any] | None, datetime.datetime | None]:
    """The Lease (None when there is none) and the time the API server gave in its answer's Date header."""
    resource = cluster.resource(API_VERSION, KIND)

    def read() -> tuple[dict[str, Any] | None, datetime.datetime | None]:
        try:
            response = resource.get(
                name=name, namespace=cluster.namespace, serialize=False, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 404:
                return None, None
            raise
        return json.loads(response.data), _http_date(response.headers)

    return call(f"read {KIND}/{name}", read)


def _http_date(headers: Any) -> datetime.datetime | None:
    value = headers.get("Date") if headers is not None else None
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None


def _micro_time(moment: datetime.datetime) -> str:
    # Lease times are MicroTime: RFC 3339 with exactly six fractional digits.
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def acquire(cluster: KubeCluster, app: str, run_id: str, duration_s: int, *, step: str | None = None) -> bool:
    """Take or renew the lock for `run_id`: True when newly taken, False when renewed; LockHeld when
    another live run holds it (a stale one is taken over).

    Read and write are one attempt: a write that loses a race answers 409, the attempt is retried,
    and the fresh read then sees the winner."""
    name = lease_name(app)
    resource = cluster.resource(API_VERSION, KIND)

    def attempt() -> bool:
        now = _now()
        lease, state = _observe(cluster, name)
        if state.held_by_other(run_id):
            raise LockHeld(
                f"run {state.holder} is releasing {app} in namespace {cluster.namespace} "
                f"(its lock expires in {state.expires_in_s:.0f}s unless renewed)",
                hint="wait for it to finish; if that run is dead (or its CI gate said no), give the lock back: "
                f"pipeline-steps unlock --run-id {state.holder} (with this run's -c and --namespace)",
            )
        spec = {
            "holderIdentity": run_id,
            "leaseDurationSeconds": duration_s,
            "renewTime": _micro_time(now),
            "acquireTime": _micro_time(now)
            if state.holder != run_id
            else (lease or {}).get("spec", {}).get("acquireTime") or _micro_time(now),
        }
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": name,
                "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER},
                "annotations": {STEP_ANNOTATION: step} if step else {},
            },
            "spec": spec,
        }
        if lease is None:
            if _ensure_namespace(cluster):
                body["metadata"]["annotations"][CREATED_NAMESPACE_ANNOTATION] = "true"
            resource.create(body=body, namespace=cluster.namespace, field_manager=FIELD_MANAGER)
        else:
            # The resourceVersion makes the replace fail (409) if anyone wrote the Lease since the read.
            body["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
            resource.replace(body=body, namespace=cluster.namespace, field_manager=FIELD_MANAGER)
        return state.holder != run_id

    return call(f"take the release lock Lease/{name}", attempt)


def release(cluster: KubeCluster, app: str, run_id: str) -> bool:
    """Give the lock back if `run_id` holds it; True when it did."""
    lease = cluster.get(API_VERSION, KIND, lease_name(app))
    if lease is None or _holder(lease) != run_id:
        return False
    # Only the lease that was read: one renewed or taken over since is not ours to remove.
    return cluster.delete(API_VERSION, KIND, lease_name(app), resource_version=lease["metadata"]["resourceVersion"])


def release_refused(cluster: KubeCluster, app: str, run_id: str) -> bool:
    """Give the lock back for a run refused (bad input) before it applied anything. If taking the lock created
    the namespace, and no other app's lock is in it, the namespace goes too: a refused run changes nothing."""
    lease = cluster.get(API_VERSION, KIND, lease_name(app))
    if lease is None or _holder(lease) != run_id:
        return False
    if (lease["metadata"].get("annotations") or {}).get(CREATED_NAMESPACE_ANNOTATION) == "true":
        others = [item for item in cluster.list(API_VERSION, KIND) if item["metadata"]["name"] != lease_name(app)]
        if not others:
            return cluster.delete("v1", "Namespace", cluster.namespace)
    return release(cluster, app, run_id)


def _holder(lease: Mapping[str, Any] | None) -> str | None:
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or None


def current_holder(cluster: KubeCluster, app: str) -> str | None:
    return _holder(cluster.get(API_VERSION, KIND, lease_name(app)))


def check_no_switch_in_progress(cluster: KubeCluster, app: str, run_id: str) -> None:
    """`rollback` takes no lock (an emergency must not wait), so it refuses to race a run that is moving the
    public Service's selector right now: the two would leave it wherever the last write landed."""
    _, state = _observe(cluster, lease_name(app))
    # The holder itself may roll back (a CI pipeline's post-failure stage runs under the run's own id).
    if state.held_by_other(run_id) and state.step in SWITCHING_STEPS:
        raise LockHeld(
            f"run {state.holder} is in {state.step} of {app} in namespace {cluster.namespace}; a rollback now "
            "would race it for the public Service's selector",
            hint="wait for that step to end (it switches back by itself when it fails), or pass --force if that "
            "run is known to be dead",
        )


def stale_lock(cluster: KubeCluster, app: str, own_runs: set[str]) -> LockState | None:
    """The lock, when pre-clean may remove it: held by one of `own_runs` (this run, or the unfinished
    run this workspace's state file recorded and this one replaces), or stale."""
    _, state = _observe(cluster, lease_name(app))
    if state.holder is not None and (state.holder in own_runs or state.stale):
        return state
    return None


def _ensure_namespace(cluster: KubeCluster) -> bool:
    """Create the namespace of a first release (the deploy that follows would create it anyway); True if it did."""
    if cluster.namespace_exists():
        return False
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": cluster.namespace}})
    return True
