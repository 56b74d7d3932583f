"""Decoding in a helper process gives what decoding in this one gives: chunks, warnings, errors."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import FIXTURES
from media import write_recording, write_timed_frames

import speakerspot
from speakerspot import audio, decoder_process
from speakerspot.audio import decode_audio, recording_facts
from speakerspot.config import TrackChoice
from speakerspot.decoder_process import (
    BATCH,
    END,
    HEADER,
    READY,
    MessageReader,
    WriterThread,
    decoded_in_helper,
    read_message,
    write_message,
)
from speakerspot.errors import MediaError
from speakerspot.threads import available_cores

RATE = 22050


def assert_same_chunks(first: list, second: list) -> None:
    assert [c.start for c in first] == [c.start for c in second]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.samples, b.samples)


def decoded_by_helper(path, sample_rate: int = RATE) -> list:
    with decoded_in_helper(path, sample_rate) as (_, chunks):
        return list(chunks)


@pytest.mark.parametrize("resample_up_to_seconds", [0.0, 3600.0])  # 92 s: resampled here, or in the helper
def test_the_helper_hands_on_the_same_chunks_and_states_the_duration(monkeypatch, resample_up_to_seconds):
    monkeypatch.setattr(decoder_process, "MAX_SECONDS_FOR_RESAMPLING_IN_HELPER", resample_up_to_seconds)
    sample = FIXTURES / "sample.ts"
    assert_same_chunks(decoded_by_helper(sample), list(decode_audio(sample, RATE)))
    helper = decoder_process.started_helper(decoder_process.helper_request(sample, TrackChoice(), RATE))
    try:
        assert helper.ready() == {"facts": recording_facts(sample).to_json(),
                                  "resampled": resample_up_to_seconds > 92, "pieces": None}
    finally:
        helper.close()


@pytest.mark.parametrize("resample_up_to_seconds", [0.0, 3600.0])
def test_audio_after_a_gap_is_timed_and_resampled_alike_in_the_helper(tmp_path, monkeypatch, resample_up_to_seconds):
    monkeypatch.setattr(decoder_process, "MAX_SECONDS_FOR_RESAMPLING_IN_HELPER", resample_up_to_seconds)
    # A gap drains the resampler: what it held ends the run before, the run after starts afresh.
    tone = np.sin(np.arange(48000 * 3) * 2 * np.pi * 440 / 48000).astype(np.float32)[None] * 0.3
    gapped = write_timed_frames(tmp_path / "gap.ts", "mp2", 48000, "mono", [(0.0, tone), (7.0, tone)])
    chunks = decoded_by_helper(gapped)
    assert_same_chunks(chunks, list(decode_audio(gapped, RATE)))
    assert chunks[-1].start == pytest.approx(7.0, abs=0.05)


def sample_times(chunks: list) -> np.ndarray:
    """The time of each chunk's first sample, by its number in the whole signal: (number, seconds) rows."""
    numbers = np.cumsum([0] + [len(c.samples) for c in chunks[:-1]])
    return np.array([numbers, [c.start for c in chunks]]).T


def time_of(sample_number: int, times: np.ndarray) -> float:
    """The time of a sample, by its number, from the `sample_times` of chunks."""
    number, start = times[times[:, 0] <= sample_number][-1]
    return start + (sample_number - number) / RATE


@pytest.mark.parametrize("decoders", [2, 3])
def test_several_decoders_hand_on_the_recording_as_one_decodes_it_across_a_wrap_and_a_gap(tmp_path, monkeypatch,
                                                                                         decoders):
    monkeypatch.setattr(decoder_process, "MAX_SECONDS_FOR_RESAMPLING_IN_HELPER", 0.0)  # pieces for any length
    monkeypatch.setattr(decoder_process, "PIECE_SECONDS", 1.5)
    # 10 s of stereo noise whose timestamps wrap 6 s in (33 bits at 90 kHz), 3 s missing, 6 s more
    wrap = 2**33 / 90000
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, (2, 48000 * 16)).astype(np.float32)
    path = write_timed_frames(tmp_path / "wrap.ts", "mp2", 48000, "stereo",
                              [(wrap - 6.0, noise[:, :480000]), (wrap + 7.0, noise[:, 480000:])])
    with decoded_in_helper(path, RATE, decoders=decoders) as (_, chunks):
        in_pieces = list(chunks)
    whole = list(decode_audio(path, RATE))
    # every sample as one decoding gives it, none lost or doubled at the seams of the pieces
    np.testing.assert_array_equal(np.concatenate([c.samples for c in in_pieces]),
                                  np.concatenate([c.samples for c in whole]))
    # and timed alike: the chunks are cut elsewhere (at the batches' ends), each starts where the whole's
    # timeline puts its first sample
    reference = sample_times(whole)
    for number, start in sample_times(in_pieces):
        assert start == pytest.approx(time_of(number, reference), abs=1e-6)
    assert time_of(0, reference) == pytest.approx(0.0, abs=1e-3)
    assert time_of(10 * RATE + 1000, reference) == pytest.approx(13.0 + 1000 / RATE, abs=0.01)  # after wrap and gap


