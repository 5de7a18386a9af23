"""The fast tier's offline guard (tests/conftest.py) is on: non-loopback connects and name lookups are refused and
recorded (a recorded attempt fails the test at teardown); loopback stays open."""

from __future__ import annotations

import socket
import sys

import pytest


@pytest.fixture
def guard():
    harness = sys.modules["tests.conftest"]
    assert socket.socket.connect is harness._connect and socket.getaddrinfo is harness._getaddrinfo, "guard not on"
    yield harness._Guard
    harness._Guard.attempts.clear()  # this test's own planted attempts must not fail it


def test_non_loopback_connect_is_refused_and_recorded(guard):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(OSError, match="offline"):
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: refused before any packet leaves
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        assert s.connect_ex(("192.0.2.1", 9)) != 0
    with pytest.raises(OSError, match="offline"):
        socket.getaddrinfo("pypi.invalid", 443)
    assert len(guard.attempts) == 3, guard.attempts


def test_loopback_is_open(guard):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        with socket.create_connection(("localhost", srv.getsockname()[1]), timeout=5):
            pass
    assert guard.attempts == []
