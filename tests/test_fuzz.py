"""Damaged DVB captures through the whole command, progress bar on: scanned as far as they decode, or
one line naming the file and exit 3; never a traceback, never a hang.

Seeded mutations of a small MPEG-TS (MP2 48 kHz stereo, MPEG-2 video, a second audio track, first
PTS at 10 h): bit flips, truncations, splices of two captures, zeroed PAT/PMT packets, zeroed runs,
garbage appended, a 0-byte file, bit flips and a zeroed run in 192-byte packets (M2TS). `make test`
runs FUZZ_CASES of them (default 16, two of each kind), each scanned twice in a subprocess (with the
bar, and with -q); `make fuzz` runs 300.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import held_out_programme
from media import in_packets_of, write_recording

CASES = int(os.environ.get("FUZZ_CASES", "16"))
TIMEOUT_SECONDS = 120  # a 20-second capture scans in about a second; this is a hang
TS_PACKET = 188
MUTATIONS = ("bit flips", "truncation", "splice", "zeroed PAT/PMT", "zeroed run", "garbage appended", "empty",
             "M2TS, bit flips and a zeroed run")


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> tuple[bytes, bytes]:
    folder = tmp_path_factory.mktemp("captures")
    programme, _ = held_out_programme(seed=5)
    programme = programme[:16000 * 20]
    first = write_recording(folder / "a.ts", programme, 16000, start_seconds=36000.0, video=True,
                            extra_tracks=(programme[::-1].copy(),), bit_rate=192_000)
    second = write_recording(folder / "b.ts", programme[::-1].copy(), 16000, start_seconds=95000.0, video=True,
                             bit_rate=192_000)
    return first.read_bytes(), second.read_bytes()


def packet_pid(data: bytes | bytearray, offset: int) -> int:
    return ((data[offset + 1] & 0x1F) << 8) | data[offset + 2]


def mutate(first: bytes, second: bytes, kind: str, rng: np.random.Generator) -> bytes:
    data = bytearray(first)
    if kind == "bit flips":
        for position in rng.integers(0, len(data), size=rng.integers(1, 400)):
            data[position] ^= 1 << int(rng.integers(8))
    elif kind == "truncation":
        data = data[:rng.integers(0, len(data))]
    elif kind == "splice":
        data = data[:rng.integers(0, len(data))] + bytearray(second[rng.integers(0, len(second)):])
    elif kind == "zeroed PAT/PMT":  # PID 0 is the PAT; the PMT PIDs follow from it (4096 with FFmpeg's muxer)
        for offset in range(0, len(data) - TS_PACKET + 1, TS_PACKET):
            if packet_pid(data, offset) in (0, 4096):
                data[offset + 4:offset + TS_PACKET] = bytes(TS_PACKET - 4)
    elif kind == "zeroed run":
        start, length = int(rng.integers(0, len(data))), int(rng.integers(1, len(data) // 4))
        data[start:start + length] = bytes(len(data[start:start + length]))
    elif kind == "garbage appended":
        data += rng.integers(0, 256, int(rng.integers(1, 200_000)), dtype=np.uint8).tobytes()
    elif kind == "empty":
        data = bytearray()
    elif kind.startswith("M2TS"):  # 192-byte packets, as camcorders and Topfield's recorders write them
        data = bytearray(in_packets_of(first, 192))
        for position in rng.integers(0, len(data), size=rng.integers(1, 100)):
            data[position] ^= 1 << int(rng.integers(8))
        start, length = int(rng.integers(0, len(data))), int(rng.integers(1, len(data) // 4))
        data[start:start + length] = bytes(len(data[start:start + length]))
    return bytes(data)


def scan(path: Path, model: Path, quiet: bool) -> subprocess.CompletedProcess:
    arguments = [sys.executable, "-m", "speakerspot", "scan", str(path), "-m", str(model)] + (["-q"] if quiet else [])
    return subprocess.run(arguments, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)


def error_lines(stderr: str) -> list[str]:
    # A progress bar redraws its line with carriage returns; what ends up on a terminal is the last part.
    return [line.split("\r")[-1] for line in stderr.splitlines() if "error" in line.split("\r")[-1]]


def test_damaged_captures_scan_what_decodes_or_fail_in_one_line(captures, model_file, tmp_path):
    rng = np.random.default_rng(2026)
    cases = []
    for index in range(CASES):
        kind = MUTATIONS[index % len(MUTATIONS)]
        path = tmp_path / f"damaged {index:03d}.ts"
        path.write_bytes(mutate(*captures, kind, rng))
        cases += [(path, kind, False), (path, kind, True)]
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda case: (case, scan(case[0], model_file, case[2])), cases))
    for (path, kind, quiet), run in runs:
        where = f"{path.name} ({kind}, {'-q' if quiet else 'progress bar'})"
        assert "Traceback" not in run.stderr, where
        assert run.returncode in (0, 3), f"{where}: exit {run.returncode}: {run.stderr[-500:]}"
        errors = error_lines(run.stderr)
        if run.returncode == 3:
            assert len(errors) == 1 and errors[0].startswith(f"speakerspot: error: {path}: "), (where, errors)
            assert run.stdout == "", where
        else:
            assert errors == [], (where, errors)
            for line in run.stdout.splitlines():  # the txt format: one segment per line
                assert " – " in line, (where, line)
    # Exit codes do not depend on the progress bar.
    by_case = {}
    for (path, _, quiet), run in runs:
        by_case.setdefault(path, {})[quiet] = (run.returncode, run.stdout)
    assert all(outcomes[False] == outcomes[True] for outcomes in by_case.values())
