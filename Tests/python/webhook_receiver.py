#!/usr/bin/env python3
"""An application's event_url for Patchbay's tests: an HTTP server that checks each event's signature as
an application would. The bearer JWT must verify with the signature secret through the Voice API's own
Python SDK (vonage-jwt's verify_signature, HS256) and through PyJWT, and its payload_hash claim must be
the SHA-256 of the body (the SDK does not check that; an application must). One JSON line per request on
stdout: {"ev":"event","valid":...,"problem":...,"claims":...,"body":...}; the first line says the port.

--fail-first N answers 503 to the first N requests (to exercise retries); --status S answers S always.
"""
import argparse
import hashlib
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from vonage_jwt.verify_jwt import verify_signature

args = None
requests_seen = 0
lock = threading.Lock()


def report(**fields):
    line = json.dumps(fields, sort_keys=True)
    with lock:  # one line per event, whichever thread handles it
        print(line, flush=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global requests_seen
        with lock:
            requests_seen += 1
            n = requests_seen
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        problem = None
        claims = None
        auth = self.headers.get("authorization", "")
        if args.verify_every > 1 and n % args.verify_every != 1:
            pass  # a benchmark's receiver checks a sample, so that it does not load the machine it measures
        elif not auth.startswith("Bearer "):
            problem = "no bearer token"
        else:
            token = auth[len("Bearer "):]
            try:
                if not verify_signature(token, args.secret):
                    problem = "vonage-jwt: signature does not verify"
                claims = jwt.decode(token, args.secret, algorithms=["HS256"], options={"verify_iat": True})
                if claims.get("payload_hash") != hashlib.sha256(body).hexdigest():
                    problem = "payload_hash is not the SHA-256 of the body"
                elif claims.get("application_id") != args.application_id:
                    problem = "application_id claim is %r" % claims.get("application_id")
                elif abs(time.time() - claims.get("iat", 0)) > 60:
                    problem = "iat is off by more than a minute"
            except Exception as e:  # noqa: BLE001 - reported
                problem = "%s: %s" % (type(e).__name__, e)
        try:
            event = json.loads(body)
        except ValueError:
            event = None
            problem = problem or "body is not JSON"
        if self.headers.get("content-type") != "application/json":
            problem = problem or "content-type is %r" % self.headers.get("content-type")
        status = args.status
        if n <= args.fail_first:
            status = 503
        if args.quiet:
            report(ev="event", valid=problem is None, problem=problem, answered=status, n=n, t=time.time(),
                   body={k: event.get(k) for k in ("status", "type", "timestamp")} if isinstance(event, dict) else None)
        else:
            report(ev="event", valid=problem is None, problem=problem, claims=claims, body=event, answered=status,
                   n=n, t=time.time())
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def main():
    global args
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret", required=True)
    parser.add_argument("--application-id", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--verify-every", type=int, default=1, help="check the signature of one event in N")
    parser.add_argument("--quiet", action="store_true", help="report only each event's kind and timestamp")
    parser.add_argument("--lifetime", type=float, default=300, help="exit after this many seconds")
    args = parser.parse_args()
    # The test runner may start it with SIGTERM ignored (inherited): stop on it regardless, and in any
    # case after --lifetime.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    report(ev="listening", port=server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
