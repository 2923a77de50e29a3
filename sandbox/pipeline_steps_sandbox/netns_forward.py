"""Forward a port from inside a network namespace to the same port on the host's loopback.

kube-proxy runs in a node namespace, and the apiserver listens on the host's 127.0.0.1 only. Rather
than opening the apiserver to a veth address, this listens on 127.0.0.1:<port> inside the namespace
(the socket is made there: a socket keeps the namespace it was created in) and connects, from the
host's namespace, to 127.0.0.1:<port> for each connection. TLS passes through untouched, so the
apiserver's certificate for 127.0.0.1 still holds.

    python -m pipeline_steps_sandbox.netns_forward NAMESPACE PORT
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import sys
import threading

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


def serve(server: socket.socket, port: int) -> None:
    while True:
        inside, _ = server.accept()
        try:
            outside = socket.create_connection(("127.0.0.1", port))
        except OSError:
            inside.close()
            continue
        threading.Thread(target=_pipe, args=(inside, outside), daemon=True).start()
        threading.Thread(target=_pipe, args=(outside, inside), daemon=True).start()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        return 2
    namespace, port = argv[0], int(argv[1])
    serve(listen_in(namespace, port), port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
