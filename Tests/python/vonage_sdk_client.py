#!/usr/bin/env python3
"""Drives Patchbay's control API with the Voice API's own Python SDK (PyPI `vonage`, version 4), as an
application would: it makes its RS256 JWTs from the application's private key, and talks https to
--host (trusting the certificate REQUESTS_CA_BUNDLE names). One JSON object per line on stdout, one per
operation, with what the SDK parsed (so its models accepted Patchbay's answers) or the error it raised.

Without --steer it lists and gets calls; with --steer UUID it steers that live call: mute, unmute,
earmuff, unearmuff, a stream (--stream-url) started and stopped, talk started and stopped, DTMF, a
transfer to --conversation, then talk that plays to its end, and the hangup. --pause-file: before the
hangup, waits until that file exists (the test's cue that it has heard what it waits for).
"""
import argparse
import json
import sys

from vonage import Auth, HttpClientOptions, Vonage
from vonage_http_client.errors import HttpRequestError, NotFoundError
from vonage_voice.models import AudioStreamOptions, ListCallsFilter, TtsStreamOptions
from vonage_voice.models.ncco import Conversation
import os
import time


def report(**fields):
    print(json.dumps(fields, sort_keys=True, default=str), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True, help="host:port of Patchbay's API")
    parser.add_argument("--application-id", required=True)
    parser.add_argument("--private-key", required=True, help="path of the application's private key (PEM)")
    parser.add_argument("--steer", help="uuid of a live call to steer")
    parser.add_argument("--stream-url")
    parser.add_argument("--conversation")
    parser.add_argument("--pause-file")
    args = parser.parse_args()
    client = Vonage(Auth(application_id=args.application_id, private_key=args.private_key),
                    HttpClientOptions(api_host=args.host, timeout=30))
    voice = client.voice
    if args.steer:
        steer(voice, args)
        return

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


def steer(voice, args):
    uuid = args.steer
    for op in ("mute", "unmute", "earmuff", "unearmuff"):
        getattr(voice, op)(uuid)
        report(op=op)
    m = voice.play_audio_into_call(uuid, AudioStreamOptions(stream_url=[args.stream_url], loop=0, level=-0.5))
    report(op="stream", message=m.message, uuid=m.uuid)
    time.sleep(0.3)
    m = voice.stop_audio_stream(uuid)
    report(op="stream-stop", message=m.message, uuid=m.uuid)
    m = voice.play_tts_into_call(uuid, TtsStreamOptions(text="This call is being steered.", language="en-GB", loop=0))
    report(op="talk", message=m.message, uuid=m.uuid)
    time.sleep(0.3)
    m = voice.stop_tts(uuid)
    report(op="talk-stop", message=m.message, uuid=m.uuid)
    m = voice.play_dtmf_into_call(uuid, dtmf="159#")
    report(op="dtmf", message=m.message, uuid=m.uuid)
    voice.transfer_call_ncco(uuid, [Conversation(name=args.conversation)])
    report(op="transfer")
    info = voice.get_call(uuid)
    report(op="get", status=info.status, conversation_uuid=info.conversation_uuid)
    if args.pause_file:
        deadline = time.time() + 30
        while not os.path.exists(args.pause_file) and time.time() < deadline:
            time.sleep(0.05)
    voice.hangup(uuid)
    report(op="hangup")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # reported, so the test shows what the SDK said
        report(op="failed", error=type(e).__name__, message=str(e)[:500])
        sys.exit(1)
