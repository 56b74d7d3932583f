"""What a PVR writes beside a recording or into its name, where the recording itself does not say it.

Enigma2 receivers (Dreambox, VU+, and the images built on them: OpenPLi, OpenATV, OpenViX) record a
channel's own streams and leave the broadcast's time tables out; beside each `NAME.ts` they write
`NAME.ts.meta`, seven lines at most: the service reference, the programme's name, its description, the
time the recording began (seconds since 1970, UTC), tags, its length and size (openatv/enigma2,
doc/FILEFORMAT). That time is when the recorder wrote its first bytes: the recording's 0:00, to about a
second.

VDR writes `info` into a recording's folder (`info.vdr` before version 1.7.3), a line per field, each
begun by its letter: `C` the channel (its ID, then its name), `T` the title, `S` a subtitle, `E` the EPG
event (its start, not the recording's), `D` a description. It names a recording's folder after the time
the recording began, in the VDR machine's time zone, to the minute: `YYYY-MM-DD.hh.mm.CHANNEL-INSTANCE.rec`
(before 1.7.3 `YYYY-MM-DD.hh.mm.PRIORITY.LIFETIME.rec`; recording.c, DATAFORMATTS and DATAFORMATPES), and
reads that name back as local time itself. A timer's recording begins at the timer's minute.

MythTV names a recording `CHANID_YYYYMMDDhhmmss.EXT` after the time its recording began, in UTC since
MythTV 0.26 (2012; ProgramInfo::CreateRecordBasename, MythDate::kFilename).

Humax's HDR-FOX T2 and HDR-2000T write `NAME.hmt` beside each `NAME.ts` (with `.nts`, its index, and `.thm`, its
thumbnail): 4100 bytes or more, beginning 0x17 0x01; at 0x280 the time the recording began (seconds since 1970,
32 bits little-endian), at 0x29A the programme's name (48 bytes at most), at 0x45C the channel's name (44 bytes
at most), both DVB strings, ended by a zero (the format as Humax owners' community documented it, the
hummy.tv wiki's "HMT File Format"; built from that page, not checked against a recorder's file).
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from .service_tables import dvb_text

# The first line of an Enigma2 .meta file: a service reference, `1:0:19:283D:3FB:1:C00000:0:0:0:`.
SERVICE_REFERENCE = re.compile(r"\d+:\d+:[0-9A-Fa-f]+:[0-9A-Fa-f]+:")
EARLIEST = datetime.datetime(1995, 1, 1, tzinfo=datetime.UTC)  # before DVB, a time is not a recording's
MAX_META_BYTES = 1 << 16
VDR_INFO_NAMES = ("info", "info.vdr")  # VDR since 1.7.3, before
VDR_FOLDER_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)\.(\d\d)[.:](\d\d)\.\d+[-.]\d+\.(?:rec|del)")
MYTHTV_FILE_TIME = re.compile(r"\d{1,6}_(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)\.\w+")
HUMAX_HMT_MAGIC = b"\x17\x01"
HUMAX_BEGAN_AT = 0x280
HUMAX_TITLE = slice(0x29A, 0x29A + 48)
HUMAX_CHANNEL = slice(0x45C, 0x45C + 44)
HUMAX_HMT_BYTES = 0x1004  # its header; EPG blocks may follow


def recorder_start(path: str | Path) -> tuple[datetime.datetime, str] | None:
    """When the PVR that made the recording at `path` began it (UTC), as it says beside the recording or in its
    name (see above), and how it says it, in words for `info`; None where it does not."""
    path = Path(path)
    if (began := enigma2_recording_time(path)) is not None:
        return began, f"when the recorder began it, by its {enigma2_meta_path(path).name}: to about a second"
    if (hmt := humax_hmt(path)) is not None and (began := humax_recording_time(hmt)) is not None:
        return began, f"when the Humax recorder began it, by its {humax_hmt_path(path).name}: to the second"
    if (began := named_time(VDR_FOLDER_TIME, path.name, utc=False)) is not None:
        return began, "when VDR began it, by its folder's name, read in this machine's time zone: to the minute"
    if (began := named_time(MYTHTV_FILE_TIME, path.name, utc=True)) is not None:
        return began, "when MythTV began it, by its file name (UTC): to a few seconds"
    return None


def enigma2_meta_path(path: str | Path) -> Path:
    return Path(f"{path}.meta")


def enigma2_recording_time(path: str | Path) -> datetime.datetime | None:
    """The time (UTC) an Enigma2 receiver began the recording at `path`, as its `.meta` file beside it says
    (see above); None where there is none, or it is not one (its first line no service reference, its
    fourth no time a recording can have begun at)."""
    try:
        with open(enigma2_meta_path(path), "rb") as file:
            lines = file.read(MAX_META_BYTES).decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    if len(lines) < 4 or not SERVICE_REFERENCE.match(lines[0]) or not lines[3].strip().isdigit():
        return None
    try:
        began = datetime.datetime.fromtimestamp(int(lines[3]), datetime.UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return began if could_have_begun(began) else None


def humax_hmt_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".hmt")


def humax_hmt(path: str | Path) -> bytes | None:
    """The header of the Humax `.hmt` file beside the recording at `path` (see above); None where there is none,
    or it is not one."""
    try:
        with open(humax_hmt_path(path), "rb") as file:
            header = file.read(HUMAX_HMT_BYTES)
    except OSError:
        return None
    return header if header.startswith(HUMAX_HMT_MAGIC) and len(header) >= HUMAX_CHANNEL.stop else None


def humax_recording_time(hmt: bytes) -> datetime.datetime | None:
    """The time (UTC) a Humax recorder began the recording whose `.hmt` header is `hmt`; None where it holds no
    time a recording can have begun at."""
    began = datetime.datetime.fromtimestamp(int.from_bytes(hmt[HUMAX_BEGAN_AT:HUMAX_BEGAN_AT + 4], "little"),
                                            datetime.UTC)
    return began if could_have_begun(began) else None


def humax_programme(hmt: bytes) -> str | None:
    """"TITLE, CHANNEL" of the Humax recording whose `.hmt` header is `hmt`; None where it names neither."""
    named = [dvb_text(hmt[field].partition(b"\0")[0]).strip() for field in (HUMAX_TITLE, HUMAX_CHANNEL)]
    return ", ".join(part for part in named if part) or None


def named_time(pattern: re.Pattern[str], name: str, utc: bool) -> datetime.datetime | None:
    """The time (UTC) in the file name `name` where the whole of it is `pattern`, whose groups are the year,
    month, day, hour, minute (and second) in UTC or else in this machine's time zone; None where it is not, or
    holds no time a recording can have begun at."""
    if not (match := pattern.fullmatch(name)):
        return None
    try:
        named = datetime.datetime(*map(int, match.groups()))
    except ValueError:  # the 31st of a month of 30 days
        return None
    # A naive time's astimezone() reads it in this machine's zone (TZ), summer time as it was on that day.
    began = (named.replace(tzinfo=datetime.UTC) if utc else named).astimezone(datetime.UTC)
    return began if could_have_begun(began) else None


def could_have_begun(began: datetime.datetime) -> bool:
    return EARLIEST <= began <= datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)


def recorder_programme(path: str | Path) -> str | None:
    """The programme of the recording at `path` as its recorder names it beside it: "TITLE, CHANNEL" of a VDR
    recording's folder (its info file) or of a Humax recording (its `.hmt`); None where it does not."""
    if Path(path).is_dir():
        return vdr_programme(path)
    hmt = humax_hmt(path)
    return None if hmt is None else humax_programme(hmt)


def vdr_programme(folder: str | Path) -> str | None:
    """"TITLE, CHANNEL" of the VDR recording whose folder is `folder`, as its info file names them; None where
    it has none, or names neither."""
    for name in VDR_INFO_NAMES:
        try:
            with open(Path(folder) / name, "rb") as file:
                lines = file.read(MAX_META_BYTES).decode("utf-8", "replace").splitlines()
        except OSError:
            continue
        fields = {line[0]: line[2:].strip() for line in lines if len(line) > 2 and line[1] == " "}
        named = [fields.get("T"), fields.get("C", "").partition(" ")[2].strip()]
        return ", ".join(part for part in named if part) or None
    return None
