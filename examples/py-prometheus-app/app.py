"""The troubleshooting guide's py-prometheus-app: a Prometheus-format /metrics endpoint on port 8080.

Standard library only, so its image needs nothing but Python. Each scrape counts itself, so a collector's exporter
output shows the app's metric move (and which pod answered, through the collector's target labels).

With BASIC_AUTH_USERNAME and BASIC_AUTH_PASSWORD set, /metrics answers 401 to any other credentials (and says so on
stderr, one line each): a ServiceMonitor's basicAuth must reach the scraper intact. /healthz never asks."""

from __future__ import annotations

import base64
import hmac
import os
import sys
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


def authorized(header: str | None) -> bool:
    user, password = os.environ.get("BASIC_AUTH_USERNAME"), os.environ.get("BASIC_AUTH_PASSWORD")
    if not user or password is None:
        return True
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return hmac.compare_digest((header or "").encode(), expected.encode())


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        global _scrapes
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path != "/metrics":
            self.send_error(404, "only /metrics here")
            return
        if not authorized(self.headers.get("Authorization")):
            print(f"refused {self.client_address[0]}: wrong or missing basic auth", file=sys.stderr, flush=True)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="metrics"')
            self.send_header("Content-Length", "0")
            self.end_headers()
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
