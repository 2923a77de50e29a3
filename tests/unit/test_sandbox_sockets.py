"""Listening sockets as the sandbox reads them from /proc/net/tcp, checked against real sockets."""

from __future__ import annotations

import socket

from pipeline_steps_sandbox.sockets import hold_address, listening


def test_a_listening_socket_is_listed_with_its_address_and_port_until_closed() -> None:
    sock = hold_address("127.233.4.5")
    address = sock.getsockname()

    assert address[0] == "127.233.4.5"
    assert address in listening()

    sock.close()

    assert address not in listening()


def test_addresses_are_read_in_network_order() -> None:
    # /proc prints the address as a little-endian number; four distinct octets catch any mix-up.
    with hold_address("127.1.2.3") as sock:
        port = sock.getsockname()[1]
        found = {address for address, p in listening() if p == port}

    assert found == {"127.1.2.3"}


def test_connected_sockets_are_not_listed() -> None:
    with hold_address("127.233.4.6") as server:
        server_address = server.getsockname()
        client = socket.create_connection(server_address)
        accepted, _ = server.accept()
        try:
            client_address = client.getsockname()
            listed = listening()
        finally:
            client.close()
            accepted.close()

    assert server_address in listed
    assert client_address not in listed


def test_a_socket_bound_but_not_listening_is_not_listed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.233.4.7", 0))

        assert sock.getsockname() not in listening()
