"""Build test recordings with PyAV: MPEG-TS, Matroska, MP4, WAV… from arrays of samples.

The tests make their containers with this so they need no ffmpeg binary.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from speakerspot.service_tables import head_of, programmes_in

SAMPLE_RATE_48K = 48000
VIDEO_FPS = 25  # MPEG-2 video allows only the broadcast frame rates
DEFAULT_CODECS = {".ts": "mp2", ".mkv": "flac", ".mp4": "aac", ".wav": "pcm_s16le", ".flac": "flac",
                  ".ogg": "libvorbis", ".mp3": "libmp3lame", ".mka": "ac3"}


def write_recording(path: Path, samples: np.ndarray, rate: int, *, start_seconds: float = 0.0,
                    codec: str | None = None, layout: str = "stereo", out_rate: int = SAMPLE_RATE_48K,
                    extra_tracks: tuple[np.ndarray, ...] = (), video: bool = False,
                    bit_rate: int | None = None, dispositions: tuple[str, ...] = (),
                    first_pid: int | None = None) -> Path:
    """Write mono `samples` (float32 at `rate` Hz) as the first audio track of a container.

    `extra_tracks` are further mono tracks at the same rate (each may be longer or shorter than the
    first); `dispositions` names a disposition for each track in turn ("visual_impaired": audio
    description; "" none); `start_seconds` is the first PTS; `bit_rate` (bit/s) overrides the encoder's
    default; `video` adds a tiny video stream (MPEG-2 in TS, MPEG-4 elsewhere) ahead of the audio;
    `first_pid` numbers an MPEG-TS file's streams from it (FFmpeg's default: 0x100).
    Blocks of one second are interleaved across streams, as a recorder would write them.
    """
    path = Path(path)
    codec = codec or DEFAULT_CODECS[path.suffix]
    tracks = [samples, *extra_tracks]
    options = {"mpegts_start_pid": str(first_pid)} if first_pid is not None else {}
    with av.open(str(path), "w", options=options) as container:
        video_stream = add_video_stream(container, path) if video else None
        audio_streams = []
        for number, _ in enumerate(tracks):
            stream = container.add_stream(codec, rate=out_rate)
            if number < len(dispositions) and dispositions[number]:
                stream.disposition = av.stream.Disposition[dispositions[number]]
            stream.layout = layout
            stream.time_base = Fraction(1, out_rate)
            if bit_rate:
                stream.bit_rate = bit_rate
            audio_streams.append(stream)
        for second in range(int(np.ceil(max(len(track) for track in tracks) / rate))):
            if video_stream is not None:
                encode_video_second(container, video_stream, second, start_seconds)
            for stream, track in zip(audio_streams, tracks, strict=False):
                piece = track[second * rate:(second + 1) * rate]
                if len(piece):
                    encode_audio(container, stream, piece, rate, round(start_seconds * rate) + second * rate)
        for stream in ([video_stream] if video_stream else []) + audio_streams:
            for packet in stream.encode(None):
                container.mux(packet)
    return path


def encode_audio(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream,
                 piece: np.ndarray, rate: int, pts: int) -> None:
    if len(piece) == 0:
        return
    channels = stream.codec_context.layout.nb_channels
    planar = np.repeat(np.ascontiguousarray(piece, dtype=np.float32)[None, :], channels, axis=0)
    frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=stream.codec_context.layout.name)
    frame.sample_rate = rate
    frame.time_base = Fraction(1, rate)
    frame.pts = pts
    for packet in stream.encode(frame):
        container.mux(packet)


def add_video_stream(container: av.container.OutputContainer, path: Path) -> av.video.stream.VideoStream:
    stream = container.add_stream("mpeg2video" if path.suffix == ".ts" else "mpeg4", rate=VIDEO_FPS)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    stream.time_base = Fraction(1, VIDEO_FPS)
    return stream


def encode_video_second(container: av.container.OutputContainer, stream: av.video.stream.VideoStream,
                        second: int, start_seconds: float) -> None:
    for index in range(second * VIDEO_FPS, (second + 1) * VIDEO_FPS):
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index % 255, np.uint8), format="rgb24")
        frame.pts = round(start_seconds * VIDEO_FPS) + index
        frame.time_base = Fraction(1, VIDEO_FPS)
        for packet in stream.encode(frame):
            container.mux(packet)


def write_timed_frames(path: Path, codec: str, rate: int, layout: str,
                       pieces: list[tuple[float, np.ndarray]]) -> Path:
    """One audio stream of `codec` made of planar float32 `pieces` (channels, samples), each at its
    own start time in seconds: gaps between them stay gaps."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = layout
        stream.time_base = Fraction(1, rate)
        for start_seconds, planes in pieces:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes, dtype=np.float32), format="fltp",
                                               layout=layout)
            frame.sample_rate, frame.time_base, frame.pts = rate, Fraction(1, rate), round(start_seconds * rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return Path(path)


class EndlessRecording:
    """A FIFO at `path` that serves a WAV stream without end (noise, `rate` Hz mono, 16-bit), a second
    of audio every 50 ms, to every reader that opens it: a scan of it never finishes on its own. For
    tests that must stop a scan part way whatever the machine's speed. Use as a context manager."""

    def __init__(self, path: Path, rate: int = 16000):
        import os
        import threading

        self.path, self.rate = Path(path), rate
        os.mkfifo(self.path)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def __enter__(self) -> EndlessRecording:
        self.thread.start()
        return self

    def header(self) -> bytes:
        import struct

        unknown = 0xFFFFFFFF  # a stream: no length
        return (b"RIFF" + struct.pack("<I", unknown) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, self.rate,
                                                                                    2 * self.rate, 2, 16)
                + b"data" + struct.pack("<I", unknown))

    def serve(self) -> None:
        rng = np.random.default_rng(0)
        while not self.stopping.is_set():
            try:
                with open(self.path, "wb") as pipe:  # waits for a reader
                    pipe.write(self.header())
                    while not self.stopping.is_set():
                        pipe.write((rng.normal(0, 3000, self.rate)).astype("<i2").tobytes())
                        pipe.flush()
                        self.stopping.wait(0.05)
            except (BrokenPipeError, ConnectionResetError):  # that reader is gone: serve the next one
                continue

    def __exit__(self, *exception) -> None:
        import os

        self.stopping.set()
        try:  # a writer waiting for a reader: give it one, so that it sees the stop
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
        except OSError:
            pass
        self.thread.join(timeout=5)
        self.path.unlink()


