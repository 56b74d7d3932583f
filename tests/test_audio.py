"""Decoding: containers, stream choice, downmix, resampling, and times as a player shows them."""

from __future__ import annotations

import itertools
import os
import queue
import re
import socket
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import FIXTURES, SPEECH
from media import with_pts_bit_flipped, with_zeroed_bytes, write_recording, write_timed_frames

from speakerspot import audio
from speakerspot.audio import (
    Resampler,
    audio_streams,
    decode_audio,
    decoded_batches,
    joined_pieces,
    load_audio,
    mono_downmix_weights,
    open_container,
    recording_pieces,
    resampled_chunks,
    select_audio_stream,
    stream_decoder,
)
from speakerspot.byte_sources import PipeBytes
from speakerspot.config import TrackChoice
from speakerspot.errors import MediaError

RATE = 22050


def tone(seconds: float, frequency: float = 440.0, rate: int = 16000) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def burst_times(samples: np.ndarray, rate: int) -> np.ndarray:
    """Start times (s) of loud stretches after silence."""
    loud = np.abs(samples) > 0.05
    return np.flatnonzero(loud[1:] & ~loud[:-1]) / rate


@pytest.mark.parametrize("suffix", [".ts", ".mkv", ".mp4", ".wav", ".flac"])
def test_every_container_decodes_to_mono_at_22050_with_the_right_length(tmp_path, suffix):
    path = write_recording(tmp_path / f"tone{suffix}", tone(3.0), 16000)
    samples = load_audio(path, RATE)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) / RATE - 3.0) < 0.06
    spectrum = np.abs(np.fft.rfft(samples[RATE // 2:RATE // 2 + RATE]))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 s of signal: bins are 1 Hz apart


def test_times_start_at_zero_when_the_first_pts_is_hours_from_zero(tmp_path):
    signal = np.concatenate([np.zeros(16000 * 2, np.float32), tone(1.0), np.zeros(16000, np.float32)])
    path = write_recording(tmp_path / "late.ts", signal, 16000, start_seconds=10 * 3600, video=True)
    chunks = list(decode_audio(path, RATE))
    assert chunks[0].start < 0.05
    samples = np.concatenate([c.samples for c in chunks])
    onset = chunks[0].start + burst_times(samples, RATE)[0]
    assert abs(onset - 2.0) < 0.05


def test_a_gap_in_the_audio_stays_a_gap_in_time(tmp_path):
    # one second of audio, then four seconds of nothing, then one more second
    path = write_timed_frames(tmp_path / "gap.mkv", "pcm_s16le", 16000, "mono",
                              [(0.0, tone(1.0)[None, :]), (5.0, tone(1.0)[None, :])])
    chunks = list(decode_audio(path, RATE))
    assert [round(c.start, 2) for c in chunks] == [0.0, 5.0]


def test_audio_track_selects_the_stream_and_the_default_is_the_first(tmp_path):
    path = write_recording(tmp_path / "two.ts", tone(2.0, 440), 16000, extra_tracks=(tone(2.0, 1000),))
    with open_container(path) as container:
        assert [s.index for s in audio_streams(container)] == [0, 1]
    for track, frequency in ((None, 440), (0, 440), (1, 1000)):
        samples = load_audio(path, RATE, TrackChoice(audio_track=track))[:RATE]
        assert abs(np.argmax(np.abs(np.fft.rfft(samples))) - frequency) <= 1


def test_an_audio_description_track_is_not_scanned_by_default(tmp_path):
    # DVB: the narrated track for the visually impaired first, the programme second; FFmpeg's own choice,
    # and players', pass over the first, whose narrator is another voice throughout
    path = write_recording(tmp_path / "described.ts", tone(2.0, 440), 16000, extra_tracks=(tone(2.0, 1000),),
                           dispositions=("visual_impaired", ""))
    samples = load_audio(path, RATE)[:RATE]
    assert abs(np.argmax(np.abs(np.fft.rfft(samples))) - 1000) <= 1
    samples = load_audio(path, RATE, TrackChoice(audio_track=0))[:RATE]  # still there when asked for
    assert abs(np.argmax(np.abs(np.fft.rfft(samples))) - 440) <= 1



def test_a_listed_audio_stream_that_sends_nothing_is_passed_over(tmp_path):
    # A programme listing an audio PID that carries nothing (a dormant second language, say) first: FFmpeg's
    # own choice takes the next; the scan failed ("holds no decodable audio") until 2026-12-07.
    path = write_recording(tmp_path / "dormant-first.ts", np.zeros(0, np.float32), 16000,
                           extra_tracks=(tone(2.0, 1000),), video=True)
    samples = load_audio(path, RATE)[:RATE]
    assert abs(np.argmax(np.abs(np.fft.rfft(samples))) - 1000) <= 1
    # still there when asked for, and the error names the way to the other
    with pytest.raises(MediaError, match="holds no decodable audio; it has 1 other audio stream: `speakerspot info` "
                                         "lists them, --audio-track picks one"):
        load_audio(path, RATE, TrackChoice(audio_track=0))

def test_surround_downmix_keeps_the_centre_channel(tmp_path):
    planes = np.zeros((6, 48000 * 2), np.float32)
    planes[2] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(planes.shape[1]) / 48000)  # FC: dialogue
    path = write_timed_frames(tmp_path / "51.mka", "ac3", 48000, "5.1", [(0.0, planes)])
    samples = load_audio(path, RATE)
    level = np.sqrt(np.mean(samples[RATE // 2:RATE] ** 2))
    assert level > 0.5 / np.sqrt(2) * 0.3  # within about -10 dB of the centre channel's level


def test_mp2_decodes_with_the_faster_decoder_to_what_ffmpegs_own_choice_gives(tmp_path):
    path = write_recording(tmp_path / "mp2.mka", tone(3.0, 440) + tone(3.0, 1300), 16000, codec="mp2")
    with open_container(path) as container:
        stream = select_audio_stream(container, path)
        assert (stream.codec_context.name, stream_decoder(stream).name) == ("mp2", "mp2float")
        own = np.concatenate([frame.to_ndarray().mean(axis=0) for packet in container.demux(stream)
                              for frame in packet.decode()])
    faster = np.concatenate([batch.samples for batch in decoded_batches(path)]) / np.sqrt(0.5) / 2
    assert len(faster) == len(own)
    assert np.abs(faster - own / 32768).max() < 1e-4  # the fixed-point decoder's 16-bit output, up to its last bit


@pytest.mark.parametrize("layout", ["mono", "stereo", "5.1", "5.1(side)", "7.1"])
def test_the_downmix_done_in_numpy_is_ffmpegs(layout):
    channels = len(av.AudioLayout(layout).channels)
    planes = np.random.default_rng(0).uniform(-1, 1, (channels, 4800)).astype(np.float32)
    # FFmpeg's own downmix of the same samples, interleaved (PyAV makes no planar frame of 8 channels)
    ffmpeg = Resampler(None).resample(planes.T.reshape(1, -1), "flt", layout, 48000)
    np.testing.assert_allclose(mono_downmix_weights(layout) @ planes, ffmpeg, atol=1e-6)


def written(path, content: bytes):
    path.write_bytes(content)
    return path


def socket_file(path):
    """A UNIX socket's file: neither a file nor a pipe, it cannot be opened for reading."""
    with socket.socket(socket.AF_UNIX) as bound:
        bound.bind(str(path))
    return path


@pytest.mark.parametrize("make, problem", [
    (lambda d: d / "missing.ts", "no such file"),
    (lambda d: d, "is a directory"),
    (lambda d: written(d / "empty.ts", b""), "is empty"),
    (lambda d: written(d / "text.ts", b"not media at all\n" * 100), "not a media file"),
    (lambda d: written(d / "cut.ogg", (SPEECH / "train" / "rms" / "00.ogg").read_bytes()[:3000]),
     "ends before FFmpeg can tell what it holds: cut short"),
    (lambda d: socket_file(d / "capture.sock"), "cannot be opened (No such device or address)"),
])
def test_unreadable_input_names_the_file_and_the_problem(tmp_path, make, problem):
    path = make(tmp_path)
    with pytest.raises(MediaError) as raised:
        load_audio(path, RATE)
    assert str(path) in str(raised.value) and problem in str(raised.value)


def test_video_without_audio_and_a_missing_track_are_clear_errors(tmp_path):
    import av
    from media import add_video_stream, encode_video_second

    silent_video = tmp_path / "video.ts"
    with av.open(str(silent_video), "w") as container:
        stream = add_video_stream(container, silent_video)
        encode_video_second(container, stream, 0, 0.0)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(MediaError, match="has no audio stream"):
        load_audio(silent_video, RATE)
    path = write_recording(tmp_path / "one.ts", tone(1.0), 16000)
    with pytest.raises(MediaError, match="no audio track 3"):
        load_audio(path, RATE, TrackChoice(audio_track=3))


def test_language_picks_the_tagged_stream_and_an_unknown_one_is_named(tmp_path):
    import av

    path = write_recording(tmp_path / "langs.mkv", tone(2.0, 440), 16000, extra_tracks=(tone(2.0, 1000),))
    remuxed = tmp_path / "tagged.mkv"
    with av.open(str(path)) as source, av.open(str(remuxed), "w") as target:
        streams = {}
        for stream, language in zip(source.streams.audio, ("eng", "deu"), strict=True):
            streams[stream.index] = target.add_stream_from_template(stream)
            streams[stream.index].metadata["language"] = language
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                target.mux(packet)
    samples = np.concatenate([c.samples for c in decode_audio(remuxed, RATE, TrackChoice(language="deu"))])[:RATE]
    assert abs(np.argmax(np.abs(np.fft.rfft(samples))) - 1000) <= 1
    with pytest.raises(MediaError, match=r"no audio stream in language 'fra'.*deu, eng"):
        list(decode_audio(remuxed, RATE, TrackChoice(language="fra")))


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000])
@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT"])
def test_clips_of_any_rate_and_sample_format_decode_to_the_same_tone(tmp_path, rate, subtype):
    import soundfile

    path = tmp_path / f"clip-{rate}-{subtype}.wav"
    soundfile.write(path, tone(1.5, 440, rate), rate, subtype=subtype)
    samples = load_audio(path, RATE)
    assert abs(len(samples) / RATE - 1.5) < 0.01
    assert abs(np.argmax(np.abs(np.fft.rfft(samples[:RATE]))) - 440) <= 1
    assert abs(np.sqrt(np.mean(samples[RATE // 4:RATE] ** 2)) - 0.3 / np.sqrt(2)) < 0.02


def onsets(chunks: list, rate: int = RATE) -> np.ndarray:
    """Times (s) where the level rises from silence, in 50 ms blocks."""
    samples = np.concatenate([c.samples for c in chunks])
    block = rate // 20
    loud = np.sqrt(np.mean(samples[:len(samples) // block * block].reshape(-1, block) ** 2, axis=1)) > 0.05
    return chunks[0].start + np.flatnonzero(loud[1:] & ~loud[:-1]) * block / rate + block / rate


def test_times_run_on_across_the_pts_wrap_at_2_to_the_33(tmp_path):
    # MPEG-TS timestamps are 33 bits at 90 kHz: they wrap after about 26.5 hours
    wrap_seconds = 2**33 / 90000
    silence = np.zeros(16000 * 3, np.float32)
    signal = np.concatenate([silence, tone(1.0), silence, tone(1.0), silence])  # tones at 3 s and 7 s
    path = write_recording(tmp_path / "wrap.ts", signal, 16000, start_seconds=wrap_seconds - 5, video=True)
    chunks = list(decode_audio(path, RATE))
    assert abs(chunks[0].start) < 0.05 and abs(sum(len(c.samples) for c in chunks) / RATE - 11.0) < 0.1
    np.testing.assert_allclose(onsets(chunks), [3.0, 7.0], atol=0.06)  # the second one after the wrap


def captures_joined(folder: Path, parts: list[list[tuple[float, float, float]]]) -> Path:
    """One MPEG-TS file of captures joined end to end, as a recorder's splices make them: each capture
    a list of (timestamp, seconds, frequency) stereo MP2 tones, timed from its own timestamps."""
    files = []
    for number, tones in enumerate(parts):
        pieces = [(start, np.stack([tone(seconds, frequency, 48000)] * 2)) for start, seconds, frequency in tones]
        files.append(write_timed_frames(folder / f"capture{number}.ts", "mp2", 48000, "stereo", pieces))
    joined = folder / "joined.ts"
    joined.write_bytes(b"".join(path.read_bytes() for path in files))
    return joined


def runs_of(chunks: list) -> list[tuple[float, float]]:
    """(start, seconds) of each run of audio without a gap, from decoded chunks."""
    runs: list[list[float]] = []
    for chunk in chunks:
        if runs and abs(chunk.start - sum(runs[-1])) < 0.01:
            runs[-1][1] += len(chunk.samples) / RATE
        else:
            runs.append([chunk.start, len(chunk.samples) / RATE])
    return [(round(start, 1), round(seconds, 1)) for start, seconds in runs]


def test_a_gap_after_a_timestamp_jump_stays_a_gap(tmp_path):
    # 2 s at 10 h, then timestamps jump back to 1 h (counted on), where 3 s of audio are missing after 2 s
    path = captures_joined(tmp_path, [[(36000.0, 2.0, 440)], [(3600.0, 2.0, 1000), (3605.0, 2.0, 2000)]])
    chunks = list(decode_audio(path, RATE))
    assert runs_of(chunks) == [(0.0, 4.0), (7.0, 2.0)]  # before 2026-12-06: [(0.0, 6.0)], the gap lost
    assert runs_of(chunks_in_pieces(path, 1.0)) == [(0.0, 4.0), (7.0, 2.0)]  # decoded as several processes do


def test_jumps_back_that_add_up_past_the_wrap_are_counted_on_not_read_as_a_gap(tmp_path):
    # eight captures of a second, each 3.5 h of timestamps before the last (a stream spliced again and
    # again): 24.5 h of jumps back read, the short way round the 26.5-hour wrap, as a gap of 2 h forward
    path = captures_joined(tmp_path, [[(25 * 3600.0 - 3.5 * 3600 * number, 1.0, 440)] for number in range(8)])
    for chunks in (list(decode_audio(path, RATE)), chunks_in_pieces(path, 1.0)):
        ((start, seconds),) = runs_of(chunks)  # before 2026-12-06: a second run 2 h later
        assert abs(start) < 0.05 and abs(seconds - 8.0) < 0.2  # each MP2 capture ends on a whole frame


def test_one_frame_whose_timestamp_jumps_does_not_move_the_times_after_it(tmp_path):
    # a single frame 100 minutes back (a damaged timestamp), then the stream where it was: counted on, as
    # a jump is, but the frames after it are read on the old timestamps (read on from the jump, they
    # would seem 100 minutes ahead, a gap of that long)
    path = captures_joined(tmp_path, [[(36000.0, 2.0, 440)], [(30000.0, 1152 / 48000, 440)],
                                      [(36002.05, 2.0, 440)]])
    ((start, seconds),) = runs_of(list(decode_audio(path, RATE)))
    assert abs(start) < 0.05 and abs(seconds - 4.1) < 0.15


@pytest.mark.parametrize("bit", [20, 28])  # 11.7 s, 49.7 min ahead
def test_a_timestamp_a_reception_error_damaged_does_not_move_the_times_after_it(tmp_path, bit):
    # before 2026-12-06 the frame was taken as coming after a gap, and everything after it moved as far
    damaged = with_pts_bit_flipped(FIXTURES / "sample.ts", tmp_path / "damaged.ts", 500, bit)
    assert runs_of(list(decode_audio(damaged, RATE))) == runs_of(list(decode_audio(FIXTURES / "sample.ts", RATE)))


def test_a_codec_change_on_the_same_stream_is_followed(tmp_path):
    # stereo MP2 for 3 s, then the same PID carries AC3 5.1 (dialogue in the centre), as when a film starts
    stereo = np.stack([tone(3.0, 440, 48000)] * 2)
    first = write_timed_frames(tmp_path / "mp2.ts", "mp2", 48000, "stereo", [(0.0, stereo)])
    planes = np.zeros((6, 48000 * 3), np.float32)
    planes[2] = tone(3.0, 1000, 48000)
    second = write_timed_frames(tmp_path / "ac3.ts", "ac3", 48000, "5.1", [(3.0, planes)])
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    chunks = list(decode_audio(joined, RATE))
    samples = np.concatenate([c.samples for c in chunks])
    assert chunks[0].start == 0.0 and abs(len(samples) / RATE - 6.0) < 0.05  # no time lost, none added
    for start, frequency in ((1.0, 440), (4.0, 1000)):
        second_of_audio = samples[int(start * RATE):int(start * RATE) + RATE]
        assert abs(np.argmax(np.abs(np.fft.rfft(second_of_audio))) - frequency) <= 1
        assert np.sqrt(np.mean(second_of_audio ** 2)) > 0.15


@pytest.mark.parametrize(("parts", "interleaved"), [(2, 0), (3, 0), (3, 60)])
@pytest.mark.parametrize("through", ["file", "pipe"])
def test_a_recording_that_goes_on_with_new_streams_is_followed(tmp_path, monkeypatch, parts, interleaved, through):
    # Recordings joined with `cat`, the second's streams on other PIDs, as after a programme change or
    # from another channel (three parts: the first's PIDs come back, as after a regional window, and
    # where `interleaved`, the third's first packets come among the second's last ones, as a multiplexer
    # switching may send them): the second's main track takes over (not the first's second track, which
    # ran beside the main one), and the audio of each part is counted on after the one before. Through a
    # pipe too (a live channel): until 2026-12-06 it gave the first part alone, and nothing said so.
    frequencies = (440, 1000, 1500)[:parts]
    files = [write_recording(tmp_path / f"{number}.ts", tone(4.0, frequency, 48000), 48000,
                             extra_tracks=(tone(4.0, 700, 48000),), video=True,
                             first_pid=0x200 if number == 1 else None)
             for number, frequency in enumerate(frequencies)]
    contents = [path.read_bytes() for path in files]
    if interleaved:
        packets = [[part[at:at + 188] for at in range(0, len(part), 188)] for part in contents[1:]]
        mixed = itertools.chain.from_iterable(zip(packets[0][-interleaved:], packets[1][:interleaved], strict=True))
        contents[1:] = [b"".join(packets[0][:-interleaved]) + b"".join(mixed), b"".join(packets[1][interleaved:])]
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(contents))
    # these parts are small: a pause of the first PID as long as the second part is one, and streams
    # that ran beside another are those with a packet in the last tenth of a part before its end
    monkeypatch.setattr(audio, "STREAM_PAUSE_BYTES", files[1].stat().st_size // 2)
    monkeypatch.setattr(audio, "STREAM_OVERLAP_BYTES", files[1].stat().st_size // 10)
    samples = np.concatenate([c.samples for c in decode_audio(piped(joined) if through == "pipe" else joined, RATE)])
    assert abs(len(samples) / RATE - 4.0 * parts) < 0.1
    for number, frequency in enumerate(frequencies):
        second_of_audio = samples[int((4 * number + 1) * RATE):int((4 * number + 2) * RATE)]
        assert abs(np.argmax(np.abs(np.fft.rfft(second_of_audio))) - frequency) <= 1



def test_a_live_radio_stream_on_new_pids_is_followed_before_the_pipe_ends(tmp_path):
    # A radio service piped in live (audio alone, some 20 kB/s), whose programme goes on in new PIDs: the
    # new stream is taken once the first has been silent for PAUSE_SECONDS of the pipe's own rate (at least
    # MIN_PAUSE_BYTES), not for 8 MB of it, which such a stream brings in some 5 minutes. Until 2026-12-07
    # the 60 s that followed never came out while the pipe stayed open.
    first = write_recording(tmp_path / "first.ts", tone(10.0, 440, 48000), 48000, bit_rate=128_000)
    second = write_recording(tmp_path / "second.ts", tone(90.0, 1000, 48000), 48000, start_seconds=10.0,
                             bit_rate=128_000, first_pid=0x200)
    data = first.read_bytes() + second.read_bytes()
    assert len(second.read_bytes()) < audio.STREAM_PAUSE_BYTES // 2  # the first stream's silence, on the pipe
    fifo = tmp_path / "radio.fifo"
    os.mkfifo(fifo)
    done = threading.Event()

    def broadcast() -> None:  # and stay on air: no end of the pipe to read to
        with open(fifo, "wb") as channel:
            channel.write(data)
            channel.flush()
            done.wait(120)

    threading.Thread(target=broadcast, daemon=True).start()
    chunks: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [chunks.put(c) for c in decode_audio(fifo, RATE, chunk_seconds=1.0)],
                     daemon=True).start()
    samples = []
    try:
        while sum(len(c) for c in samples) < 40 * RATE:  # the first 10 s and 30 s of the second part
            samples.append(chunks.get(timeout=60).samples)
    finally:
        done.set()
    joined = np.concatenate(samples)
    for start, frequency in ((1.0, 440), (20.0, 1000), (35.0, 1000)):
        second_of_audio = joined[int(start * RATE):int((start + 1) * RATE)]
        assert abs(np.argmax(np.abs(np.fft.rfft(second_of_audio))) - frequency) <= 1

def test_a_track_that_ran_beside_the_one_scanned_does_not_take_over_when_it_ends(tmp_path, caplog):
    # The main track ends at 3 s, a second language goes on: it is another track, not what follows.
    path = write_recording(tmp_path / "two-tracks.ts", tone(3.0, 440, 48000), 48000,
                           extra_tracks=(tone(6.0, 700, 48000),), video=True)
    samples = np.concatenate([c.samples for c in decode_audio(path, RATE)])
    assert abs(len(samples) / RATE - 3.0) < 0.1
    assert "stops" not in caplog.text  # 3 s before the end: a recording's tail
    # Where the rest is long, the scan says it is not scanned: the second track alone for 95 s more.
    rest = write_recording(tmp_path / "rest.ts", tone(95.0, 700, 48000), 48000, start_seconds=3.0, first_pid=0x102)
    joined = tmp_path / "long-tail.ts"
    joined.write_bytes(path.read_bytes() + rest.read_bytes())
    samples = np.concatenate([c.samples for c in decode_audio(joined, RATE)])
    assert abs(len(samples) / RATE - 3.0) < 0.1
    said = re.search(r"its audio stops some (\d+) s before the end of the recording .* the rest is not scanned",
                     caplog.text)
    assert said and 80 <= int(said.group(1)) <= 100  # from the file's bit rate


def test_codec_changes_are_followed_however_many_with_audio_between_them(tmp_path, monkeypatch):
    # A live channel followed for weeks changes codec at every film: the bound is on readings again in a
    # row with no audio between them, not on all of them (here 1, and two changes).
    monkeypatch.setattr(audio, "MAX_REOPENINGS", 1)
    samples = np.concatenate([c.samples for c in decode_audio(news_film_news(tmp_path), RATE)])
    assert abs(len(samples) / RATE - 9.0) < 0.05


def test_codec_changes_on_a_pipe_are_followed_as_in_the_file(tmp_path):
    # A live channel piped in: the pipe is read again from the first packet of the new codec, from the bytes
    # it keeps, as a file is. Until 2026-12-06 it was read on from where it was, and 0.3-0.6 s were lost at
    # each change; earlier still, the scan failed at the first film.
    path = news_film_news(tmp_path)
    from_file, from_pipe = list(decode_audio(path, RATE)), list(decode_audio(piped(path), RATE))
    assert [c.start for c in from_pipe] == [c.start for c in from_file]
    np.testing.assert_array_equal(np.concatenate([c.samples for c in from_pipe]),
                                  np.concatenate([c.samples for c in from_file]))


def test_a_pipe_keeps_a_bounded_tail_that_can_be_read_again(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 5 << 20, dtype=np.uint8).tobytes()
    (tmp_path / "bytes.bin").write_bytes(data)
    pipe = PipeBytes(piped(tmp_path / "bytes.bin"), max_kept=1 << 20)
    head = pipe.view(0)
    assert b"".join(iter(lambda: head.read(1 << 16), b"")) == data
    assert sum(len(chunk) for chunk in pipe.chunks) <= (1 << 20) + (1 << 16)  # memory does not grow with the pipe
    tail = pipe.view(len(data) - 500_000)
    assert b"".join(iter(lambda: tail.read(1 << 16), b"")) == data[-500_000:]


def piped(path: Path) -> Path:
    """A FIFO beside `path` that a thread writes `path` into once, as a capture card or `cat` would."""
    fifo = path.with_suffix(".fifo")
    os.mkfifo(fifo)
    threading.Thread(target=lambda: fifo.write_bytes(path.read_bytes()), daemon=True).start()
    return fifo


def news_film_news(folder) -> Path:
    """MP2 news (440 Hz) for 3 s, an AC3 5.1 film (1 kHz in the centre), MP2 news (2 kHz) again, on one PID."""
    parts = []
    for start, codec, layout, frequency in ((0.0, "mp2", "stereo", 440), (3.0, "ac3", "5.1", 1000),
                                            (6.0, "mp2", "stereo", 2000)):
        planes = np.zeros((2 if layout == "stereo" else 6, 48000 * 3), np.float32)
        planes[[0, 1] if layout == "stereo" else [2]] = tone(3.0, frequency, 48000)  # 5.1: the centre
        parts.append(write_timed_frames(folder / f"{start}.ts", codec, 48000, layout, [(start, planes)]))
    joined = folder / "news-film-news.ts"
    joined.write_bytes(b"".join(part.read_bytes() for part in parts))
    return joined


def test_the_codec_changing_back_is_followed_too(tmp_path):
    # the second change is found where it is (until 2026-12-04 the file was read again from a byte
    # counted from the first change, and 9 s of audio came out as 288)
    chunks = list(decode_audio(news_film_news(tmp_path), RATE))
    samples = np.concatenate([c.samples for c in chunks])
    assert chunks[0].start == 0.0 and abs(len(samples) / RATE - 9.0) < 0.05
    for start, frequency in ((1.0, 440), (4.0, 1000), (7.0, 2000)):
        second_of_audio = samples[int(start * RATE):int(start * RATE) + RATE]
        assert abs(np.argmax(np.abs(np.fft.rfft(second_of_audio))) - frequency) <= 1


def chunks_in_pieces(path, piece_seconds: float) -> list:
    """The recording decoded piece by piece, the pieces joined, resampled: as several processes give it."""
    pieces = recording_pieces(path, TrackChoice(), piece_seconds)
    return list(resampled_chunks(joined_pieces(decoded_batches(path, piece=piece) for piece in pieces), RATE))


def in_pieces(path, piece_seconds: float) -> np.ndarray:
    return np.concatenate([c.samples for c in chunks_in_pieces(path, piece_seconds)])


def test_pieces_joined_across_codec_changes_are_the_recording_decoded_whole(tmp_path):
    # pieces of 1 s: some end on the first frames of the new codec, some begin in them
    path = news_film_news(tmp_path)
    whole = np.concatenate([c.samples for c in decode_audio(path, RATE)])
    joined = in_pieces(path, 1.0)
    assert len(joined) == len(whole)
    news = np.r_[0:int(2.9 * RATE), int(6.1 * RATE):int(8.9 * RATE)]
    np.testing.assert_array_equal(joined[news], whole[news])  # MP2 sample for sample
    film = slice(int(3.1 * RATE), int(5.9 * RATE))
    np.testing.assert_allclose(joined[film], whole[film], atol=1e-3)  # AC3 dithers anew in each decoder


def test_a_pipe_is_read_on_after_damaged_bytes(tmp_path, caplog):
    # 300 kB of zeros, where FFmpeg's demuxer gives up: a file is read again after them; a pipe, read on
    # from where it is, gives the same audio at the same times. Before, its reading stopped there.
    path = with_zeroed_bytes(write_recording(tmp_path / "zeros.ts", tone(20.0), 16000, video=True), 0.4, 300_000)
    from_file = list(decode_audio(path, RATE))
    from_pipe = list(decode_audio(piped(path), RATE))
    assert "where the pipe is" in caplog.text
    assert [c.start for c in from_pipe] == [c.start for c in from_file] and len(from_file) > 1
    np.testing.assert_array_equal(np.concatenate([c.samples for c in from_pipe]),
                                  np.concatenate([c.samples for c in from_file]))


def test_pieces_joined_across_damaged_bytes_are_the_recording_decoded_whole(tmp_path, caplog):
    path = with_zeroed_bytes(write_recording(tmp_path / "zeros.ts", tone(20.0), 16000, video=True), 0.4, 300_000)
    whole = np.concatenate([c.samples for c in decode_audio(path, RATE)])
    caplog.clear()
    np.testing.assert_array_equal(in_pieces(path, 1.0), whole)
    assert caplog.text.count("are damaged") == 1  # said by the piece it begins in
