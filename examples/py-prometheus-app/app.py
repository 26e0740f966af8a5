"""The troubleshooting guide's py-prometheus-app: a Prometheus-format /metrics endpoint on port 8080.

Standard library only, so its image needs nothing but Python. Each scrape counts itself, so a collector's exporter
output shows the app's metric move (and which pod answered, through the collector's target labels)."""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.time()
_lock = threading.Lock()
_scrapes = 0


def exposition(scrapes: int) -> bytes:
    pod = os.environ.get("HOSTNAME", "unknown")
    lines = [
        "# HELP py_app_scrapes_total Scrapes of this endpoint since the app started.",
        "# TYPE py_app_scrapes_total counter",
        f'py_app_scrapes_total{{app_pod="{pod}"}} {scrapes}',
        "# HELP py_app_uptime_seconds Seconds since the app started.",
        "# TYPE py_app_uptime_seconds gauge",
        f"py_app_uptime_seconds {time.time() - STARTED:.3f}",
    ]
    return ("\n".join(lines) + "\n").encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        global _scrapes
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404, "only /metrics here")
            return
        with _lock:
            _scrapes += 1
            body = exposition(_scrapes)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
        pass  # a scrape every few seconds is not news


if __name__ == "__main__":
    ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
