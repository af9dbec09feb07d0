"""The live view on a port that may face a network: real sockets on loopback, a real LiveView.

Clients that reset, bursts of connections, a Host header naming another machine, a client
that never sends its request, more clients than the view serves, and `--serve` spellings.
Waits are on events (a socket closing, a counter changing) with generous deadlines, never
on the clock alone.
"""

import http.client
import json
import logging
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from bcn_log import bcn_log

from bcn.errors import BcnError
from bcn.runtime.serve import BACKLOG, LiveView, _allowed_hosts, parse_address

DEADLINE_S = 60  # generous: a loaded machine is slow, never this slow


@pytest.fixture
def view():
    with bcn_log(logging.INFO) as lines:
        live = LiveView("127.0.0.1", 0, timeout=60)
        live.lines = lines
        yield live
        live.close()


def wait_for(condition, what: str):
    """Poll `condition` until it holds, failing after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def request(view, path="/stats.json", host: str | None = "default") -> tuple[int, bytes]:
    """A raw HTTP/1.0 GET; host None sends no Host header. The body of /stream.mjpg, which never ends, is not read."""
    with socket.create_connection((view.host, view.port), timeout=DEADLINE_S) as client:
        header = "" if host is None else f"Host: {f'127.0.0.1:{view.port}' if host == 'default' else host}\r\n"
        client.sendall(f"GET {path} HTTP/1.0\r\n{header}\r\n".encode())
        response = b""
        while chunk := client.recv(65536):
            response += chunk
            if path == "/stream.mjpg" and b"\r\n\r\n" in response:
                break
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def reset(client: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, as from a client that crashed."""
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


def closed_by_server(client: socket.socket) -> bool:
    """Whether the server closed `client`: recv gives b"" (or a reset) within the deadline."""
    client.settimeout(DEADLINE_S)
    try:
        return client.recv(1024) == b""
    except ConnectionResetError:
        return True


def test_clients_that_reset_cost_a_counter_and_one_line(view, capfd):
    for _ in range(5):
        client = socket.create_connection((view.host, view.port))
        client.sendall(b"GET /stats.json HTTP/1.0\r\nHo")  # half a request, then gone
        reset(client)
    wait_for(lambda: sum(view.client_errors.values()) >= 5, "five failed clients to be counted")
    assert request(view)[0] == 200  # the view goes on
    assert json.loads(request(view)[1])["client_errors"] >= 5
    failed = [line for line in view.lines if "client connection failed" in line]
    assert len(failed) == 1, view.lines
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out and "Exception" not in captured.err


def test_a_burst_of_200_requests_is_served(view):
    assert view._server.request_queue_size == BACKLOG >= 128
    with ThreadPoolExecutor(200) as pool:
        statuses = list(pool.map(lambda _: request(view)[0], range(200)))
    assert statuses == [200] * 200


@pytest.mark.parametrize(
    "host, status",
    [
        ("default", 200),
        ("localhost:{port}", 200),
        ("LOCALHOST", 200),
        ("[::1]:{port}", 200),
        ("127.0.0.1", 200),
        ("attacker.example:{port}", 421),
        ("attacker.example", 421),
        ("127.0.0.1.attacker.example", 421),
        ("localhost:1", 421),
        (None, 421),
    ],
)
def test_bound_to_loopback_it_answers_only_to_loopback_names(view, host, status):
    """A page of another site that rebinds its name to 127.0.0.1 still sends its own name as Host."""
    host = host.format(port=view.port) if host else host
    for path in ("/", "/stats.json", "/stream.mjpg"):
        assert request(view, path, host)[0] == status, (path, host)


def test_the_host_check_is_for_loopback_only():
    assert "localhost:8080" in _allowed_hosts("127.0.0.1", 8080)
    assert "[::1]:8080" in _allowed_hosts("::1", 8080)
    assert _allowed_hosts("0.0.0.0", 8080) is None and _allowed_hosts("192.168.1.20", 8080) is None


