"""Stand-in for upstream's e2e-test-app-python image (a Flask app there): `GET /` answers "Hi" on port 8080.
Standard library only, so the image needs nothing beyond Debian's python3. Upstream's tests that run it (sidecar
injection, env-vars, resource-attribute labels) only need a container that starts and keeps running."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"Hi" if self.path.split("?", 1)[0] == "/" else b"not found\n"
        self.send_response(200 if body == b"Hi" else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # the base class's name
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()  # a pod's app listens on all
