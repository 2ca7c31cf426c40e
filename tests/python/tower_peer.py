"""A small HTTP service traced by ddtrace, for the tower cross-language tests.

Usage: python tower_peer.py SERVICE [DOWNSTREAM_URL]

Listens on a free loopback port and prints `READY <port>`. Every GET continues the incoming trace
(ddtrace's HTTPPropagator, with the styles of DD_TRACE_PROPAGATION_STYLE) in a `web` span; with a
DOWNSTREAM_URL it calls it through `requests`, which ddtrace patches (a client span and injected
headers), and answers with the downstream body, else with the headers it received as JSON. Spans are
flushed after each request. DD_TRACE_AGENT_URL points at the test agent.
"""

import json
import sys

from ddtrace import patch

patch(requests=True)

import requests  # noqa: E402  (must be imported after patching)
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

from ddtrace.propagation.http import HTTPPropagator  # noqa: E402
from ddtrace.trace import tracer  # noqa: E402

SERVICE = sys.argv[1]
DOWNSTREAM = sys.argv[2] if len(sys.argv) > 2 else None


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        received = {name.lower(): value for name, value in self.headers.items()}
        tracer.context_provider.activate(HTTPPropagator.extract(received))
        with tracer.trace(
            "http.request", service=SERVICE, resource="GET " + self.path, span_type="web"
        ) as span:
            span.set_tag("span.kind", "server")
            if DOWNSTREAM:
                body = requests.get(DOWNSTREAM, timeout=10).content
            else:
                body = json.dumps(received).encode()
            span.set_tag("http.status_code", "200")
        tracer.context_provider.activate(None)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        tracer.flush()

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("READY", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