def test_a_codec_change_is_followed_in_the_helper_and_its_log_reaches_the_caller(tmp_path, caplog):
    stereo = np.stack([np.sin(np.arange(48000 * 2) * 2 * np.pi * 440 / 48000).astype(np.float32) * 0.3] * 2)
    first = write_timed_frames(tmp_path / "mp2.ts", "mp2", 48000, "stereo", [(0.0, stereo)])
    second = write_timed_frames(tmp_path / "ac3.ts", "ac3", 48000, "5.1", [(2.0, np.zeros((6, 96000), np.float32))])
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    caplog.set_level(logging.INFO)
    chunks = decoded_by_helper(joined)
    assert "audio format changed" in caplog.text and "joined.ts" in caplog.text
    assert_same_chunks(chunks, list(decode_audio(joined, RATE)))


def test_the_helpers_errors_name_the_file_as_decoding_here_does(tmp_path):
    not_media = tmp_path / "notes.ts"
    not_media.write_text("not a recording\n" * 100)
    with pytest.raises(MediaError) as here:
        list(decode_audio(not_media, RATE))
    with pytest.raises(MediaError) as helper:
        decoded_by_helper(not_media)
    assert str(helper.value) == str(here.value) and "notes.ts" in str(helper.value)


def helper_saying_ready_then(tmp_path, name: str, then: str) -> str:
    """A stand-in for the helper's Python: says it is ready, as the helper does, then runs the shell line `then`."""
    fake = tmp_path / name
    said = b'{"facts": {"duration": null, "broadcast_time": null}, "resampled": true, "pieces": null}'
    ready = "".join(f"\\{byte:03o}" for byte in HEADER.pack(READY, len(said)) + said)
    fake.write_text(f"#!/bin/sh\nprintf '{ready}'\n{then}\n")
    fake.chmod(0o755)
    return str(fake)


def test_a_helper_that_dies_is_an_error_naming_the_file(monkeypatch, tmp_path):
    # It starts as the helper does, then dies without a word.
    monkeypatch.setattr(sys, "executable", helper_saying_ready_then(tmp_path, "dying-python", "exit 3"))
    with pytest.raises(MediaError, match=r"sample\.ts: the decoder process died \(exit code 3\)"):
        decoded_by_helper(FIXTURES / "sample.ts")


@pytest.mark.parametrize("executable", [shutil.which("false"), "/nonexistent/python"])
def test_where_the_helper_cannot_start_decoding_happens_here(monkeypatch, caplog, executable):
    monkeypatch.setattr(sys, "executable", executable)  # an embedded or frozen Python, say
    caplog.set_level(logging.INFO)
    sample = FIXTURES / "sample.ts"
    assert_same_chunks(decoded_by_helper(sample), list(decode_audio(sample, RATE)))
    assert "decoding in this process" in caplog.text


def test_a_helper_whose_output_holds_foreign_bytes_is_an_error_naming_the_file(monkeypatch, tmp_path):
    # A profiler or a library that writes to the helper's stdout makes garbage of its messages: that
    # is the decoder failing, in one line, not a huge allocation from a garbage length.
    chatty = helper_saying_ready_then(tmp_path, "chatty-python", "printf 'py-spy> Sampling process 100 times a second'")
    monkeypatch.setattr(sys, "executable", chatty)
    with pytest.raises(MediaError, match=r"sample\.ts: the decoder process died"):
        decoded_by_helper(FIXTURES / "sample.ts")


def test_a_cut_message_reads_as_the_end():
    whole = io.BytesIO()
    write_message(whole, BATCH, b"x" * 100)
    assert read_message(io.BytesIO(whole.getvalue())) == (BATCH, b"x" * 100)
    assert read_message(io.BytesIO(whole.getvalue()[:HEADER.size + 50])) == (b"", b"")
    assert read_message(io.BytesIO(b"")) == (b"", b"")


