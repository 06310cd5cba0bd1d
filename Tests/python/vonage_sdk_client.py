#!/usr/bin/env python3
"""Drives Patchbay's control API with the Voice API's own Python SDK (PyPI `vonage`, version 4), as an
application would: it makes its RS256 JWTs from the application's private key, and talks https to
--host (trusting the certificate REQUESTS_CA_BUNDLE names). One JSON object per line on stdout, one per
operation, with what the SDK parsed (so its models accepted Patchbay's answers) or the error it raised.
"""
import argparse
import json
import sys

from vonage import Auth, HttpClientOptions, Vonage
from vonage_http_client.errors import HttpRequestError, NotFoundError
from vonage_voice.models import ListCallsFilter


def report(**fields):
    print(json.dumps(fields, sort_keys=True, default=str), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True, help="host:port of Patchbay's API")
    parser.add_argument("--application-id", required=True)
    parser.add_argument("--private-key", required=True, help="path of the application's private key (PEM)")
    args = parser.parse_args()
    client = Vonage(Auth(application_id=args.application_id, private_key=args.private_key),
                    HttpClientOptions(api_host=args.host, timeout=10))
    voice = client.voice

    calls, next_index = voice.list_calls(ListCallsFilter(page_size=2, order="asc"))
    report(op="list", uuids=[c.uuid for c in calls], next=next_index)
    for c in calls:
        info = voice.get_call(c.uuid)
        report(op="get", uuid=info.uuid, status=info.status, direction=info.direction,
               conversation_uuid=info.conversation_uuid, to_type=info.to.type, from_type=info.from_.type,
               start_time=info.start_time, duration=info.duration)
    answered, _ = voice.list_calls(ListCallsFilter(status="answered", page_size=100))
    report(op="list-answered", count=len(answered))
    try:
        voice.get_call("00000000-0000-0000-0000-000000000000")
        report(op="get-unknown", error=None)
    except NotFoundError:
        report(op="get-unknown", error="NotFoundError")
    except HttpRequestError as e:
        report(op="get-unknown", error=type(e).__name__, message=str(e)[:200])


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # reported, so the test shows what the SDK said
        report(op="failed", error=type(e).__name__, message=str(e)[:500])
        sys.exit(1)
