"""Which programme (a channel: its service, by name) each stream of an MPEG-TS recording belongs to, from
the broadcast's own tables: the PAT lists the programmes, each one's PMT its streams, the SDT their names
(DVB; ATSC's virtual channel table). And when the recording was broadcast, from its time tables (DVB's
TDT, TOT; ATSC's STT) and its programme's clock.

A capture of a whole multiplex (one tuner, every channel of a transponder: `dvbv5-zap -P`, a mux
recording) holds the audio tracks of several channels; `speakerspot info` names each track's channel
with these, and `--programme` (by that name) or `--audio-track` picks it.
"""

from __future__ import annotations

import datetime
import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .split_recordings import open_recording

TS_PACKET_BYTES = 188  # an MPEG-TS packet: a sync byte, its PID and flags, 184 bytes of payload
SYNC_BYTE = 0x47
# MPEG-TS packets begin where this many sync bytes follow one another a packet apart.
SYNC_PACKETS = 8
# Recorders write the packets as they are, each after 4 bytes of its arrival time (M2TS: AVCHD, Blu-ray,
# Topfield's recorders), or each before 16 bytes of Reed-Solomon parity (some DVB cards' raw captures):
# FFmpeg reads the three.
ARRIVAL_TIME_BYTES, PARITY_BYTES = 4, 16
M2TS_PACKET_BYTES = ARRIVAL_TIME_BYTES + TS_PACKET_BYTES
PACKET_SIZES = (TS_PACKET_BYTES, M2TS_PACKET_BYTES, TS_PACKET_BYTES + PARITY_BYTES)

PAT_PID, SDT_PID, TIME_PID, NULL_PID = 0x00, 0x11, 0x14, 0x1FFF
PAT_TABLE, PMT_TABLE, SDT_TABLE = 0x00, 0x02, 0x42  # the SDT of the multiplex the recording is of
TDT_TABLE, TOT_TABLE = 0x70, 0x73  # the time, and the time with the local offsets
# Japan's ISDB (ARIB STD-B10) sends the same time tables in Japan's time, UTC+9, not in UTC. Its programmes
# are told by three descriptors of their PMT found together (as VLC tells them): a conditional access
# descriptor of B-CAS's system (0x0005), the digital copy control and the access control descriptors.
CA_DESCRIPTOR, CA_SYSTEM_BCAS, COPY_CONTROL_DESCRIPTOR, ACCESS_CONTROL_DESCRIPTOR = 0x09, 0x0005, 0xC1, 0xF6
JAPAN_TIME_AHEAD_SECONDS = 9 * 3600
MJD_EPOCH = datetime.datetime(1858, 11, 17, tzinfo=datetime.UTC)
# ATSC (North America, South Korea) sends its own tables on one PID (PSIP, A/65): each channel's name in a
# virtual channel table (terrestrial or cable), the time in the system time table, in GPS seconds.
PSIP_PID = 0x1FFB
TVCT_TABLE, CVCT_TABLE, STT_TABLE = 0xC8, 0xC9, 0xCD
GPS_EPOCH = datetime.datetime(1980, 1, 6, tzinfo=datetime.UTC)
VCT_CHANNEL_BYTES = 32  # a channel's fields before its descriptors
ATSC_CHANNEL_NUMBER = re.compile(r"\d+\.\d+")  # major.minor, as a receiver shows it
CLOCK_WRAP_SECONDS = 2**33 / 90_000  # a programme's clock counts 33 bits of 90 kHz, then starts again
MAX_CLOCK_STEP_SECONDS = 0.5  # between two of its clock packets (sent at least every 0.1 s)
SERVICE_DESCRIPTOR = 0x48
# Read from the start of a recording: DVB repeats its SDT every 2 s at least, which a 40 Mbit/s multiplex
# fills with 10 MB.
HEAD_BYTES = 16 << 20


