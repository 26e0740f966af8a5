"""Stand-in for upstream's e2e-test-app-metrics-basic-auth image (a Flask app there): `/metrics` on port 9123 behind
HTTP basic auth, one gauge `authenticated 1`; any other credentials get 401 with a Basic challenge. Standard library
only, so the image needs nothing beyond Debian's python3. The credentials are the ones upstream's tests put in their
Secrets."""

from __future__ import annotations

import base64
import hmac
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USERNAME, PASSWORD = "user", "t0p$ecreT"
EXPECTED = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
BODY = b"# HELP authenticated Client was authenticated\n# TYPE authenticated gauge\nauthenticated 1.0\n"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self._reply(404, b"not found\n")
        elif not hmac.compare_digest(self.headers.get("Authorization", ""), EXPECTED):
            self._reply(401, b"Could not verify your access level for that URL.\n",
                        {"WWW-Authenticate": 'Basic realm="Login Required"'})  # fmt: skip
        else:
            self._reply(200, BODY, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    def _reply(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 9123), Handler).serve_forever()
