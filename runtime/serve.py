"""A live view for headless devices: the annotated frames as an MJPEG stream and a small page, over HTTP.

`LiveView` is a sink of the detection loop and a web server (the standard library's
ThreadingHTTPServer, one thread per client). It serves three routes and nothing else:
`/` (a page showing the stream with live FPS, latency and drop counters), `/stream.mjpg`
(multipart/x-mixed-replace JPEG frames, each client always sent the newest frame, so a
slow browser skips frames instead of delaying the others) and `/stats.json`. Frames are
encoded only while someone watches. A browser may disconnect and come back at any time.

The port may face a network: a client that resets, stalls or never sends a request costs
one counter (`client_errors` in /stats.json) and at most one line per kind of failure, never
a traceback; a connection silent for `timeout` seconds is closed; at most `max_clients`
are served at once (others get 503); bound to loopback, a request must name a loopback
host (Host header), so a web page cannot reach the view through DNS rebinding. There is no
authentication.
"""

import ipaddress
import json
import logging
import re
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bcn.errors import BcnError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
BOUNDARY = "bcnframe"
JPEG_QUALITY = 80
WAIT_S = 1.0  # how often a waiting client checks whether the view closed
RECENT = 30  # frames the page's FPS and latency are averaged over
TIMEOUT_S = 30.0  # a connection that sends or takes nothing for this long is closed
BACKLOG = 128  # connections the kernel queues before the server accepts them (a burst of viewers)
MAX_CLIENTS = 256  # connections served at once (a burst of 200 fits); more get 503 and are closed
ADDRESS_FORMS = "PORT, HOST:PORT or [IPv6]:PORT, with 0.0.0.0:PORT or [::]:PORT for every interface"
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>bcn detect</title>
<style>body{margin:0;background:#111;color:#ddd;font:14px sans-serif}#stats{padding:6px 10px}
img{display:block;max-width:100vw;max-height:calc(100vh - 32px)}</style></head>
<body><div id="stats">waiting for the first frame</div><img src="/stream.mjpg" alt="live view">
<script>
const stats = document.getElementById("stats");
async function poll() {
  try {
    const s = await (await fetch("/stats.json", {cache: "no-store"})).json();
    stats.textContent = `${s.source}: ${s.fps.toFixed(1)} FPS, latency ${s.latency_ms.toFixed(0)} ms, ` +
      `captured ${s.captured} / processed ${s.processed} / dropped ${s.dropped}, viewers ${s.viewers}`;
  } catch (error) {
    stats.textContent = "the detector stopped";
  }
}
setInterval(poll, 1000);
poll();
</script></body></html>
"""


def parse_address(text: str) -> tuple[str, int]:
    """`PORT`, `HOST:PORT` or `[IPv6]:PORT` -> (host, port); the host defaults to loopback.

    Spellings that the C library would read as an address nobody meant are refused: an empty
    host, `0:PORT` or `127.1:PORT` (shorthand IPv4 that binds 0.0.0.0 or 127.0.0.1), an IPv6
    address without brackets. Raises a one-line BcnError naming --serve.
    """

    def refuse(problem: str):
        raise BcnError(f"--serve {text}: {problem}; expected {ADDRESS_FORMS}")

    if text.isdigit():
        host, port = DEFAULT_HOST, text
    elif text.startswith("["):
        inside, bracket, port = text[1:].partition("]:")
        if not bracket:
            refuse("an IPv6 address goes in brackets followed by :PORT")
        try:
            host = str(ipaddress.IPv6Address(inside))
        except ValueError:
            refuse(f"{inside!r} is not an IPv6 address")
    else:
        host, colon, port = text.rpartition(":")
        if not colon:
            refuse("PORT must be a number from 0 to 65535")
        if not host:
            refuse("the host is empty (give 127.0.0.1 for this machine only, 0.0.0.0 for every interface)")
        if ":" in host:
            refuse("an IPv6 address goes in brackets")
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            if all(_NUMERIC_LABEL.fullmatch(label) for label in host.rstrip(".").split(".")):
                refuse(
                    f"{host!r} is not an IPv4 address written in full (0.0.0.0 for every interface, 127.0.0.1 "
                    "for this machine only)"
                )
            if not _HOSTNAME.fullmatch(host):
                refuse(f"{host!r} is not a host name or an IP address")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        refuse("PORT must be a number from 0 to 65535")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or a name) is this machine only."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.rstrip(".").lower() == "localhost"


def _allowed_hosts(host: str, port: int) -> set[str] | None:
    """Host header values a view bound to `host` answers (lower case), None for any: only loopback checks."""
    if not is_loopback(host):
        return None
    names = {"localhost", "127.0.0.1", "[::1]", f"[{host}]" if ":" in host else host.lower()}
    return names | {f"{name}:{port}" for name in names}


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a client still connected never holds up the end of the run
    block_on_close = False  # close() shuts the open connections instead of waiting for them
    request_queue_size = BACKLOG

    def __init__(self, address, view):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.view = view
        self.connections = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        with self.connections_lock:
            full = len(self.connections) >= self.view.max_clients
            if not full:
                self.connections.add(request)
        if full:
            self.view.client_failed("refused: too many connections")
            try:
                request.setblocking(False)
                request.send(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End every open connection (a reader waiting on a silent client wakes up)."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        """A client's failure (reset, broken pipe, timeout, garbage): counted, never a traceback."""
        error = sys.exc_info()[1]
        self.view.client_failed(type(error).__name__ if error else "unknown")


class _Handler(BaseHTTPRequestHandler):
    server_version = "bcn"
    sys_version = ""

    def setup(self):
        self.timeout = self.server.view.timeout  # reads and writes of this connection
        super().setup()

    def log_message(self, *args):
        pass

    def log_error(self, text, *args):
        """The server's own reports: a request that timed out, or one refused with an error status."""
        if text.startswith("Request timed out"):
            self.server.view.client_failed("TimeoutError")
        elif text.startswith("code") and args:
            self.server.view.client_failed(f"refused with status {args[0]}")

    def do_GET(self):
        view = self.server.view
        allowed = view.allowed_hosts
        if allowed is not None and (self.headers.get("Host") or "").strip().lower() not in allowed:
            view.client_failed("refused: a Host header naming another machine")
            self._send(421, "text/plain; charset=utf-8", b"this live view answers only to localhost\n")
            return
        route = self.path.split("?", 1)[0]
        if route == "/":
            self._send(200, "text/html; charset=utf-8", PAGE.encode())
        elif route == "/stats.json":
            self._send(200, "application/json", json.dumps(view.stats()).encode())
        elif route == "/stream.mjpg":
            self._stream(view)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, view) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        view.viewers_changed(+1)
        try:
            sent = -1
            while True:
                number, jpeg = view.next_frame(sent)
                if jpeg is None:
                    return
                self.wfile.write(
                    b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                    % (BOUNDARY.encode(), len(jpeg), jpeg)
                )
                self.wfile.flush()
                sent = number
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the browser went away; it may come back on a new connection
        finally:
            view.viewers_changed(-1)


