"""Real HTTP traffic for end-to-end tests: single requests and a steady load that records every answer."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pipeline_steps_sandbox.cluster import service_behind
from pipeline_steps_sandbox.netns import client_namespace_for, enter


@dataclass(frozen=True)
class Answer:
    at: float
    status: int | None  # None: the request failed (refused, reset, timed out)
    error: str = ""
    body: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def role(self) -> str | None:
        return (self.body or {}).get("role")

    @property
    def image(self) -> str | None:
        return (self.body or {}).get("image")

    @property
    def pod(self) -> str | None:
        return (self.body or {}).get("pod")


def fetch(url: str, timeout: float = 3.0) -> Answer:
    """One GET on a new connection, as a fresh client would make it."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
    started = time.monotonic()
    try:
        conn.request("GET", parts.path or "/")
        response = conn.getresponse()
        raw = response.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        return Answer(started, response.status, body=body if isinstance(body, dict) else None)
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None)
        return Answer(started, None, error=f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__)
    finally:
        conn.close()


def wait_serving(url: str, timeout: float = 20.0) -> Answer:
    """Poll until the URL answers 2xx: a new Service or endpoint reaches the data plane a moment
    after the API shows it."""
    deadline = time.monotonic() + timeout
    answer = fetch(url)
    while not answer.ok and time.monotonic() < deadline:
        time.sleep(0.1)
        answer = fetch(url)
    if not answer.ok:
        raise TimeoutError(f"{url} did not answer 2xx within {timeout}s (last: {answer})")
    return answer


@dataclass
class Load:
    """Sends GETs from `workers` threads until stopped; keeps every answer in order of sending."""

    url: str
    workers: int = 4
    #: Between one worker's requests: about 200 requests a second from four workers, steady traffic
    #: as a service sees it, not a flood whose own CPU cost slows the data plane it measures.
    pause: float = 0.02
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"load-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.answers.sort(key=lambda a: a.at)

    def _work(self) -> None:
        # From the sandbox's client machine where it has one (its real data plane): hundreds of new
        # connections a second would exhaust the host's source ports (see netns.add_client).
        namespace = client_namespace_for(urlsplit(self.url).hostname or "")
        if namespace is not None:
            enter(namespace)
        while not self._stop.is_set():
            answer = fetch(self.url)
            with self._lock:
                self.answers.append(answer)
            if self.pause:
                time.sleep(self.pause)

    @property
    def failures(self) -> list[Answer]:
        return [a for a in self.answers if not a.ok]

    def summary(self) -> Counter[str]:
        return Counter(str(a.status) if a.status is not None else a.error for a in self.answers)


def recovered_after_failures(load: Load, run: int = 20) -> bool:
    """Whether the answers after the last failure are a run of `run` or more, all of them 2xx."""
    last_failure = max((i for i, a in enumerate(load.answers) if not a.ok), default=-1)
    return len(load.answers) - last_failure - 1 >= run


def served_images(url: str, count: int = 20) -> set[str | None]:
    """The images that answer `count` requests in a row."""
    return {fetch(url).image for _ in range(count)}


def settled_images(url: str, timeout: float = 30.0) -> set[str | None]:
    """What the endpoint serves once the data plane has caught up with the EndpointSlices (kube-proxy
    lags them on a real cluster too, and more on a busy machine).

    For a URL from `Cluster.service_url` that means: every one of a run of answers comes from a pod the
    Service's EndpointSlices list as ready now. Otherwise: until one image answers a run of requests."""
    behind = service_behind(url)
    deadline = time.monotonic() + timeout
    while True:
        answers = [fetch(url) for _ in range(20)]
        seen = {a.image for a in answers}
        if behind is not None:
            cluster, namespace, service = behind
            current = cluster.ready_endpoint_pods(namespace, service)
            caught_up = all(a.ok and a.pod in current for a in answers)
        else:
            caught_up = len(seen) == 1
        if caught_up or time.monotonic() >= deadline:
            return seen
        time.sleep(0.2)