def with_zeroed_bytes(path: Path, where: float, count: int) -> Path:
    """`path` with `count` bytes zeroed from `where` (a fraction of its length) on, as a failed disk
    block or copy leaves them."""
    data = bytearray(path.read_bytes())
    first = int(len(data) * where)
    data[first:first + count] = bytes(count)
    path.write_bytes(bytes(data))
    return path


def with_pts_bit_flipped(path: Path, target: Path, pes_number: int, bit: int) -> Path:
    """A copy of the MPEG-TS file at `path` in which bit `bit` of the timestamp (PTS, 90 kHz) of its
    `pes_number`-th audio PES packet is flipped, as a reception error may flip it."""
    data = bytearray(path.read_bytes())
    found = 0
    for offset in range(0, len(data), 188):
        packet = data[offset:offset + 188]
        if packet[0] != 0x47 or not packet[1] & 0x40:  # a packet that starts a PES packet
            continue
        payload = 4 + (1 + packet[4] if packet[3] & 0x20 else 0)  # after the adaptation field, if any
        if packet[payload:payload + 3] != b"\x00\x00\x01" or not 0xC0 <= packet[payload + 3] <= 0xDF:
            continue  # not an audio stream's
        found += 1
        if found == pes_number:
            at = offset + payload + 9  # the 5 bytes of the PTS: 3 + 15 + 15 bits, each part ended by a marker bit
            stamp = data[at:at + 5]
            pts = ((stamp[0] >> 1) & 7) << 30 | stamp[1] << 22 | (stamp[2] >> 1) << 15 | stamp[3] << 7 | stamp[4] >> 1
            pts ^= 1 << bit
            data[at:at + 5] = bytes([(stamp[0] & 0xF1) | (pts >> 29 & 0x0E), pts >> 22 & 0xFF,
                                     (pts >> 14 & 0xFE) | 1, pts >> 7 & 0xFF, (pts << 1 & 0xFE) | 1])
            target.write_bytes(data)
            return target
    raise ValueError(f"{path} has fewer than {pes_number} audio PES packets")


