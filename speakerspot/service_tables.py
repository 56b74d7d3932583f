"""Which programme (a channel: its service, by name) each stream of an MPEG-TS recording belongs to, from
the broadcast's own tables: the PAT lists the programmes, each one's PMT its streams, the SDT their names.

A capture of a whole multiplex (one tuner, every channel of a transponder: `dvbv5-zap -P`, a mux
recording) holds the audio tracks of several channels; `speakerspot info` names each track's channel
with these, and `--programme` (by that name) or `--audio-track` picks it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

from .audio import TS_PACKET_BYTES

PAT_PID, SDT_PID = 0x00, 0x11
PAT_TABLE, PMT_TABLE, SDT_TABLE = 0x00, 0x02, 0x42  # the SDT of the multiplex the recording is of
SERVICE_DESCRIPTOR = 0x48
# Read from the start of a recording: DVB repeats its SDT every 2 s at least, which a 40 Mbit/s multiplex
# fills with 10 MB.
HEAD_BYTES = 16 << 20


def stream_programmes(path: str | Path) -> dict[int, str]:
    """The programme of each stream of the MPEG-TS file at `path`, by PID: its name as the SDT gives it,
    else "programme N" (its number); empty where the file holds no PAT in its first HEAD_BYTES."""
    with open(path, "rb") as file:
        head = file.read(HEAD_BYTES)
    return programmes_in(head)


def programmes_in(data: bytes) -> dict[int, str]:
    """`stream_programmes` of MPEG-TS `data`."""
    pmt_pids: dict[int, int] = {}  # PMT PID: the programme's number
    streams: dict[int, int] = {}  # elementary stream's PID: its programme's number
    names: dict[int, str] = {}  # programme number: name
    for pid, section in sections(data, lambda pid: pid in (PAT_PID, SDT_PID) or pid in pmt_pids):
        table, end = section[0], len(section) - 4  # the CRC last
        try:
            if pid == PAT_PID and table == PAT_TABLE:
                for at in range(8, end - 3, 4):
                    number, pmt_pid = word(section, at), word(section, at + 2) & 0x1FFF
                    if number:  # 0: the network's table, not a programme
                        pmt_pids[pmt_pid] = number
            elif pid in pmt_pids and table == PMT_TABLE:
                number = word(section, 3)
                at = 12 + (word(section, 10) & 0x0FFF)  # after the programme's descriptors
                while at + 5 <= end:
                    streams[word(section, at + 1) & 0x1FFF] = number
                    at += 5 + (word(section, at + 3) & 0x0FFF)
            elif pid == SDT_PID and table == SDT_TABLE:
                names.update(service_names(section, end))
        except IndexError:  # a section shorter than its lengths say (damaged): the table comes again
            continue
    return {pid: names.get(number) or f"programme {number}" for pid, number in streams.items()}


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


def sections(data: bytes, wanted: Callable[[int], bool]) -> Iterator[tuple[int, bytes]]:
    """(PID, section) of every whole PSI section in `data`'s packets of the PIDs `wanted` says (asked again
    for each packet: a table read names the PIDs of others)."""
    partial: dict[int, bytearray] = {}  # a section begun, by PID
    for start in range(0, len(data) - TS_PACKET_BYTES + 1, TS_PACKET_BYTES):
        packet = data[start:start + TS_PACKET_BYTES]
        pid = word(packet, 1) & 0x1FFF
        # not in sync, marked as damaged in transmission, or without payload
        if packet[0] != 0x47 or packet[1] & 0x80 or not packet[3] & 0x10 or not wanted(pid):
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


def whole_sections(pid: int, partial: dict[int, bytearray]) -> Iterator[tuple[int, bytes]]:
    """The whole sections at the start of `partial[pid]`, taken from it, those whose CRC fails (damaged)
    passed over; stuffing (0xFF) ends them."""
    buffer = partial.get(pid)
    while buffer is not None and len(buffer) >= 3 and buffer[0] != 0xFF:
        length = 3 + (word(buffer, 1) & 0x0FFF)
        if len(buffer) < length:
            return
        if crc32_mpeg2(buffer[:length]) == 0:  # whole and undamaged (over its CRC too: 0)
            yield pid, bytes(buffer[:length])
        del buffer[:length]
    if buffer is not None and buffer[:1] == b"\xff":
        del partial[pid]


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
