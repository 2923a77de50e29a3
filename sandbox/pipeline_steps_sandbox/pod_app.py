"""The process the sandbox's node agent runs for each container of a pod.

It answers every HTTP request on the container's ports with JSON naming the pod, its image and its
`role` label, so a test can tell by the answer which release served it. Its behaviour is driven by
the container's environment in the pod spec, so a test can stage a bad or an ungraceful release:

  SANDBOX_START_DELAY=<seconds>     wait before listening (a slow start)
  SANDBOX_READY=false               answer readiness probes (User-Agent kube-probe/...) with 503
  SANDBOX_STATUS=<code>             answer other requests with this HTTP status (e.g. 500)
  SANDBOX_RESPONSE_DELAY=<seconds>  take this long to answer other requests
  SANDBOX_ON_SIGTERM=drain|exit|ignore
                                    drain (default): stop accepting, finish open requests, exit 0;
                                    exit: exit at once, dropping open requests;
                                    ignore: keep serving until SIGKILL
  SANDBOX_EXIT_CODE=<code>          exit with this code right after start (a crashing release)
  SANDBOX_KEEPALIVE_ON_SIGTERM=notify|abrupt
                                    connections are kept alive (HTTP/1.1); while draining,
                                    notify (default): every answer carries `Connection: close`, and a
                                    connection idle at SIGTERM may still send one last request within
                                    SANDBOX_DRAIN_LINGER seconds (default 2) before it is closed;
                                    abrupt: idle connections are closed at once, as servers do that
                                    do not say goodbye
  SANDBOX_KEEPALIVE_TIMEOUT=<s>     close a connection idle this long (default 60)
  SANDBOX_CPU_PER_REQUEST=<ms>      spend this much CPU time (busy, in the request's thread) on each
                                    request other than a probe, so load shows in the pod's CPU usage

The node agent itself reads SANDBOX_MEMORY_USE=<quantity> (the memory this process stands for: above the
container's memory limit, the agent kills it as the OOM killer would). Variables starting with SANDBOX_POD_ are
set by the agent itself, never by a pod spec.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PR_SET_PDEATHSIG = 1
_PROBE_AGENT_PREFIX = "kube-probe/"


def _die_with_agent(agent_pid: int) -> None:
    """Ask the kernel to kill this process when the agent dies, so no pod outlives its node."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != agent_pid:  # the agent died before prctl took effect
        os._exit(137)


class _Settings:
    def __init__(self, env: dict[str, str]) -> None:
        self.host = env["SANDBOX_POD_LISTEN_HOST"]
        self.ports = [int(p) for p in env.get("SANDBOX_POD_PORTS", "").split(",") if p]
        self.identity: dict[str, Any] = {
            "pod": env.get("SANDBOX_POD_NAME", ""),
            "namespace": env.get("SANDBOX_POD_NAMESPACE", ""),
            "container": env.get("SANDBOX_POD_CONTAINER", ""),
            "image": env.get("SANDBOX_POD_IMAGE", ""),
            "node": env.get("SANDBOX_POD_NODE", ""),
            "pod_ip": env.get("SANDBOX_POD_IP", ""),
        }
        labels: dict[str, str] = json.loads(env.get("SANDBOX_POD_LABELS", "{}"))
        if env.get("SANDBOX_POD_ROLE"):  # on a real cluster, the downward API passes the role label
            labels.setdefault("role", env["SANDBOX_POD_ROLE"])
        self.identity["role"] = labels.get("role")
        self.identity["labels"] = labels
        spec_env: dict[str, str] = json.loads(env.get("SANDBOX_POD_SPEC_ENV", "{}"))
        self.identity["env"] = {k: v for k, v in spec_env.items() if not k.startswith("SANDBOX_")}
        self.start_delay = float(env.get("SANDBOX_START_DELAY", "0") or 0)
        self.ready = env.get("SANDBOX_READY", "true").lower() not in ("false", "0", "no")
        self.status = int(env.get("SANDBOX_STATUS", "200") or 200)
        self.response_delay = float(env.get("SANDBOX_RESPONSE_DELAY", "0") or 0)
        self.on_sigterm = env.get("SANDBOX_ON_SIGTERM", "drain")
        exit_code = env.get("SANDBOX_EXIT_CODE", "")
        self.exit_code = int(exit_code) if exit_code else None
        self.keepalive_on_sigterm = env.get("SANDBOX_KEEPALIVE_ON_SIGTERM", "notify")
        self.drain_linger = float(env.get("SANDBOX_DRAIN_LINGER", "2") or 2)
        self.keepalive_timeout = float(env.get("SANDBOX_KEEPALIVE_TIMEOUT", "60") or 60)
        self.cpu_per_request = float(env.get("SANDBOX_CPU_PER_REQUEST", "0") or 0) / 1000