def test_messages_split_across_reads_and_longer_than_the_read_ahead_arrive_whole(monkeypatch):
    monkeypatch.setattr(MessageReader, "READ_BYTES", 7)  # every message spans several reads
    payloads = [bytes(range(256)) * 4, b"", b"xyz"]
    whole = io.BytesIO()
    for payload in payloads:
        write_message(whole, BATCH, payload)
    write_message(whole, END, b"")
    messages = MessageReader(io.BytesIO(whole.getvalue()), ahead_bytes=16)  # less than the first message
    assert [messages.next() for _ in range(4)] == [(BATCH, payload) for payload in payloads] + [(END, b"")]
    assert messages.next() == (b"", b"")  # after the end, as after a helper that died
    messages.stop()


def test_the_helpers_writer_thread_writes_everything_in_order_and_says_when_the_caller_has_gone():
    read_end, write_end = os.pipe()
    with open(read_end, "rb") as reading, open(write_end, "wb") as writing:
        writer = WriterThread(writing, ahead_bytes=10)  # less than a message: the writes wait their turn
        payloads = [bytes([n]) * (1000 * n) for n in range(1, 6)]
        received = []
        reader = threading.Thread(target=lambda: received.extend(read_message(reading) for _ in payloads))
        reader.start()
        for payload in payloads:
            write_message(writer, BATCH, payload)
        writer.close()
        reader.join(timeout=10)
        assert received == [(BATCH, payload) for payload in payloads]

    read_end, write_end = os.pipe()
    os.close(read_end)  # the caller has gone
    with open(write_end, "wb", buffering=0) as writing:
        writer = WriterThread(writing, ahead_bytes=1 << 20)
        with pytest.raises(BrokenPipeError):
            for _ in range(100):  # queued, or refused once the thread has met the closed pipe
                write_message(writer, BATCH, b"x" * 1000)
            writer.close()


def test_a_scan_finds_the_same_with_and_without_the_helper(reference_model):
    sample = FIXTURES / "sample.ts"  # 92 s: long enough for the helper
    helper = speakerspot.scan(reference_model, sample, decoder_process=True)
    here = speakerspot.scan(reference_model, sample, decoder_process=False)
    # The same chunks (tested above); scoring beside the helper uses one thread less, which may round
    # the sums of matrix products differently in the last bits on some CPUs.
    np.testing.assert_allclose(helper.window_scores, here.window_scores, rtol=0, atol=1e-5)
    assert helper.segments == here.segments


