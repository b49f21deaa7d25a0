"""Test ports: ONETIME_TEST_PORTS keeps a checkout's servers inside its own range."""

from __future__ import annotations

import socket

import pytest

from tools.ports import HOST, PORTS_VARIABLE, NoFreePort, free_port, port_range


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("31000-31999", range(31000, 32000)),
        (" 40000 - 40002 ", range(40000, 40003)),
        ("5000-5000", range(5000, 5001)),
        ("1-65535", range(1, 65536)),
    ],
)
def test_a_range_includes_both_ends(value: str, expected: range) -> None:
    assert port_range(value) == expected


@pytest.mark.parametrize("value", [None, "", "  "])
def test_no_range_leaves_the_choice_to_the_os(value: str | None) -> None:
    assert port_range(value) is None


@pytest.mark.parametrize(
    "value", ["31000", "31000-", "-31999", "a-b", "31999-31000", "0-10", "65000-65536", "1-2-3"]
)
def test_a_malformed_range_is_refused_with_the_variable_named(value: str) -> None:
    with pytest.raises(ValueError, match=PORTS_VARIABLE):
        port_range(value)


def range_from_os_choice(size: int) -> range:
    """Up to ``size`` ports from one the OS chose (so most of them are free)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        start: int = probe.getsockname()[1]
    return range(start, min(start + size, 65536))


def test_ports_come_from_the_range_and_are_not_handed_out_twice_in_a_row() -> None:
    ports = range_from_os_choice(40)
    environ = {PORTS_VARIABLE: f"{ports.start}-{ports.stop - 1}"}
    taken = [free_port(environ) for _ in range(5)]
    assert all(port in ports for port in taken)
    assert len(set(taken)) == len(taken)


def test_a_taken_port_is_never_handed_out() -> None:
    with socket.socket() as held:
        held.bind((HOST, 0))
        held.listen()
        port: int = held.getsockname()[1]
        environ = {PORTS_VARIABLE: f"{port}-{port}"}
        with pytest.raises(NoFreePort, match=str(port)):
            free_port(environ)
    assert free_port(environ) == port  # free again once it is let go


def test_without_the_variable_the_os_chooses() -> None:
    port = free_port({})
    with socket.socket() as sock:
        sock.bind((HOST, port))  # nothing holds it
