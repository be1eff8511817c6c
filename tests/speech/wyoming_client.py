#!/usr/bin/env python3
"""Minimal Wyoming ASR client built only on the PyPI `wyoming` package.

  wyoming_client.py URI describe
      Send describe, print the server's info as one JSON object.
  wyoming_client.py URI transcribe A.wav [B.wav ...]
      Over ONE connection, for each WAV: transcribe, audio-start, audio-chunk (100 ms each),
      audio-stop; wait for transcript or error. Prints one JSON line per file:
      {"wav": ..., "text": ...} or {"wav": ..., "error": ...}.

URI: tcp://HOST:PORT or unix:///PATH.

WAVs are read with the standard `wave` module and sent with their own rate, width and channels
(the server converts). A file `wave` cannot read (empty, not RIFF, 32-bit float) is not sent;
its line is {"wav": ..., "error": "client: ..."}. Server errors are {"error": "server: ..."}.

Exit status: 0 every file was answered (transcript or error line); 1 connection failed, was
closed by the server, or an answer timed out; 2 usage error.
"""

import argparse
import asyncio
import json
import sys
import wave

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.error import Error
from wyoming.info import Describe, Info

PROG = "wyoming_client.py"


class ConnectionLost(Exception):
    pass


def read_wav(path):
    """Returns (rate, width, channels, pcm bytes) or raises ValueError with a short reason."""
    try:
        with wave.open(path, "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            pcm = w.readframes(w.getnframes())
    except (wave.Error, EOFError, OSError) as e:
        raise ValueError(f"cannot read WAV: {str(e) or 'file is empty or ends inside the header'}") from None
    frame = width * channels
    pcm = pcm[: len(pcm) - len(pcm) % frame]  # a truncated file may end mid-sample
    if not pcm:
        raise ValueError("WAV has no audio frames")
    return rate, width, channels, pcm


async def read_event(client, what):
    try:
        event = await client.read_event()
    except asyncio.TimeoutError:
        raise ConnectionLost(f"no {what} within {client.read_timeout} s") from None
    except (OSError, asyncio.IncompleteReadError) as e:
        raise ConnectionLost(f"connection lost while waiting for {what}: {e}") from None
    if event is None:
        raise ConnectionLost(f"server closed the connection while waiting for {what}")
    return event


async def write_event(client, event):
    try:
        await client.write_event(event)
    except OSError as e:
        raise ConnectionLost(f"connection lost while sending: {e}") from None


async def describe(client):
    await write_event(client, Describe().event())
    while True:
        event = await read_event(client, "info")
        if Info.is_type(event.type):
            print(json.dumps(Info.from_event(event).event().data, ensure_ascii=False))
            return
        if Error.is_type(event.type):
            print(json.dumps({"error": "server: " + Error.from_event(event).text}))
            return


async def transcribe_one(client, path, chunk_ms, language):
    try:
        rate, width, channels, pcm = read_wav(path)
    except ValueError as e:
        return {"wav": path, "error": f"client: {e}"}
    await write_event(client, Transcribe(language=language).event())
    await write_event(client, AudioStart(rate=rate, width=width, channels=channels, timestamp=0).event())
    step = max(1, rate * chunk_ms // 1000) * width * channels
    for offset in range(0, len(pcm), step):
        timestamp = offset // (width * channels) * 1000 // rate
        chunk = AudioChunk(rate=rate, width=width, channels=channels,
                           audio=pcm[offset:offset + step], timestamp=timestamp)
        await write_event(client, chunk.event())
    total_ms = len(pcm) // (width * channels) * 1000 // rate
    await write_event(client, AudioStop(timestamp=total_ms).event())
    while True:  # skip anything else (transcript-start/-chunk/-stop of streaming servers)
        event = await read_event(client, "transcript")
        if Transcript.is_type(event.type):
            return {"wav": path, "text": Transcript.from_event(event).text}
        if Error.is_type(event.type):
            return {"wav": path, "error": "server: " + Error.from_event(event).text}


async def run(args):
    try:
        client = AsyncClient.from_uri(args.uri, connect_timeout=args.connect_timeout,
                                      read_timeout=args.timeout)
    except ValueError as e:
        print(f"{PROG}: bad URI {args.uri!r}: {e}", file=sys.stderr)
        return 2
    try:
        await client.connect()
    except asyncio.TimeoutError:
        print(f"{PROG}: cannot connect to {args.uri}: timed out after {args.connect_timeout} s",
              file=sys.stderr)
        return 1
    except OSError as e:
        reason = "connection refused" if isinstance(e, ConnectionRefusedError) else (e.strerror or str(e))
        print(f"{PROG}: cannot connect to {args.uri}: {reason} (is the server running?)",
              file=sys.stderr)
        return 1
    try:
        if args.command == "describe":
            await describe(client)
        else:
            for path in args.wavs:
                print(json.dumps(await transcribe_one(client, path, args.chunk_ms, args.language),
                                 ensure_ascii=False), flush=True)
        return 0
    except ConnectionLost as e:
        print(f"{PROG}: {args.uri}: {e}", file=sys.stderr)
        return 1
    finally:
        try:
            await client.disconnect()
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser(prog=PROG, description="Minimal Wyoming ASR client.")
    p.add_argument("uri", help="tcp://HOST:PORT or unix:///PATH")
    p.add_argument("--connect-timeout", type=float, default=5.0, help="seconds (default 5)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait for each answer (default 60)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("describe", help="print the server's info as JSON")
    t = sub.add_parser("transcribe", help="transcribe WAV files over one connection")
    t.add_argument("wavs", nargs="+", metavar="WAV")
    t.add_argument("--chunk-ms", type=int, default=100, help="audio chunk length (default 100)")
    t.add_argument("--language", default=None, help="language sent in transcribe (default none)")
    args = p.parse_args()
    if not (args.uri.startswith("tcp://") or args.uri.startswith("unix://")):
        p.error(f"URI must be tcp://HOST:PORT or unix:///PATH, not {args.uri!r}")
    if args.command == "transcribe" and args.chunk_ms <= 0:
        p.error("--chunk-ms must be positive")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