def test_a_helper_whose_caller_stops_reading_leaves_quietly():
    request = {"path": str(FIXTURES / "sample.ts"), "sample_rate": RATE, "resample_up_to_seconds": 3600.0,
               "track": {"audio_track": None, "language": None, "programme": None}, "log_level": logging.WARNING}
    helper = subprocess.Popen([sys.executable, "-m", "speakerspot.decoder_process", json.dumps(request)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert read_message(helper.stdout)[0] == READY
    helper.stdout.close()  # 92 s of audio is far more than the pipe holds: the helper's next writes fail
    assert helper.wait(timeout=60) == 1
    assert helper.stderr.read() == b""  # no traceback on the user's terminal


def test_a_scan_stopped_midway_stops_its_helper(reference_model, monkeypatch):
    helpers, popen = [], subprocess.Popen

    def recording_popen(*args, **kwargs):
        helpers.append(popen(*args, **kwargs))
        return helpers[-1]

    def interrupted(mels):
        raise KeyboardInterrupt

    monkeypatch.setattr(decoder_process.subprocess, "Popen", recording_popen)
    monkeypatch.setattr(reference_model, "score", interrupted)
    monkeypatch.setattr(decoder_process, "available_cores", lambda: 2)  # the helper runs only with a core for it
    with pytest.raises(KeyboardInterrupt):  # the traceback it keeps holds the scan's frames
        speakerspot.scan(reference_model, FIXTURES / "sample.ts", decoder_process=True)
    assert len(helpers) == 1 and helpers[0].poll() is not None
    # ... and the thread that read its messages ahead of the scan
    assert not [thread for thread in threading.enumerate() if thread.name == "speakerspot-decoder-reader"]


def test_a_helper_started_early_is_the_one_the_scan_takes_and_one_left_over_is_stopped(reference_model, monkeypatch):
    helpers, popen = [], subprocess.Popen

    def recording_popen(*args, **kwargs):
        helpers.append(popen(*args, **kwargs))
        return helpers[-1]

    monkeypatch.setattr(decoder_process.subprocess, "Popen", recording_popen)
    monkeypatch.setattr(decoder_process, "available_cores", lambda: 2)
    sample = FIXTURES / "sample.ts"
    rate = reference_model.front_end.sample_rate
    decoder_process.start_early(FIXTURES / "no such recording.ts", rate)  # the scan says what is wrong
    assert helpers == []
    decoder_process.start_early(sample, rate)
    assert len(helpers) == 1
    early = speakerspot.scan(reference_model, sample)
    assert len(helpers) == 1 and helpers[0].poll() is not None and decoder_process.early_helpers == {}
    assert early.segments == speakerspot.scan(reference_model, sample, decoder_process=False).segments
    decoder_process.start_early(sample, rate)  # not taken, as when the index finds the recording unchanged
    decoder_process.stop_early_helpers()  # at the end of the command, or at exit
    assert len(helpers) == 2 and helpers[1].poll() is not None and decoder_process.early_helpers == {}


def test_a_scan_command_leaves_no_helper_it_started_early(model_file, tmp_path):
    from click.testing import CliRunner

    from speakerspot.cli import cli

    shutil.copy(FIXTURES / "sample.ts", tmp_path / "sample.ts")
    command = ["scan", str(tmp_path / "sample.ts"), "-m", str(model_file), "--db", str(tmp_path / "index.sqlite"), "-q"]
    assert CliRunner().invoke(cli, command).exit_code == 0
    again = CliRunner().invoke(cli, command)  # the index has it: the helper started early is not taken
    assert again.exit_code == 0 and again.output
    assert decoder_process.early_helpers == {}


@pytest.mark.skipif(available_cores() < 2, reason="the helper decodes only with a core to spare")
def test_a_scan_command_whose_helper_decodes_never_loads_pyav(model_file, tmp_path):
    # The helper states the duration: the command's process needs no FFmpeg library of its own.
    output = tmp_path / "sample.json"
    code = ("import os, sys\n"
            "from speakerspot import cli\n"
            "exit_now = os._exit\n"
            "os._exit = lambda code: (print('av' in sys.modules, file=sys.stderr), exit_now(code))\n"
            "cli.main()")
    command = [sys.executable, "-c", code, "scan", str(FIXTURES / "sample.ts"), "-m", str(model_file), "-q",
               "-o", str(output)]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.strip() == "False" and output.stat().st_size > 0


def test_a_pipe_is_decoded_by_the_helper_where_the_helper_can_open_it(tmp_path, monkeypatch):
    import os
    from pathlib import Path

    fifo = tmp_path / "capture.ts"
    os.mkfifo(fifo)
    monkeypatch.setattr(decoder_process, "available_cores", lambda: 2)
    assert decoder_process.helper_pays(fifo, None)  # a capture's length is not known: usually long
    assert decoder_process.opens_in_helper(Path("/dev/stdin"))  # the helper is given the standard input
    assert not decoder_process.opens_in_helper(Path("/dev/fd/63"))  # bash's <(...): closed in the helper
    assert not decoder_process.helper_pays(FIXTURES / "sample.ts", 30.0)  # a short file: decoded here
    monkeypatch.setattr(decoder_process, "available_cores", lambda: 1)
    assert not decoder_process.helper_pays(fifo, None)


def test_several_decoders_follow_a_recording_whose_audio_goes_on_in_new_streams(tmp_path, monkeypatch):
    # Two recordings joined with `cat`, the second on other PIDs (a channel's programme change): pieces are
    # each read for the stream the recording begins with, so such a recording is read whole, following the
    # new streams as one decoder does. Until 2026-12-07 the second part was lost, a warning per piece.
    monkeypatch.setattr(decoder_process, "MAX_SECONDS_FOR_RESAMPLING_IN_HELPER", 0.0)
    monkeypatch.setattr(decoder_process, "PIECE_SECONDS", 1.5)
    tones = [(0.3 * np.sin(2 * np.pi * frequency * np.arange(4 * 48000) / 48000)).astype(np.float32)
             for frequency in (440, 1000)]
    first, second = (write_recording(tmp_path / f"{number}.ts", samples, 48000, video=True,
                                     first_pid=0x200 if number else None) for number, samples in enumerate(tones))
    # The second part stretched with null packets (which carry nothing) past the STREAM_PAUSE_BYTES the
    # helper looks at the end of the file for the first stream in.
    data = second.read_bytes()
    null_packets = (b"\x47\x1f\xff\x10" + b"\xff" * 184) * (audio.STREAM_PAUSE_BYTES // len(data) + 1)
    stretched = b"".join(data[at:at + 188] + null_packets for at in range(0, len(data), 188))
    assert len(stretched) > audio.STREAM_PAUSE_BYTES
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + stretched)
    with decoded_in_helper(joined, RATE, decoders=2) as (_, chunks):
        in_helpers = np.concatenate([c.samples for c in chunks])
    whole = np.concatenate([c.samples for c in decode_audio(joined, RATE)])
    assert abs(len(whole) / RATE - 8.0) < 0.1
    np.testing.assert_array_equal(in_helpers, whole)