def audio_byte_offset(path: Path, seconds: float) -> int:
    """Where in the file at `path` its first audio stream's packets reach `seconds` after its first one:
    the byte offset of the first packet timed that late."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        first = None
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            first = packet.pts if first is None else first
            if (packet.pts - first) * stream.time_base >= seconds:
                return packet.pos
    raise ValueError(f"{path} holds less than {seconds} s of audio")


def in_packets_of(data: bytes, size: int) -> bytes:
    """The MPEG-TS recording `data` in packets of `size` bytes as other recorders write them: 192, each
    after 4 bytes of its arrival time (30 bits at 27 MHz: M2TS, AVCHD, Blu-ray, Topfield's recorders),
    or 204, each before 16 bytes of Reed-Solomon parity (a DVB card's raw capture)."""
    assert size in (192, 204) and len(data) % 188 == 0
    out = bytearray()
    for number, at in enumerate(range(0, len(data), 188)):
        packet = data[at:at + 188]
        if size == 192:
            out += (number * 2700 & 0x3FFFFFFF).to_bytes(4, "big") + packet
        else:
            out += packet + bytes((number * 7 + k) % 256 for k in range(16))
    return bytes(out)


def remuxed(source: Path, target: Path, container_format: str) -> Path:
    """The first audio stream of `source`, its packets as they are, in a `container_format` file at `target`."""
    with av.open(str(source)) as recording, av.open(str(target), "w", format=container_format) as out:
        copied = out.add_stream_from_template(recording.streams.audio[0])
        for packet in recording.demux(recording.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = copied
                out.mux(packet)
    return target


# MPEG-TS tables as a tuner recording a whole multiplex writes them (see `speakerspot.service_tables`).


def mpeg2_crc(data: bytes) -> bytes:
    """CRC-32/MPEG-2 bit by bit (the reader's is table-driven)."""
    crc = 0xFFFFFFFF
    for byte in data:
        for bit in range(7, -1, -1):
            top = (crc >> 31) ^ (byte >> bit & 1)
            crc = (crc << 1 & 0xFFFFFFFF) ^ (0x04C11DB7 if top else 0)
    return crc.to_bytes(4, "big")


def section(table: int, extension: int, body: bytes) -> bytes:
    """A long-form PSI section: table id, length, its extension (programme or stream id), version 0, CRC."""
    length = 5 + len(body) + 4
    head = bytes([table, 0xB0 | length >> 8, length & 0xFF, extension >> 8, extension & 0xFF, 0xC1, 0, 0]) + body
    return head + mpeg2_crc(head)


def pat(programmes: dict[int, int]) -> bytes:
    """programme number: its PMT's PID."""
    return section(0x00, 1, b"".join(bytes([n >> 8, n & 0xFF, 0xE0 | pid >> 8, pid & 0xFF])
                                     for n, pid in programmes.items()))


def pmt(number: int, streams: dict[int, int]) -> bytes:
    """elementary PID: stream type; a descriptor of the programme first, to be skipped."""
    descriptor = bytes([0x0E, 3, 0xC0, 0, 0])  # a maximum bitrate descriptor
    return section(0x02, number, bytes([0xE1, 0x00, 0xF0, len(descriptor)]) + descriptor + b"".join(
        bytes([kind, 0xE0 | pid >> 8, pid & 0xFF, 0xF0, 0]) for pid, kind in streams.items()))


def sdt(names: dict[int, bytes]) -> bytes:
    """programme number: its name, as broadcast (a character table's byte first, or none)."""
    services = b""
    for number, name in names.items():
        provider = b"ARD"
        descriptor = bytes([0x48, 3 + len(provider) + len(name), 0x01, len(provider)]) + provider + \
            bytes([len(name)]) + name
        services += bytes([number >> 8, number & 0xFF, 0xFC, 0x80 | len(descriptor) >> 8, len(descriptor) & 0xFF])
        services += descriptor
    return section(0x42, 1, bytes([0, 1, 0xFF]) + services)


def packets(pid: int, table: bytes) -> bytes:
    """`table` in MPEG-TS packets of `pid`: the first marks where it begins (a pointer of 0), 0xFF after it."""
    payload = b"\x00" + table
    chunks = [payload[at:at + 184] for at in range(0, len(payload), 184)]
    return b"".join(bytes([0x47, (0x40 if number == 0 else 0) | pid >> 8, pid & 0xFF, 0x10 | number % 16])
                    + chunk.ljust(184, b"\xff") for number, chunk in enumerate(chunks))


def with_multiplex_tables(data: bytes, programmes: list[tuple[bytes, dict[int, int]]]) -> bytes:
    """MPEG-TS `data` of one programme, as FFmpeg writes it (its PAT, its PMT on PID 0x1000, its SDT), with those
    tables replaced by a PAT, a PMT per programme and an SDT naming them, as a tuner recording a whole multiplex
    writes them: `programmes` as (name as broadcast, {elementary PID: stream type}), numbered from 1."""
    tables = packets(0x00, pat({number + 1: 0x1000 + number for number in range(len(programmes))}))
    tables += b"".join(packets(0x1000 + number, pmt(number + 1, streams))
                       for number, (_, streams) in enumerate(programmes))
    tables += packets(0x11, sdt({number + 1: name for number, (name, _) in enumerate(programmes)}))
    kept = b"".join(data[at:at + 188] for at in range(0, len(data), 188)
                    if (data[at + 1] & 0x1F) << 8 | data[at + 2] not in (0x00, 0x11, 0x1000))
    return tables + kept


def multiplex(path: Path, tracks: list[np.ndarray], rate: int, names: list[bytes],
              off_air: tuple[bytes, ...] = ()) -> Path:
    """A recording of mono `tracks` (at `rate`), track n of the programme named `names[n]`: FFmpeg's tables
    (one programme) replaced by a PAT, a PMT per track and an SDT, as a tuner recording a whole
    transponder writes them; the programmes named `off_air` listed with an audio track that sends nothing."""
    single = write_recording(path.with_suffix(".single.ts"), tracks[0], rate, extra_tracks=tuple(tracks[1:]))
    pids = [0x100 + number for number in range(len(tracks))]
    assert set(programmes_in(head_of(single))) == set(pids)  # FFmpeg's PIDs, of its one service
    listed = pids + [0x180 + number for number in range(len(off_air))]
    path.write_bytes(with_multiplex_tables(single.read_bytes(), [(name, {pid: 0x03}) for name, pid in
                                                                 zip([*names, *off_air], listed, strict=True)]))
    single.unlink()
    return path


def without_packets_before(data: bytes, pid: int, before: int) -> bytes:
    """MPEG-TS `data` with the packets of PID `pid` in its first `before` bytes left out: a channel that comes on
    air there (one that shares its airtime with another, BBC Four after CBBC)."""
    return b"".join(data[at:at + 188] for at in range(0, len(data), 188)
                    if at >= before or (data[at + 1] & 0x1F) << 8 | data[at + 2] != pid)
