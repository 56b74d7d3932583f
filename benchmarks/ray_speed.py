"""Batch throughput with local workers and on Ray, and what Ray costs per recording.

    python benchmarks/ray_speed.py [--copies 16] [--model tests/fixtures/reference_model.pt]

Scans a folder of `--copies` copies of the shipped sample recording with `speakerspot scan -q`, as
whole processes (start-up included), with `--workers 1` and `2` on the local engine and on a local
Ray cluster the scan starts for itself, and once more each engine on a single copy: the difference
between the two sizes, per recording, less the local engine's, is what Ray adds per recording.
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speakerspot.audio import recording_facts

SAMPLE = Path(__file__).parent.parent / "tests" / "fixtures" / "sample.ts"


def timed_scan(folder: Path, model: Path, engine: str, workers: int) -> float:
    """Wall seconds of one whole scan process over `folder` (outputs into a scratch folder beside it)."""
    output_dir = folder.parent / f"out-{folder.name}-{engine}-{workers}"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "speakerspot", "scan", str(folder), "-m", str(model), "-q",
                    "--engine", engine, "--workers", str(workers), "-f", "csv", "--output-dir", str(output_dir)],
                   check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=16)
    parser.add_argument("--model", type=Path, default=Path("tests/fixtures/reference_model.pt"))
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        many, one = Path(scratch) / "many", Path(scratch) / "one"
        many.mkdir()
        one.mkdir()
        for number in range(arguments.copies):
            shutil.copy(SAMPLE, many / f"{number:03d}.ts")
        shutil.copy(SAMPLE, one / "000.ts")
        hours = arguments.copies * recording_facts(SAMPLE).duration / 3600
        rows = []
        for engine in ("local", "ray"):
            single = timed_scan(one, arguments.model, engine, 1)
            for workers in (1, 2):
                seconds = timed_scan(many, arguments.model, engine, workers)
                rows.append((engine, workers, seconds, hours / seconds * 60,
                             (seconds - single) / (arguments.copies - 1) if workers == 1 else None, single))
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{arguments.copies} copies of tests/fixtures/sample.ts ({hours:.2f} h of audio), "
          "`speakerspot scan FOLDER -q --engine E --workers N`, whole processes, one run each\n")
    print("| engine | workers | wall s | h of audio per minute | s per added recording (1 worker) | 1 recording, s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for engine, workers, seconds, rate, per_recording, single in rows:
        each = f"{per_recording:.2f}" if per_recording is not None else ""
        print(f"| {engine} | {workers} | {seconds:.1f} | {rate:.2f} | {each} | {single:.1f} |")


if __name__ == "__main__":
    main()