def burn_cpu(seconds: float) -> None:
    """Keep this thread busy until it has used `seconds` of CPU time (not of wall time: on a busy machine the
    request takes longer, but costs the same CPU)."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


_IDLE_TICK = 0.1


def _handler(settings: _Settings, terminating: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "sandbox-pod/1"
        # Keep-alive, as Tomcat, nginx and gunicorn answer.
        protocol_version = "HTTP/1.1"

        def handle(self) -> None:
            self.close_connection = True
            self.handle_one_request()
            while not self.close_connection and self._next_request_arrives():
                self.handle_one_request()

        def _next_request_arrives(self) -> bool:
            """Wait on an idle connection; False when it is time to close it instead."""
            idle_since = time.monotonic()
            draining_since: float | None = None
            while True:
                readable, _, _ = select.select([self.connection], [], [], _IDLE_TICK)
                if readable:
                    return True
                now = time.monotonic()
                if now - idle_since > settings.keepalive_timeout:
                    return False
                if terminating.is_set():
                    if settings.keepalive_on_sigterm == "abrupt":
                        return False
                    draining_since = draining_since or now
                    if now - draining_since > settings.drain_linger:
                        return False

        def _answer(self) -> None:
            is_probe = self.headers.get("User-Agent", "").startswith(_PROBE_AGENT_PREFIX)
            if is_probe:
                status = 200 if settings.ready else 503
            else:
                if settings.cpu_per_request:
                    burn_cpu(settings.cpu_per_request)
                if settings.response_delay:
                    time.sleep(settings.response_delay)
                status = settings.status
            body = dict(settings.identity, path=self.path, status=status, probe=is_probe)
            data = (json.dumps(body) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if terminating.is_set():
                # Draining: tell the client to open its next connection elsewhere.
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_HEAD = _answer

        def log_message(self, format: str, *args: Any) -> None:
            sys.stdout.write(f"{time.strftime('%H:%M:%S')} {self.address_string()} {format % args}\n")
            sys.stdout.flush()

    return Handler


def main() -> int:
    settings = _Settings(dict(os.environ))
    agent_pid = int(os.environ.get("SANDBOX_POD_AGENT_PID", "0") or 0)
    if agent_pid:
        _die_with_agent(agent_pid)

    terminating = threading.Event()

    def on_sigterm(_signum: int, _frame: object) -> None:
        print("SIGTERM received", flush=True)
        if settings.on_sigterm == "exit":
            os._exit(0)
        if settings.on_sigterm == "drain":
            terminating.set()

    signal.signal(signal.SIGTERM, on_sigterm)

    if settings.exit_code is not None:
        print(f"exiting with {settings.exit_code} as configured", flush=True)
        return settings.exit_code
    if settings.start_delay:
        # Woken early by SIGTERM: a pod deleted while starting stops at once.
        terminating.wait(settings.start_delay)
        if terminating.is_set():
            return 0

    servers = []
    handler = _handler(settings, terminating)
    for port in settings.ports:
        server = ThreadingHTTPServer((settings.host, port), handler)
        # Open requests finish before server_close returns: that is what draining means.
        server.daemon_threads = False
        server.block_on_close = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, name=f"serve-{port}", daemon=True).start()
    print(f"listening on {settings.host}:{settings.ports}", flush=True)

    terminating.wait()
    for server in servers:
        server.shutdown()  # stop accepting
    for server in servers:
        server.server_close()  # wait for open requests
    print("drained, exiting", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
