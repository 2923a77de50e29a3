"""A steady HTTP load for release benchmarks that records every request it sends.

Half of the workers keep their connection alive between requests (an `http.client` connection reused,
as a client's connection pool does), the other half open a new connection for every request (as a
browser's first visit or a short-lived job does). Both halves matter: a kept-alive connection stays on
the backend it was opened to (conntrack) after a Service's endpoints change, a new one goes wherever
the data plane's rules say at that moment.

The load is paced, not a flood: every worker sends at fixed instants (`rate / workers` a second each,
the workers' instants staggered), skipping the instants it missed while a request hung, so the rate the
data plane sees stays steady and the client's own CPU does not slow what it measures.

Each request is recorded with its start (monotonic clock), latency, status or the kind of error, the
connection it used (and whether that connection had carried a request before), and the pod, image and
role the sandbox's pod app names in its JSON answer.

Towards a sandbox's address (10.<net>.x.y) the workers send from the sandbox's client namespace, a
machine outside the cluster, as tests/support/traffic.py does.
"""

from __future__ import annotations

import errno
import http.client
import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

DEFAULT_RATE = 200.0
DEFAULT_WORKERS = 8
DEFAULT_TIMEOUT = 2.0


@dataclass(frozen=True)
class Request:
    """One request as the load client saw it."""

    started: float  #: time.monotonic() when it was sent
    latency: float  #: seconds until its answer was read, or until it failed
    keepalive: bool  #: sent by a worker that keeps its connection alive
    connection: int  #: which connection carried it (numbered across the whole load)
    reused: bool  #: the connection had carried a request before
    status: int | None = None  #: None: no HTTP answer (see error)
    error: str = ""  #: the kind of failure: refused, reset, closed, timeout, ...
    role: str | None = None
    image: str | None = None
    pod: str | None = None

    @property
    def answered(self) -> bool:
        """A successful answer (2xx or 3xx)."""
        return self.status is not None and 200 <= self.status < 400

    @property
    def failed(self) -> bool:
        """A connection error or a 5xx: what a user sees as the service being down."""
        return self.status is None or self.status >= 500

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "latency": self.latency,
            "keepalive": self.keepalive,
            "connection": self.connection,
            "reused": self.reused,
            "status": self.status,
            "error": self.error,
            "role": self.role,
            "image": self.image,
            "pod": self.pod,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Request:
        return cls(**data)


def error_kind(exc: BaseException) -> str:
    """A short name for why a request got no answer, the same for the same cause on any machine."""
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed"  # the server closed the connection instead of answering
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "reset"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, http.client.HTTPException):
        return "bad-answer"
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, f"errno-{exc.errno}").lower()
    return type(exc).__name__


@dataclass
class LoadClient:
    """Sends GETs to `url` at a steady `rate` from `workers` threads until stopped; `requests` holds them all.

    Use as a context manager, or `start()` and `stop()`."""

    url: str
    rate: float = DEFAULT_RATE
    workers: int = DEFAULT_WORKERS
    timeout: float = DEFAULT_TIMEOUT
    #: Send from this network namespace; default: the sandbox's client namespace when the URL is in one.
    namespace: str | None = None
    requests: list[Request] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _connections: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.workers < 1:
            raise ValueError(f"rate and workers must be positive (rate {self.rate}, workers {self.workers})")
        parts = urlsplit(self.url)
        self._host = parts.hostname or ""
        self._port = parts.port or 80
        self._path = parts.path or "/"
        if self.namespace is None:
            self.namespace = _sandbox_client_namespace(self._host)

    def __enter__(self) -> LoadClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        interval = self.workers / self.rate
        first = time.monotonic()
        for i in range(self.workers):
            # Even workers keep their connection, odd ones open a new one each time: half and half,
            # and each kind's instants spread over the interval.
            keepalive = i % 2 == 0
            offset = first + interval * i / self.workers
            thread = threading.Thread(
                target=self._work, args=(keepalive, offset, interval), name=f"load-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> list[Request]:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        with self._lock:
            self.requests.sort(key=lambda r: r.started)
            return list(self.requests)

    def _work(self, keepalive: bool, first: float, interval: float) -> None:
        if self.namespace is not None:
            from pipeline_steps_sandbox.netns import enter  # noqa: PLC0415 (only where a sandbox is)

            enter(self.namespace)
        conn: http.client.HTTPConnection | None = None
        connection_id = 0
        next_at = first
        while not self._stop.is_set():
            now = time.monotonic()
            if next_at > now:
                if self._stop.wait(next_at - now):
                    break
            elif now - next_at > interval:
                # Behind (a request hung): skip the missed instants rather than send a burst.
                next_at += interval * int((now - next_at) / interval)
            next_at += interval
            if conn is None or conn.sock is None or not keepalive:
                # http.client reopens a connection the server closed (`Connection: close`) by itself;
                # counting it here tells a reused connection from a new one.
                if conn is not None and not keepalive:
                    conn.close()
                conn = conn if keepalive and conn is not None else self._connect()
                connection_id = next(self._connections)
                reused = False
            else:
                reused = True
            request = self._send(conn, keepalive, connection_id, reused)
            if request.status is None:
                conn.close()  # a failed connection is not used again
            with self._lock:
                self.requests.append(request)
        if conn is not None:
            conn.close()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _send(self, conn: http.client.HTTPConnection, keepalive: bool, connection: int, reused: bool) -> Request:
        started = time.monotonic()
        headers = {} if keepalive else {"Connection": "close"}
        try:
            conn.request("GET", self._path, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return Request(started, time.monotonic() - started, keepalive, connection, reused, error=error_kind(exc))
        latency = time.monotonic() - started
        body = _json_object(raw)
        return Request(
            started,
            latency,
            keepalive,
            connection,
            reused,
            status=response.status,
            role=_text(body.get("role")),
            image=_text(body.get("image")),
            pod=_text(body.get("pod")),
        )


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _sandbox_client_namespace(host: str) -> str | None:
    try:
        from pipeline_steps_sandbox.netns import client_namespace_for  # noqa: PLC0415 (optional)
    except ImportError:
        return None
    return client_namespace_for(host)
