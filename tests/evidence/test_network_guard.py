import socket

import pytest

from tests.evidence.conftest import NetworkBlocked


def test_socket_guard_blocks_connections() -> None:
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("127.0.0.1", 9))