def test_a_silent_connection_is_closed_after_the_timeout(capfd):
    view = LiveView("127.0.0.1", 0, timeout=0.2)
    try:
        silent = socket.create_connection((view.host, view.port))
        started = time.monotonic()
        assert closed_by_server(silent)
        assert time.monotonic() - started < DEADLINE_S
        silent.close()
        wait_for(lambda: view.client_errors.get("TimeoutError") == 1, "the timeout to be counted")
        half = socket.create_connection((view.host, view.port))
        half.sendall(b"GET / HTTP/1.0\r\n")  # the headers never come
        assert closed_by_server(half)
        half.close()
    finally:
        view.close()
    assert "Traceback" not in capfd.readouterr().err


def test_close_ends_open_connections_without_waiting_for_them():
    view = LiveView("127.0.0.1", 0, timeout=3600)
    silent = socket.create_connection((view.host, view.port))
    wait_for(lambda: len(view._server.connections) == 1, "the connection to be accepted")
    closer = threading.Thread(target=view.close)
    closer.start()
    assert closed_by_server(silent)
    closer.join(DEADLINE_S)
    assert not closer.is_alive()
    silent.close()


def test_clients_beyond_the_limit_get_503():
    view = LiveView("127.0.0.1", 0, timeout=3600, max_clients=2)
    try:
        held = [socket.create_connection((view.host, view.port)) for _ in range(2)]
        wait_for(lambda: len(view._server.connections) == 2, "two connections to be accepted")
        with socket.create_connection((view.host, view.port), timeout=DEADLINE_S) as third:
            assert third.recv(1024).startswith(b"HTTP/1.0 503")
        assert view.client_errors == {"refused: too many connections": 1}
        for client in held:
            client.close()
        wait_for(lambda: not view._server.connections, "the held connections to end")
        assert request(view)[0] == 200
    finally:
        view.close()


def test_odd_requests_are_refused_and_counted(view, capfd):
    with socket.create_connection((view.host, view.port), timeout=DEADLINE_S) as client:
        client.sendall(b"DELETE / HTTP/1.0\r\n\r\n")
        assert client.recv(1024).startswith(b"HTTP/1.0 501")
    connection = http.client.HTTPConnection(view.host, view.port, timeout=DEADLINE_S)
    connection.request("GET", "/../etc/passwd")
    assert connection.getresponse().status == 404
    connection.close()
    wait_for(lambda: view.client_errors.get("refused with status 501") == 1, "the 501 to be counted")
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    "text, address",
    [
        ("8080", ("127.0.0.1", 8080)),
        ("0", ("127.0.0.1", 0)),
        ("0.0.0.0:8000", ("0.0.0.0", 8000)),
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("[::1]:9000", ("::1", 9000)),
        ("[::]:9000", ("::", 9000)),
        ("localhost:8080", ("localhost", 8080)),
        ("camera-1.local:8080", ("camera-1.local", 8080)),
    ],
)
def test_serve_spellings_accepted(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize(
    "text, problem",
    [
        ("0:8080", "'0' is not an IPv4 address written in full"),
        ("127.1:8080", "'127.1' is not an IPv4 address written in full"),
        ("2130706433:8080", "not an IPv4 address written in full"),
        ("0x7f.0.0.1:8080", "not an IPv4 address written in full"),
        (":8080", "the host is empty"),
        ("::1:8080", "an IPv6 address goes in brackets"),
        ("[::1]8080", "an IPv6 address goes in brackets followed by :PORT"),
        ("[not-v6]:8080", "is not an IPv6 address"),
        ("a b:8080", "is not a host name"),
        ("host_name:8080", "is not a host name"),
        ("localhost:http", "PORT must be a number"),
        ("localhost", "PORT must be a number"),
        ("65536", "PORT must be a number from 0 to 65535"),
        ("", "PORT must be a number"),
    ],
)
def test_serve_spellings_refused_in_one_line(text, problem):
    with pytest.raises(BcnError) as error:
        parse_address(text)
    message = error.value.format_message()
    assert message.startswith(f"--serve {text}: ") and problem in message and "\n" not in message
    assert "0.0.0.0:PORT" in message  # it says how to write every interface


def test_the_python_api_refuses_the_same_spellings():
    """Detector.run(serve=(host, port)) reaches LiveView without the command line's parsing."""
    with pytest.raises(BcnError, match="'0' is not an IPv4 address written in full"):
        LiveView("0", 0)
