"""LoadBalancer addresses for the kube-proxy data plane: published in Service status, served by kube-proxy.

The Python proxy listens on the addresses it hands out; here kube-proxy on every node programs each
address it finds in a Service's status, and the host routes the sandbox's LoadBalancer range into a
node namespace (netns.add_node), so handing out and publishing is all there is to do, as a cloud
controller does.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kubernetes import client

from pipeline_steps_sandbox.netns import NetworkPlan

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class LoadBalancerAddresses:
    """Gives each LoadBalancer Service one address of the sandbox's range, and takes it back."""

    def __init__(self, api: client.ApiClient, plan: NetworkPlan) -> None:
        self.core = client.CoreV1Api(api)
        self.plan = plan
        self._lock = threading.Lock()
        self._owner: dict[str, str] = {}  # address -> namespace/name

    def on_service(self, kind: str, service: Obj) -> None:
        meta, spec = service["metadata"], service.get("spec") or {}
        key = f"{meta['namespace']}/{meta['name']}"
        with self._lock:
            held = [ip for ip, owner in self._owner.items() if owner == key]
            if kind == "DELETED" or spec.get("type") != "LoadBalancer":
                for ip in held:
                    del self._owner[ip]
                return
            ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            published = [i["ip"] for i in ingress if i.get("ip") and self._owner.get(i["ip"]) in (None, key)]
            if published and published[0] in self._range():
                self._owner[published[0]] = key
                return
            if held:
                ip = held[0]
            else:
                free = [ip for ip in self._range() if ip not in self._owner]
                if not free:
                    log.error("service %s: no free LoadBalancer address", key)
                    return
                ip = free[0]
                self._owner[ip] = key
        body = {"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}}
        try:
            self.core.patch_namespaced_service_status(
                meta["name"], meta["namespace"], body, _content_type="application/merge-patch+json"
            )
        except Exception:
            log.warning("service %s: could not publish its address", key, exc_info=True)

    def _range(self) -> list[str]:
        return [self.plan.load_balancer_ip(i) for i in range(1, 255)]