# DVB sends its time tables at least this often (EN 300 468): a recording with none in its first this many
# seconds has none.
TIME_TABLE_SECONDS = 30
# A DVB multiplex carries at most some 80 Mbit/s (DVB-S2, DVB-T2): a file whose duration FFmpeg tells wrong
# (its timestamps jump) is not read through for time tables it may not hold.
MAX_BYTES_PER_SECOND = 10_000_000
# Each block read past the head begins with the end of the one before (whole packets), where the clock
# packets around a time table at its start lie (a programme's clock comes every 0.1 s at least).
BLOCK_BYTES = HEAD_BYTES // TS_PACKET_BYTES * TS_PACKET_BYTES
BLOCK_OVERLAP_BYTES = (1 << 20) // TS_PACKET_BYTES * TS_PACKET_BYTES
# A pipe's bytes are read for time tables each time this many more came: a channel's 5 Mbit/s bring it in
# 0.4 s, so that the time is known before the first segment of a stream followed live is printed.
PIPE_TRY_BYTES = 256 << 10


def head_of(path: str | Path) -> bytes:
    """The first HEAD_BYTES of the file at `path`, where its tables are read."""
    with open_recording(path) as file:
        return file.read(HEAD_BYTES)


def programmes_in(data: bytes) -> dict[int, str]:
    """The programme of each stream of MPEG-TS `data` (a recording's first bytes), by PID: its name as the SDT
    gives it, else "programme N" (its number); a name two programmes share followed by each one's number
    ("BBC One (programme 4164)": regional variants of a channel may be named alike); empty where `data`
    holds no PAT."""
    tables = read_tables(data)
    names = {number: tables.names.get(number) or f"programme {number}" for number in set(tables.programme_of.values())}
    uses = Counter(name.casefold() for name in names.values())  # `--programme` matches a name case aside
    return {pid: names[number] if uses[names[number].casefold()] == 1 else f"{names[number]} (programme {number})"
            for pid, number in tables.programme_of.items()}


