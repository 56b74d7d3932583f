"""Damaged recordings: truncated or bit-flipped copies decode to audio or fail with a clear error."""

from __future__ import annotations

import errno
import time

import av
import numpy as np
import pytest
from media import in_packets_of, with_zeroed_bytes, write_recording

from speakerspot.audio import decode_audio, demux_failure
from speakerspot.errors import MediaError

RATE = 22050


@pytest.fixture(scope="module")
def small_ts(tmp_path_factory):
    rng = np.random.default_rng(1)
    speechlike = (rng.standard_normal(16000 * 6) * np.sin(np.arange(16000 * 6) / 900) ** 2 * 0.2).astype(np.float32)
    path = tmp_path_factory.mktemp("fuzz") / "small.ts"
    return write_recording(path, speechlike, 16000, start_seconds=5000.0, video=True).read_bytes()


def decode_or_error(path) -> str:
    try:
        chunks = list(decode_audio(path, RATE))
    except MediaError as error:
        assert str(path) in str(error)
        return "error"
    assert all(np.isfinite(c.samples).all() and c.start >= -1.0 for c in chunks)
    return "audio"


def test_three_hundred_damaged_copies_never_crash_or_hang(small_ts, tmp_path):
    rng = np.random.default_rng(7)
    outcomes = {"audio": 0, "error": 0}
    for index in range(300):
        data = bytearray(small_ts)
        if index % 3 == 0:
            data = data[:rng.integers(0, len(data))]  # truncated anywhere, even to nothing
        else:
            for position in rng.integers(0, len(data), size=rng.integers(1, 200)):
                data[position] ^= 1 << rng.integers(8)  # scattered bit flips
        path = tmp_path / f"damaged{index}.ts"
        path.write_bytes(bytes(data))
        started = time.monotonic()
        outcomes[decode_or_error(path)] += 1
        assert time.monotonic() - started < 10, f"decoding {path.name} took too long"
        path.unlink()
    assert outcomes["audio"] > 150  # most damage leaves most of the audio decodable


def test_a_recording_cut_in_the_middle_keeps_the_audio_before_the_cut(small_ts, tmp_path):
    path = tmp_path / "cut.ts"
    path.write_bytes(small_ts[:len(small_ts) // 2])
    decoded = sum(len(c.samples) for c in decode_audio(path, RATE)) / RATE
    assert 2.0 < decoded < 4.0


@pytest.mark.parametrize("packet_bytes", [188, 192, 204])
def test_audio_after_a_run_of_zeros_is_read_on_and_keeps_its_time(tmp_path, caplog, packet_bytes):
    # A failed disk block or copy leaves zeros mid-file; FFmpeg's demuxer gave up on 300 kB of them,
    # and the rest of the recording was lost. Beeps of 0.4 s every 2 s, 20 s in all. The same in packets
    # of 192 bytes (M2TS, Topfield's recorders) or 204 (with parity): there reading stopped at the zeros
    # until 2026-12-07.
    times = np.arange(16000 * 20) / 16000
    beeps = (np.sin(2 * np.pi * 440 * times) * ((times % 2) < 0.4) * 0.3).astype(np.float32)
    path = write_recording(tmp_path / "zeros.ts", beeps, 16000, start_seconds=5000.0, video=True)
    if packet_bytes != 188:
        path.write_bytes(in_packets_of(path.read_bytes(), packet_bytes))
    path = with_zeroed_bytes(path, 0.4, 300_000)
    chunks = list(decode_audio(path, RATE))
    assert f"{path}: bytes" in caplog.text and "damaged: skipped, reading on after them" in caplog.text
    ends = [c.start + len(c.samples) / RATE for c in chunks]
    assert abs(ends[-1] - 20.0) < 0.1 and sum(len(c.samples) for c in chunks) / RATE < 17.0  # the damage lost

    def level(at: float) -> float:  # around `at` seconds, in the chunk that holds it
        chunk = next(c for c, end in zip(chunks, ends, strict=True) if c.start <= at - 0.05 and at + 0.05 <= end)
        offset = round((at - chunk.start) * RATE)
        return float(np.sqrt(np.mean(chunk.samples[offset - RATE // 20:offset + RATE // 20] ** 2)))

    assert level(18.2) > 0.15 and level(17.8) < 0.02 and level(18.6) < 0.02  # the last beep where it was


def test_demuxer_errors_read_as_damage_not_as_a_busy_device():
    # FFmpeg's MPEG-TS demuxer stopped on random bytes after a cut with EAGAIN (seen on a 20-minute
    # recording with trailing garbage): "Resource temporarily unavailable" sent users the wrong way.
    eagain = av.error.BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable", "x.ts")
    assert demux_failure(eagain) == "the data that follows is damaged (no packets could be read from it)"
    invalid = av.error.InvalidDataError(-1094995529, "Invalid data found when processing input", "x.ts")
    assert demux_failure(invalid) == "damaged data (Invalid data found when processing input)"
