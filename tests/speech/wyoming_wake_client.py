#!/usr/bin/env python3
"""Minimal Wyoming wake word client built only on the PyPI `wyoming` package.

  wyoming_wake_client.py URI describe
      Send describe, print the server's info as one JSON object.
  wyoming_wake_client.py URI detect NAME A.wav [B.wav ...]
      Over ONE connection, for each WAV: detect (names: [NAME]), audio-start, audio-chunk
      (100 ms each), audio-stop, then ping; collects what the server says until pong. Prints
      one JSON line per file: {"wav": ..., "detections": [{"name", "timestamp"}],
      "not_detected": bool} or {"wav": ..., "error": ...}.

URI: tcp://HOST:PORT or unix:///PATH. WAVs are sent with their own rate, width and channels.
Exit status: 0 every file was answered; 1 the connection failed or an answer timed out; 2 usage.
"""

import asyncio
import json
import sys
import wave

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.wake import Detect, Detection, NotDetected

TIMEOUT = 30


async def describe(uri):
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Describe().event())
        while True:
            event = await asyncio.wait_for(client.read_event(), TIMEOUT)
            if event is None:
                raise ConnectionError("server closed the connection")
            if Info.is_type(event.type):
                print(json.dumps(Info.from_event(event).to_dict()))
                return


async def detect(uri, name, wavs):
    async with AsyncClient.from_uri(uri) as client:
        for path in wavs:
            with wave.open(path, "rb") as w:
                rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
                pcm = w.readframes(w.getnframes())
            await client.write_event(Detect(names=[name]).event())
            await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
            step = rate // 10 * width * channels
            for i in range(0, len(pcm), step):
                chunk = AudioChunk(rate=rate, width=width, channels=channels, audio=pcm[i : i + step])
                await client.write_event(chunk.event())
            await client.write_event(AudioStop().event())
            await client.write_event(Ping().event())
            line = {"wav": path, "detections": [], "not_detected": False}
            while True:
                event = await asyncio.wait_for(client.read_event(), TIMEOUT)
                if event is None:
                    raise ConnectionError("server closed the connection")
                if Detection.is_type(event.type):
                    d = Detection.from_event(event)
                    line["detections"].append({"name": d.name, "timestamp": d.timestamp})
                elif NotDetected.is_type(event.type):
                    line["not_detected"] = True
                elif Error.is_type(event.type):
                    line = {"wav": path, "error": Error.from_event(event).text}
                elif Pong.is_type(event.type):
                    break
            print(json.dumps(line), flush=True)


def main():
    args = sys.argv[1:]
    try:
        if len(args) == 2 and args[1] == "describe":
            asyncio.run(describe(args[0]))
        elif len(args) >= 4 and args[1] == "detect":
            asyncio.run(detect(args[0], args[2], args[3:]))
        else:
            print(__doc__, file=sys.stderr)
            sys.exit(2)
    except (OSError, ConnectionError, asyncio.TimeoutError) as e:
        print(f"wyoming_wake_client.py: {e or type(e).__name__}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
