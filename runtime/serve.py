"""A live view for headless devices: the annotated frames as an MJPEG stream and a small page, over HTTP.

`LiveView` is a sink of the detection loop and a web server (the standard library's
ThreadingHTTPServer, one thread per client). It serves three routes and nothing else:
`/` (a page showing the stream with live FPS, latency and drop counters), `/stream.mjpg`
(multipart/x-mixed-replace JPEG frames, each client always sent the newest frame, so a
slow browser skips frames instead of delaying the others) and `/stats.json`. Frames are
encoded only while someone watches. A browser may disconnect and come back at any time.
"""

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bcn.errors import BcnError

DEFAULT_HOST = "127.0.0.1"
BOUNDARY = "bcnframe"
JPEG_QUALITY = 80
WAIT_S = 1.0  # how often a waiting client checks whether the view closed
RECENT = 30  # frames the page's FPS and latency are averaged over

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
    """`[HOST:]PORT` -> (host, port); the host defaults to loopback. IPv6 hosts go in brackets."""
    host, _, port = text.strip().rpartition(":")
    host = host.strip("[]") or DEFAULT_HOST
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise BcnError(f"--serve {text}: expected [HOST:]PORT with PORT a number from 0 to 65535")
    return host, int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a client still connected never holds up the end of the run

    def __init__(self, address, view):
        import socket

        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.view = view
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server_version = "bcn"
    sys_version = ""

    def log_message(self, *args):
        pass

    def do_GET(self):
        view = self.server.view
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
                self.wfile.write(b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                 % (BOUNDARY.encode(), len(jpeg), jpeg))
                self.wfile.flush()
                sent = number
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the browser went away; it may come back on a new connection
        finally:
            view.viewers_changed(-1)


class LiveView:
    """Serve the annotated frames at http://HOST:PORT/ while the detection loop runs (a sink)."""

    wants_image = True

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, name: str = "bcn detect", log=None):
        self.name = name
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
        self._thread = threading.Thread(target=self._server.serve_forever, name="live view", daemon=True)
        self._thread.start()
        (log or (lambda message: None))(f"live view: {self.url} (stream: {self.url}stream.mjpg)")

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
        fps = (len(done) - 1) / (done[-1][0] - done[0][0]) if len(done) > 1 and done[-1][0] > done[0][0] else 0.0
        latency = sorted(ms for _, ms in done)[len(done) // 2] if done else 0.0
        source = self.source
        return {"source": self.name, "fps": fps, "latency_ms": latency, "processed": processed,
                "captured": getattr(source, "captured", processed), "dropped": getattr(source, "dropped", 0),
                "viewers": viewers}

    def describe(self) -> str | None:
        return None  # nothing is written

    def close(self, complete: bool = True) -> None:
        """Stop serving: every open stream ends, the port is released."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)
