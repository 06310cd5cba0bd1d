#!/usr/bin/env python3
"""A Voice API application for Patchbay's call flow tests: its answer_url and event URLs, with every NCCO
built by the Vonage SDK's own NCCO models (vonage_voice: Talk, Stream, Input, Dtmf, Notify, Wait, Record,
Conversation, Connect) and serialised as the SDK does. What each path answers is scripted by a JSON file:

  {"/answer": [ANSWER, ANSWER, ...], "/menu": [...], ...}

Each request to a path takes the next answer (the last one repeats). An ANSWER is one of
  {"ncco": [{"talk": {...}}, {"input": {...}}, ...]}   an NCCO; each action's fields are the model's
  {"status": 503}                                       that status, no body
  {"delay": 30}                                         nothing for that many seconds, then []
  {"raw": "text"}                                       that body as JSON
  {"huge": 70000}                                       a JSON array of that many bytes
  {"redirect": "/path"}                                 302 to that path
  {"empty": true}                                       200 with no body
"{base}" in any string of an NCCO is this server's own http://127.0.0.1:PORT. With --secret, each
request's signature (Authorization: Bearer <JWT>, HS256, payload_hash of the body) is checked with PyJWT.
One JSON line per request on stdout: {"ev":"request","path","method","query","body","signed"}; the first
line says the port.
"""
import argparse
import hashlib
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import jwt
from vonage_voice import Connect, Conversation, Dtmf, Input, Notify, Record, Stream, Talk, Wait
from vonage_voice.models.connect_endpoints import WebsocketEndpoint

args = None
script = {}
taken = {}
base = ""
lock = threading.Lock()


def report(**fields):
    line = json.dumps(fields, sort_keys=True)
    with lock:
        print(line, flush=True)


def substitute(value):
    if isinstance(value, str):
        return value.replace("{base}", base)
    if isinstance(value, list):
        return [substitute(v) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v) for k, v in value.items()}
    return value


def build(spec):
    """One action from {"talk": {...}}: the SDK's model, so its validation and serialisation apply."""
    (kind, fields), = spec.items()
    fields = substitute(fields)
    if kind == "talk":
        return Talk(**fields)
    if kind == "stream":
        return Stream(**fields)
    if kind == "input":
        if "dtmf" in fields:
            fields["dtmf"] = Dtmf(**fields["dtmf"])
        return Input(**fields)
    if kind == "notify":
        return Notify(**fields)
    if kind == "wait":
        return Wait(**fields)
    if kind == "conversation":
        return Conversation(**fields)
    if kind == "record":
        return Record(**fields)
    if kind == "connect":
        fields["endpoint"] = [WebsocketEndpoint(**e) for e in fields["endpoint"]]
        fields.setdefault("from_", "447700900000")
        return Connect(**fields)
    raise ValueError("no such action in the script: " + kind)


def next_answer(path):
    with lock:
        answers = script.get(path)
        if not answers:
            return {"status": 404}
        i = taken.get(path, 0)
        taken[path] = i + 1
        return answers[min(i, len(answers) - 1)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_request(self, method):
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length", "0") or "0")
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        signed = None
        if args.secret:
            auth = self.headers.get("authorization", "")
            signed = False
            if auth.startswith("Bearer "):
                try:
                    claims = jwt.decode(auth[7:], args.secret, algorithms=["HS256"])
                    signed = claims.get("payload_hash") == hashlib.sha256(raw).hexdigest()
                except jwt.PyJWTError:
                    signed = False
        report(ev="request", path=parts.path, method=method, query=dict(parse_qsl(parts.query)), body=body, signed=signed)
        answer = next_answer(parts.path)
        if "delay" in answer:
            time.sleep(answer["delay"])
            return self.send(200, b"[]")
        if "status" in answer:
            return self.send(answer["status"], b"")
        if "redirect" in answer:
            self.send_response(302)
            self.send_header("location", base + answer["redirect"])
            self.send_header("content-length", "0")
            self.end_headers()
            return
        if "raw" in answer:
            return self.send(200, answer["raw"].encode())
        if "huge" in answer:
            filler = json.dumps([{"action": "talk", "text": "x" * 100}] * (answer["huge"] // 120 + 1)).encode()
            return self.send(200, filler)
        if answer.get("empty"):
            return self.send(200, b"")
        ncco = [build(a).model_dump(mode="json", by_alias=True, exclude_none=True) for a in answer["ncco"]]
        return self.send(200, json.dumps(ncco).encode())

    def send(self, status, body):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if body:
            try:
                self.wfile.write(body)
            except BrokenPipeError:
                pass

    def do_GET(self):
        self.handle_request("GET")

    def do_POST(self):
        self.handle_request("POST")

    def log_message(self, *a):
        pass


def main():
    global args, script, base
    parser = argparse.ArgumentParser()
    parser.add_argument("--script", required=True)
    parser.add_argument("--secret")
    args = parser.parse_args()
    with open(args.script) as f:
        script = json.load(f)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    base = "http://127.0.0.1:%d" % server.server_address[1]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    report(ev="listening", port=server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