class LiveView:
    """Serve the annotated frames at http://HOST:PORT/ while the detection loop runs (a sink)."""

    wants_image = True

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        name: str = "bcn detect",
        timeout: float = TIMEOUT_S,
        max_clients: int = MAX_CLIENTS,
    ):
        self.name = name
        self.timeout = timeout
        self.max_clients = max_clients
        self.client_errors = {}  # kind -> count: resets, timeouts, refusals
        host, port = parse_address(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")  # `serve` from Python too
        self.source = None  # set by the caller once opened: its capture counters go on the page
        self._frame = (0, None)  # (number, JPEG bytes)
        self._viewers = 0
        self._closed = False
        self._done = deque(maxlen=RECENT)  # (time.monotonic() when done, latency ms)
        self._processed = 0
        self._changed = threading.Condition()
        try:
            self._server = _Server((host, port), self)
        except OSError as error:
            raise BcnError(f"--serve {host}:{port}: cannot listen there ({error.strerror or error})") from None
        self.host, self.port = self._server.server_address[:2]
        self.allowed_hosts = _allowed_hosts(self.host, self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="live view", daemon=True)
        self._thread.start()
        log.info(f"live view: {self.url} (stream: {self.url}stream.mjpg)")

    def client_failed(self, kind: str) -> None:
        """Count a client's failure; the first of each kind is one line in the log (no client can flood it)."""
        with self._changed:
            self.client_errors[kind] = self.client_errors.get(kind, 0) + 1
            first = self.client_errors[kind] == 1
        if first:
            log.warning(
                f"live view: a client connection failed ({kind}); the view goes on, further ones are "
                "counted in /stats.json"
            )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def write(self, frame, detections, image) -> None:
        """Take the newest annotated frame; encoded as JPEG only while someone watches."""
        import cv2

        now = time.monotonic()
        with self._changed:
            self._processed += 1
            self._done.append((now, (now - frame.captured_at) * 1000))
            watched = self._viewers > 0
        if not watched:
            return
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if ok:
            with self._changed:
                self._frame = (self._frame[0] + 1, jpeg.tobytes())
                self._changed.notify_all()

    def next_frame(self, sent: int) -> tuple[int, bytes | None]:
        """The newest frame after number `sent`, waiting for it; (n, None) once the view is closed."""
        with self._changed:
            while not self._closed and (self._frame[1] is None or self._frame[0] == sent):
                self._changed.wait(WAIT_S)
            return (self._frame[0], None) if self._closed else self._frame

    def viewers_changed(self, change: int) -> None:
        with self._changed:
            self._viewers += change
            if not self._viewers:  # frames stop being encoded: the next viewer waits for a fresh one
                self._frame = (self._frame[0], None)

    def stats(self) -> dict:
        """What the page shows: FPS and latency over the latest frames, the capture counters."""
        with self._changed:
            done = list(self._done)
            viewers, processed = self._viewers, self._processed
            client_errors = sum(self.client_errors.values())
        fps = (len(done) - 1) / (done[-1][0] - done[0][0]) if len(done) > 1 and done[-1][0] > done[0][0] else 0.0
        latency = sorted(ms for _, ms in done)[len(done) // 2] if done else 0.0
        source = self.source
        return {
            "source": self.name,
            "fps": fps,
            "latency_ms": latency,
            "processed": processed,
            "captured": getattr(source, "captured", processed),
            "dropped": getattr(source, "dropped", 0),
            "viewers": viewers,
            "client_errors": client_errors,
        }

    def describe(self) -> str | None:
        return None  # nothing is written

    def close(self, complete: bool = True) -> None:
        """Stop serving: every open stream ends, the port is released."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=2)
