"""How soon after a turn ends does `scan --live` print it, on a stream read at its own pace?

    python benchmarks/live_latency.py RECORDING -m MODEL [--speed 1]

The recording's bytes are fed to `speakerspot scan - --live -f jsonl` at the pace that makes them last
the recording's duration (`--speed` times faster), as a capture from a tuner comes; each line is timed
when it arrives. For each segment: how long after the stream reached the segment's end it was printed.
The lines must be the segments a scan of the whole file gives. One JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import speakerspot
from speakerspot.audio import recording_facts

PACKETS = 25 * 188  # bytes sent at a time: 25 MPEG-TS packets


def feed(capture: bytes, seconds: float, pipe, started: float) -> None:
    rate = len(capture) / seconds
    for offset in range(0, len(capture), PACKETS):
        time.sleep(max(0.0, started + offset / rate - time.monotonic()))
        pipe.write(capture[offset:offset + PACKETS])
        pipe.flush()
    pipe.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recording", type=Path)
    parser.add_argument("-m", "--model", type=Path, required=True)
    parser.add_argument("--speed", type=float, default=1.0, help="times faster than real time")
    args = parser.parse_args()
    duration = recording_facts(args.recording).duration
    command = [sys.executable, "-m", "speakerspot", "scan", "-", "-m", str(args.model), "--live", "-f", "jsonl", "-q"]
    live = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    started = time.monotonic()
    player = threading.Thread(target=feed, args=(args.recording.read_bytes(), duration / args.speed, live.stdin,
                                                 started))
    player.start()
    told = [(time.monotonic() - started, json.loads(line)) for line in live.stdout]
    player.join()
    if live.wait() != 0:
        sys.exit(f"scan --live exited with {live.returncode}")
    whole = speakerspot.scan(speakerspot.load_model(args.model), args.recording)
    # scores to rounding: two processes may differ in the last bits of a score (see BENCHMARKS.md)
    same = len(told) == len(whole.segments) and all(
        (s["start"], s["end"]) == (w.start, w.end) and abs(s["score"] - w.score) < 2e-4
        for (_, s), w in zip(told, whole.segments, strict=False))
    delays = [round(at - segment["end"] / args.speed, 2) for at, segment in told]
    print(json.dumps({"recording": str(args.recording), "duration": round(duration, 1), "speed": args.speed,
                      "segments": len(told), "same_as_whole_scan": same,
                      "delay_after_end_s": {"min": min(delays), "median": statistics.median(delays),
                                            "max": max(delays)} if delays else None,
                      "delays": delays}, indent=1))


if __name__ == "__main__":
    main()
