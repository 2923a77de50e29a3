"""Forward a port from inside a network namespace to the same port on the host's loopback.

kube-proxy runs in a node namespace, and the apiserver listens on the host's 127.0.0.1 only. Rather
than opening the apiserver to a veth address, this listens on 127.0.0.1:<port> inside the namespace
(the socket is made there: a socket keeps the namespace it was created in) and connects, from the
host's namespace, to 127.0.0.1:<port> for each connection. TLS passes through untouched, so the
apiserver's certificate for 127.0.0.1 still holds.

With `--delay S`, what the apiserver sends reaches kube-proxy S seconds late: the watch events that
tell it of changed EndpointSlices arrive late, as they do on a busy node (a loaded kube-proxy, a
slow network to the apiserver). That keeps the race between a pod's SIGTERM and the rules that
stop sending to it as open as the Python proxy's `--proxy-delay` keeps it, instead of letting an
idle machine hide it.

    python -m pipeline_steps_sandbox.netns_forward NAMESPACE PORT [--delay SECONDS]
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import socket
import sys
import threading
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def listen_in(namespace: str, port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port inside `namespace`; the calling thread returns to its own."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            return socket.create_server(("127.0.0.1", port))
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _late_pipe(source: socket.socket, sink: socket.socket, delay: float) -> None:
    """Like _pipe, but every chunk is written `delay` seconds after it was read; order is kept."""
    chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()

    def write_late() -> None:
        try:
            while True:
                due, data = chunks.get()
                if not data:
                    break
                time.sleep(max(0.0, due - time.monotonic()))
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    writer = threading.Thread(target=write_late, daemon=True)
    writer.start()
    try:
        while data := source.recv(65536):
            chunks.put((time.monotonic() + delay, data))
    except OSError:
        pass
    finally:
        chunks.put((time.monotonic() + delay, b""))


def serve(server: socket.socket, port: int, delay: float = 0.0) -> None:
    while True:
        inside, _ = server.accept()
        try:
            outside = socket.create_connection(("127.0.0.1", port))
        except OSError:
            inside.close()
            continue
        threading.Thread(target=_pipe, args=(inside, outside), daemon=True).start()
        if delay > 0:
            threading.Thread(target=_late_pipe, args=(outside, inside, delay), daemon=True).start()
        else:
            threading.Thread(target=_pipe, args=(outside, inside), daemon=True).start()


def main(argv: list[str]) -> int:
    delay = 0.0
    if len(argv) == 4 and argv[2] == "--delay":
        delay, argv = float(argv[3]), argv[:2]
    if len(argv) != 2:
        sys.stderr.write(__doc__ or "")
        return 2
    namespace, port = argv[0], int(argv[1])
    serve(listen_in(namespace, port), port, delay)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
