"""List-then-watch of one resource kind, as client-go's informers do, on raw JSON objects."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

Obj = dict[str, Any]
#: Called with ("ADDED" | "MODIFIED" | "DELETED", object). A full relist replays every object as
#: ADDED and sends DELETED for those that vanished meanwhile.
Handler = Callable[[str, Obj], None]


def _key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


class Informer:
    """Keeps `handler` told about every object that `list_func` lists, until `stop` is set."""

    def __init__(
        self, name: str, list_func: Callable[..., Any], handler: Handler, stop: threading.Event, **list_kwargs: Any
    ) -> None:
        self.name = name
        self._list = list_func
        self._kwargs = list_kwargs
        self._handler = handler
        self._stop = stop
        self._known: dict[str, Obj] = {}
        self.synced = threading.Event()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name=f"informer-{self.name}", daemon=True)
        thread.start()
        return thread

    def _relist(self) -> str:
        response = self._list(_preload_content=False, **self._kwargs)
        body = json.loads(response.data)
        seen: dict[str, Obj] = {}
        for item in body.get("items", []):
            seen[_key(item)] = item
            self._handler("ADDED", item)
        for key, obj in self._known.items():
            if key not in seen:
                self._handler("DELETED", obj)
        self._known = seen
        self.synced.set()
        return str(body["metadata"]["resourceVersion"])

    def _run(self) -> None:
        resource_version = ""
        while not self._stop.is_set():
            try:
                if not resource_version:
                    resource_version = self._relist()
                resource_version = self._watch(resource_version)
            except ApiException as exc:
                if exc.status == 410:  # our resourceVersion is too old: start over
                    resource_version = ""
                    continue
                log.warning("%s: watch failed (%s); retrying", self.name, exc.status)
                self._stop.wait(1.0)
            except Exception:
                # The agent must outlive an apiserver restart or a dropped connection.
                log.warning("%s: watch broke; relisting", self.name, exc_info=True)
                resource_version = ""
                self._stop.wait(1.0)

    def _watch(self, resource_version: str) -> str:
        w = watch.Watch()
        stream = w.stream(
            self._list,
            resource_version=resource_version,
            timeout_seconds=60,
            allow_watch_bookmarks=True,
            deserialize=False,
            **self._kwargs,
        )
        for event in stream:
            if self._stop.is_set():
                w.stop()
                break
            kind = event["type"]
            obj = event["object"]
            if kind == "ERROR":
                if obj.get("code") == 410:
                    return ""
                raise RuntimeError(f"watch error: {obj}")
            resource_version = obj["metadata"]["resourceVersion"]
            if kind == "BOOKMARK":
                continue
            if kind == "DELETED":
                self._known.pop(_key(obj), None)
            else:
                self._known[_key(obj)] = obj
            self._handler(kind, obj)
        return resource_version
