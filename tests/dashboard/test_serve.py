"""The dashboard launcher's socket set-up, on real sockets (no browser needed)."""

from __future__ import annotations

import socket

import pytest
from streamlit.web.server.starlette import starlette_server

from dashboard import serve


def test_accepted_connections_send_small_writes_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamlit's listening socket, as patched by the launcher, hands TCP_NODELAY to the
    connections it accepts (without it a response's body waited 40 ms for a delayed ACK)."""
    monkeypatch.setattr(starlette_server, "_bind_socket", starlette_server._bind_socket)
    plain = starlette_server._bind_socket("127.0.0.1", 0, 8)
    with plain:
        assert plain.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0

    serve.send_small_writes_at_once()
    listener = starlette_server._bind_socket("127.0.0.1", 0, 8)
    with listener:
        listener.setblocking(True)
        with socket.create_connection(listener.getsockname()) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                client.sendall(b"ping")
                assert accepted.recv(4) == b"ping"