@dataclass
class ProgrammeTables:
    """What a recording's PAT, PMTs and SDT say: each elementary stream's programme (by PID), each
    programme's name and the PID of the packets that carry its clock (PCR), by programme number."""

    programme_of: dict[int, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    clock_pids: dict[int, int] = field(default_factory=dict)
    japanese: set[int] = field(default_factory=set)  # ISDB's programmes, whose time tables say Japan's time


def read_tables(data: bytes) -> ProgrammeTables:
    """The `ProgrammeTables` of MPEG-TS `data`."""
    tables = ProgrammeTables()
    pmt_pids: dict[int, int] = {}  # PMT PID: the programme's number
    read: set[bytes] = set()  # each table comes again every 0.1-2 s, mostly the same
    for pid, section in sections(data, lambda pid: pid in (PAT_PID, SDT_PID, PSIP_PID) or pid in pmt_pids):
        if section in read:
            continue
        read.add(section)
        table, end = section[0], len(section) - 4  # the CRC last
        try:
            if pid == PAT_PID and table == PAT_TABLE:
                for at in range(8, end - 3, 4):
                    number, pmt_pid = word(section, at), word(section, at + 2) & 0x1FFF
                    if number:  # 0: the network's table, not a programme
                        pmt_pids[pmt_pid] = number
            elif pid in pmt_pids and table == PMT_TABLE:
                number = word(section, 3)
                tables.clock_pids[number] = word(section, 8) & 0x1FFF
                at = 12 + (word(section, 10) & 0x0FFF)  # after the programme's descriptors
                if is_japanese(section[12:min(at, end)]):
                    tables.japanese.add(number)
                while at + 5 <= end:
                    tables.programme_of[word(section, at + 1) & 0x1FFF] = number
                    at += 5 + (word(section, at + 3) & 0x0FFF)
            elif pid == SDT_PID and table == SDT_TABLE:
                tables.names.update(service_names(section, end))
            elif pid == PSIP_PID and table in (TVCT_TABLE, CVCT_TABLE):
                tables.names.update(virtual_channel_names(section, end))
        except IndexError:  # a section shorter than its lengths say (damaged): the table comes again
            continue
    return tables


def broadcast_clock(data: bytes | memoryview, stream_pid: int, origin: float) -> datetime.datetime | None:
    """The broadcast's time (UTC) at the 0:00 of the recording whose MPEG-TS `data` begins it, where the
    stream of PID `stream_pid` is read and 0:00 is `origin` (seconds of its timestamps; see
    `audio.container_origin`); None where `data` holds no time table, or no clock of its programme.

    A DVB broadcast sends the time (TDT, TOT: PID 0x14; Japan's ISDB in Japan's time, see CA_SYSTEM_BCAS)
    at least every 30 s, to the second; the packets of its programme's clock (PCR) say where on the
    recording's timeline each one came. Each time table places 0:00 within a second; those of a minute's
    recording, read together, within a fraction of one, those that disagree with most of them (damaged,
    or of another broadcast joined on) left out."""
    packets, pids, _ = packet_rows(data)
    whole = (packets[:, 0] == SYNC_BYTE) & ~(packets[:, 1] & 0x80).astype(bool)  # in sync, not marked as damaged
    told_at = np.flatnonzero(whole & ((pids == TIME_PID) | (pids == PSIP_PID)) & (packets[:, 1] & 0x40).astype(bool))
    if not len(told_at):  # most recordings but DVB captures: their tables need not be read
        return None
    programme = (tables := read_tables(data)).programme_of.get(stream_pid)
    clock_pid = tables.clock_pids.get(programme) if programme is not None else None
    if clock_pid is None:
        return None
    timed = whole & (pids == clock_pid) & (packets[:, 3] & 0x20).astype(bool) & (packets[:, 4] >= 7) \
        & (packets[:, 5] & 0x10).astype(bool)  # an adaptation field holding a PCR
    at = np.flatnonzero(timed)
    if len(at) < 2:
        return None
    fields = packets[at, 6:12].astype(np.int64)
    base = fields[:, 0] << 25 | fields[:, 1] << 17 | fields[:, 2] << 9 | fields[:, 3] << 1 | fields[:, 4] >> 7
    seconds = np.unwrap((base * 300 + ((fields[:, 4] & 1) << 8 | fields[:, 5])) / 27e6, period=CLOCK_WRAP_SECONDS)
    # A programme's clock comes at least every 0.1 s: one a reception error damaged steps wildly from both of
    # its neighbours (a jump where broadcasts join, from one only).
    step = np.diff(seconds)
    plausible = (step >= 0) & (step <= MAX_CLOCK_STEP_SECONDS)
    kept = np.concatenate([[plausible[0]], plausible[:-1] | plausible[1:], [plausible[-1]]])
    at, seconds = at[kept], seconds[kept]
    if len(at) < 2:
        return None
    earliest, latest = [], []  # the times 0:00 may be, by each time table
    japanese = programme in tables.japanese
    for index in told_at:
        told = time_table(packets[index].tobytes())
        if told is None or not at[0] <= index <= at[-1]:
            continue
        if japanese and pids[index] == TIME_PID:
            told -= JAPAN_TIME_AHEAD_SECONDS
        since_origin = (np.interp(index, at, seconds) - origin + CLOCK_WRAP_SECONDS / 2) % CLOCK_WRAP_SECONDS \
            - CLOCK_WRAP_SECONDS / 2
        earliest.append(told - since_origin)
        latest.append(told + 1 - since_origin)
    if not earliest:
        return None
    # The second most of them agree on: a table a reception error damaged, or one of another broadcast
    # joined on, is left out.
    count = len(earliest)
    agreeing = max(([j for j in range(count) if earliest[j] <= latest[i] and earliest[i] <= latest[j]]
                    for i in range(count)), key=len)
    low, high = max(earliest[j] for j in agreeing), min(latest[j] for j in agreeing)
    if low > high:  # agreeing each with one, not all together
        low, high = earliest[agreeing[0]], latest[agreeing[0]]
    return datetime.datetime.fromtimestamp((low + high) / 2, datetime.UTC)


def file_broadcast_clock(path: str | Path, stream_pid: int, origin: float,
                         bytes_per_second: float | None) -> datetime.datetime | None:
    """`broadcast_clock` of the MPEG-TS file at `path`, read a block at a time from its start until a block
    tells it, or, where the file says its `bytes_per_second`, until TIME_TABLE_SECONDS of its stream past
    its head hold no time table (without it, the head only). A capture of a whole multiplex (40 Mbit/s)
    fills its 16 MB head in 3 s, where a time table may come 30 s apart: its time was mostly not found."""
    limit = BLOCK_BYTES + TIME_TABLE_SECONDS * min(bytes_per_second or 0, MAX_BYTES_PER_SECOND)
    buffer = memoryview(bytearray(BLOCK_OVERLAP_BYTES + BLOCK_BYTES))  # one, not a fresh 16 MB each block
    kept = 0  # bytes at its start: the end of the block before
    with open_recording(path) as file:
        while file.tell() < limit and (size := file.readinto(buffer[kept:])):
            if (found := broadcast_clock(buffer[:kept + size], stream_pid, origin)) is not None:
                return found
            end, kept = kept + size, min(kept + size, BLOCK_OVERLAP_BYTES)
            buffer[:kept] = buffer[end - kept:end]
    return None


class PipeClock:
    """`broadcast_clock` of an MPEG-TS stream read from a pipe, from its bytes as they pass (`add`; a pipe is
    not read twice: see `byte_sources.PipeBytes`), in blocks as `file_broadcast_clock` reads a file's, from its
    `first_bytes` on. The block so far is read each PIPE_TRY_BYTES more, before its start is dropped, and
    once the stream's audio reaches TIME_TABLE_SECONDS past its first; once a time is found, or none by
    then, the bytes are not looked at."""

    def __init__(self, first_bytes: bytes, stream_pid: int, origin: float):
        self.stream_pid, self.origin = stream_pid, origin
        self.block = bytearray(first_bytes)
        self.untried = len(self.block)
        self.first: float | None = None  # the first audio's time
        self.found: datetime.datetime | None = None
        self.reading = True

    def add(self, data: bytes) -> None:
        if not self.reading:
            return
        if len(self.block) + len(data) > BLOCK_OVERLAP_BYTES + BLOCK_BYTES:  # on with the end of this block
            self.read_block()
            if not self.reading:
                return
            del self.block[:-BLOCK_OVERLAP_BYTES]
        self.block += data
        self.untried += len(data)

    def read_block(self) -> None:
        self.untried = 0
        self.found = broadcast_clock(memoryview(self.block), self.stream_pid, self.origin)
        if self.found is not None:
            self.stop()

    def stop(self) -> None:
        self.reading, self.block = False, bytearray()

    def told(self, seconds: float) -> datetime.datetime | None:
        """The time the stream's 0:00 was broadcast, once, as its audio reaches `seconds`: where it is first
        found; None before, after, and where the stream holds no time table."""
        if self.reading:
            self.first = seconds if self.first is None else self.first
            last = seconds - self.first >= TIME_TABLE_SECONDS
            if self.untried >= PIPE_TRY_BYTES or last:
                self.read_block()
            if last:
                self.stop()
        found, self.found = self.found, None
        return found


def time_table(packet: bytes) -> float | None:
    """The time (UTC, seconds since 1970) of the TDT or TOT (DVB), or the STT (ATSC), that begins in
    MPEG-TS `packet`, None if none does (or its time cannot be one, or a TOT's or STT's CRC fails)."""
    payload = packet[5 + packet[4]:] if packet[3] & 0x20 else packet[4:]
    section = payload[1 + payload[0]:] if payload else b""
    if len(section) < 8 or section[0] not in (TDT_TABLE, TOT_TABLE, STT_TABLE):
        return None
    length = 3 + (word(section, 1) & 0x0FFF)
    if section[0] != TDT_TABLE and (len(section) < length or crc32_mpeg2(section[:length]) != 0):
        return None
    if section[0] == STT_TABLE:  # GPS seconds, and how many leap seconds GPS is ahead of UTC
        gps_seconds = int.from_bytes(section[9:13], "big") if length >= 20 else 0
        return (GPS_EPOCH + datetime.timedelta(seconds=gps_seconds - section[13])).timestamp() if gps_seconds else None
    digits = [nibble for byte in section[5:8] for nibble in (byte >> 4, byte & 0x0F)]
    hours, minutes, secs = (10 * digits[i] + digits[i + 1] for i in (0, 2, 4))
    if max(digits) > 9 or hours > 23 or minutes > 59 or secs > 59:
        return None
    # Modified Julian Date: days since 1858-11-17
    day = MJD_EPOCH + datetime.timedelta(days=word(section, 3), hours=hours, minutes=minutes, seconds=secs)
    return day.timestamp()


def is_japanese(descriptors: bytes) -> bool:
    """Whether a PMT's programme `descriptors` are those of Japan's ISDB (see CA_SYSTEM_BCAS)."""
    found, at = set(), 0  # tags, a conditional access descriptor's as (tag, its system)
    while at + 2 <= len(descriptors):
        tag, size = descriptors[at], descriptors[at + 1]
        found.add((tag, word(descriptors, at + 2)) if tag == CA_DESCRIPTOR and size >= 2 else tag)
        at += 2 + size
    return {(CA_DESCRIPTOR, CA_SYSTEM_BCAS), COPY_CONTROL_DESCRIPTOR, ACCESS_CONTROL_DESCRIPTOR} <= found


def service_names(section: bytes, end: int) -> Iterator[tuple[int, str]]:
    """(programme number, name) of the service descriptors of an SDT `section` (its loop ends at `end`)."""
    at = 11
    while at + 5 <= end:
        number, services_end = word(section, at), at + 5 + (word(section, at + 3) & 0x0FFF)
        at += 5
        while at + 2 <= min(services_end, end):
            tag, size = section[at], section[at + 1]
            if tag == SERVICE_DESCRIPTOR and size >= 3:
                name_at = at + 4 + section[at + 3]  # after the service type and the provider's name
                yield number, dvb_text(section[name_at + 1:name_at + 1 + section[name_at]])
            at += 2 + size
        at = services_end


def virtual_channel_names(section: bytes, end: int) -> Iterator[tuple[int, str]]:
    """(programme number, name) of the channels of this multiplex in an ATSC virtual channel table `section`
    (its loop ends at `end`), named as a receiver lists them: the channel's number, major and minor, and its
    short name, up to 7 UTF-16 characters ("13.1 WNET-HD")."""
    at = 10  # after the protocol version and the number of channels
    for _ in range(section[9]):
        if at + VCT_CHANNEL_BYTES > end:
            return
        if word(section, at + 22) == word(section, 3):  # not a channel of another multiplex it lists
            short = section[at:at + 14].decode("utf-16-be", "replace")
            numbers = int.from_bytes(section[at + 14:at + 17], "big")  # 4 reserved bits, 10 of major, 10 of minor
            name = f"{numbers >> 10 & 0x3FF}.{numbers & 0x3FF} " + "".join(c for c in short if ord(c) >= 0x20)
            yield word(section, at + 24), name.strip()
        at += VCT_CHANNEL_BYTES + (word(section, at + 30) & 0x03FF)


def is_programme(name: str, wanted: str) -> bool:
    """Whether `wanted` names the programme `name` (as `programmes_in` gives it), case aside: its whole name, or of
    an ATSC channel ("13.1 WNET-HD") its number or its short name alone."""
    name, wanted = name.casefold(), wanted.casefold()
    number, _, short = name.partition(" ")
    return wanted == name or (bool(ATSC_CHANNEL_NUMBER.fullmatch(number)) and wanted in (number, short))


def sections(data: bytes, wanted: Callable[[int], bool]) -> Iterator[tuple[int, bytes]]:
    """(PID, section) of every whole PSI section in `data`'s packets of the PIDs `wanted` says (asked again
    for each packet: a table read names the PIDs of others)."""
    partial: dict[int, bytearray] = {}  # a section begun, by PID
    for start in table_packets(data):
        packet = data[start:start + TS_PACKET_BYTES]
        pid = word(packet, 1) & 0x1FFF
        # not in sync, marked as damaged in transmission, or without payload
        if packet[0] != SYNC_BYTE or packet[1] & 0x80 or not packet[3] & 0x10 or not wanted(pid):
            continue
        payload = packet[5 + packet[4]:] if packet[3] & 0x20 else packet[4:]  # after an adaptation field
        if packet[1] & 0x40 and payload:  # a section begins here, `pointer` bytes in
            pointer = payload[0]
            if pid in partial:
                partial[pid] += payload[1:1 + pointer]
                yield from whole_sections(pid, partial)
            partial[pid] = bytearray(payload[1 + pointer:])
        elif pid in partial:
            partial[pid] += payload
        yield from whole_sections(pid, partial)


@dataclass(frozen=True)
class PacketLayout:
    """Where MPEG-TS packets lie in a recording's bytes: the sync byte of the first whole one (`first`),
    and a packet's `size` (see PACKET_SIZES)."""

    first: int
    size: int

    @property
    def lead(self) -> int:
        """The bytes a packet is written after (its arrival time, in 192-byte packets)."""
        return ARRIVAL_TIME_BYTES if self.size == M2TS_PACKET_BYTES else 0

    def next_packet(self, position: int) -> int:
        """The sync byte of the first packet at or after byte `position`."""
        return self.first + max(0, -(-(position - self.first) // self.size)) * self.size


def packet_rows(data: bytes) -> tuple[np.ndarray, np.ndarray, PacketLayout]:
    """MPEG-TS `data` as a row of its 188 bytes per packet (partial packets at either end left out), each
    one's PID, and where they lie (see `packet_layout`)."""
    layout = packet_layout(data)
    count = max(0, (len(data) - layout.first - TS_PACKET_BYTES) // layout.size + 1)
    whole = np.frombuffer(data, np.uint8, len(data) - layout.first, layout.first)
    packets = np.lib.stride_tricks.as_strided(whole, (count, TS_PACKET_BYTES), (layout.size, 1), writeable=False)
    return packets, (packets[:, 1].astype(np.int32) & 0x1F) << 8 | packets[:, 2], layout


def packet_layout(data: bytes) -> PacketLayout:
    """Where the packets of MPEG-TS `data` lie: bytes cut from a stream at any byte (what a pipe keeps of
    what it read, a file split anywhere) begin inside one, and a recorder may write them in packets of
    192 or 204 bytes. The first byte at which SYNC_PACKETS sync bytes follow a packet apart, of the
    packet size that has the earliest; 188-byte packets from byte 0 where none has (or `data` is
    shorter than such a run)."""
    head = np.frombuffer(data, np.uint8, min(len(data), max(PACKET_SIZES) * (SYNC_PACKETS + 1)))
    found = [PacketLayout(int(begins[0]), size) for size in PACKET_SIZES
             if len(begins := np.flatnonzero(packets_begin(head, size, size)))]
    return min(found, key=lambda layout: layout.first, default=PacketLayout(0, TS_PACKET_BYTES))


def packets_begin(data: np.ndarray, count: int, size: int = TS_PACKET_BYTES) -> np.ndarray:
    """Whether packets of `size` bytes begin (their sync byte) at each of the first `count` bytes of
    MPEG-TS `data`: SYNC_PACKETS sync bytes follow from it `size` bytes apart (where `data` holds them;
    none is counted beyond its end)."""
    count = max(0, min(count, len(data) - size * (SYNC_PACKETS - 1)))
    begin = np.ones(count, bool)
    for packet in range(SYNC_PACKETS):
        begin &= data[packet * size:packet * size + count] == SYNC_BYTE
    return begin


def table_packets(data: bytes) -> Iterator[int]:
    """Where the packets of MPEG-TS `data` that may carry tables begin: those of the PIDs below 0x20 (the
    PAT, the SDT, the time tables) and of the PIDs the PAT may name for PMTs, which carry no PES. Looking
    at each of a 16 MB head's 89,000 packets in Python took 0.15 s; most are audio and video PES."""
    packets, pids, layout = packet_rows(data)
    payload = np.minimum(np.where(packets[:, 3] & 0x20, 5 + packets[:, 4].astype(np.int32), 4), TS_PACKET_BYTES - 3)
    rows = np.arange(len(packets))
    starts_pes = (packets[:, 1] & 0x40).astype(bool) & (packets[rows, payload] == 0) \
        & (packets[rows, payload + 1] == 0) & (packets[rows, payload + 2] == 1)  # a PES begins: 00 00 01
    pes_pids = np.unique(pids[starts_pes])
    candidates = (pids < 0x20) | ~np.isin(pids, pes_pids) & (pids != NULL_PID)
    return (layout.first + int(index) * layout.size for index in np.flatnonzero(candidates))


def whole_sections(pid: int, partial: dict[int, bytearray]) -> Iterator[tuple[int, bytes]]:
    """The whole sections at the start of `partial[pid]`, taken from it, those whose CRC fails (damaged)
    passed over; stuffing (0xFF) ends them."""
    buffer = partial.get(pid)
    while buffer is not None and len(buffer) >= 3 and buffer[0] != 0xFF:
        length = 3 + (word(buffer, 1) & 0x0FFF)
        if len(buffer) < length:
            return
        section = bytes(buffer[:length])
        if undamaged(section):
            yield pid, section
        del buffer[:length]
    if buffer is not None and buffer[:1] == b"\xff":
        del partial[pid]


@functools.lru_cache(maxsize=1024)
def undamaged(section: bytes) -> bool:
    """Whether a section's CRC checks (over its CRC too: 0). Remembered: a table comes again every 0.1-2 s,
    and the CRC is computed a byte at a time."""
    return crc32_mpeg2(section) == 0


def crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = (crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


CRC_TABLE = crc_table()


def crc32_mpeg2(data: bytes) -> int:
    """The CRC-32 of MPEG-2 sections (polynomial 0x04C11DB7, from 0xFFFFFFFF, not reflected)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = (crc << 8 & 0xFFFFFFFF) ^ CRC_TABLE[(crc >> 24) ^ byte]
    return crc


def word(data: bytes, at: int) -> int:
    """The big-endian 16-bit number at byte `at` of `data`."""
    return data[at] << 8 | data[at + 1]


def dvb_text(raw: bytes) -> str:
    """A DVB string (EN 300 468, annex A): its first byte may name its character table; without one, the
    default table (see `default_table_text`); control codes dropped."""
    if raw and 0x01 <= raw[0] <= 0x0B:
        text = decoded(raw[1:], f"iso8859_{raw[0] + 4}")
    elif raw[:1] == b"\x10" and len(raw) >= 3:
        text = decoded(raw[3:], f"iso8859_{raw[2]}")
    elif raw[:1] == b"\x11":
        text = decoded(raw[1:], "utf-16-be")
    elif raw[:1] == b"\x15":
        text = decoded(raw[1:], "utf-8")
    elif raw and raw[0] < 0x20:  # a table this does not read
        text = decoded(raw[1:], "latin-1")
    else:
        text = default_table_text(raw)
    return "".join(c for c in text if ord(c) >= 0x20 and not 0x80 <= ord(c) < 0xA0).strip()


def decoded(body: bytes, encoding: str) -> str:
    try:
        return body.decode(encoding, "replace")
    except LookupError:  # a table number Python has no codec of
        return body.decode("latin-1")


# DVB's default table (EN 300 468, figure A.1): ISO/IEC 6937 with the euro sign at 0xA4; its bytes from
# 0xA0 (those from 0xC1 to 0xCF are diacritics, see DIACRITICS; unused positions U+FFFD).
DEFAULT_TABLE_HIGH = ("\u00a0¡¢£€¥\ufffd§¤‘“«←↑→↓°±²³×µ¶·÷’”»¼½¾¿" + "\ufffd" * 16
                      + "―¹®©™♪¬¦\ufffd\ufffd\ufffd\ufffd⅛⅜⅝⅞ΩÆĐªĦ\ufffdĲĿŁØŒºÞŦŊŉĸæđðħıĳŀłøœßþŧŋ\u00ad")
# ... where a diacritic is a byte written before its letter: `S\xc8ud` is "Süd" (as German broadcasters
# name services in this table); read as the letter and a combining mark, composed.
DIACRITICS = {0xC1: "\u0300", 0xC2: "\u0301", 0xC3: "\u0302", 0xC4: "\u0303", 0xC5: "\u0304", 0xC6: "\u0306",
              0xC7: "\u0307", 0xC8: "\u0308", 0xCA: "\u030a", 0xCB: "\u0327", 0xCD: "\u030b", 0xCE: "\u0328",
              0xCF: "\u030c"}


def default_table_text(raw: bytes) -> str:
    """`raw` in DVB's default character table (ISO/IEC 6937 and the euro sign)."""
    characters, at = [], 0
    while at < len(raw):
        byte = raw[at]
        if byte in DIACRITICS and at + 1 < len(raw) and raw[at + 1] < 0x80:
            characters += [chr(raw[at + 1]), DIACRITICS[byte]]
            at += 2
            continue
        characters.append(chr(byte) if byte < 0xA0 else DEFAULT_TABLE_HIGH[byte - 0xA0])
        at += 1
    return unicodedata.normalize("NFC", "".join(characters))
