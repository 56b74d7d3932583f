"""One renderer per output format, chosen by name: scan results in, text out.

txt (people), json, jsonl (one object per recording), csv, srt and vtt (a player shows the
markers as subtitles), rttm (NIST, as diarization tools read it), audacity (label track),
ffmetadata (FFmpeg chapters, to mux the markers into the recording), edl (CMX3600, for editors).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .files import atomic_write

if TYPE_CHECKING:  # the CLI reads the format names without paying for torch
    from .scanning import ScanResult

EDL_FRAMES_PER_SECOND = 25  # PAL/DVB timecode


def format_timestamp(seconds: float) -> str:
    """`HH:MM:SS.s`, as a player shows a position."""
    tenths = round(seconds * 10)
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    return f"{hours:02d}:{minutes:02d}:{rest // 10:02d}.{rest % 10}"


def clock(seconds: float, separator: str) -> str:
    """`HH:MM:SS{separator}mmm` for subtitle formats."""
    milliseconds = round(seconds * 1000)
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"


def timecode(seconds: float, fps: int = EDL_FRAMES_PER_SECOND) -> str:
    """SMPTE `HH:MM:SS:FF` (non-drop) at `fps` frames per second."""
    frames = round(seconds * fps)
    hours, rest = divmod(frames, 3600 * fps)
    minutes, rest = divmod(rest, 60 * fps)
    return f"{hours:02d}:{minutes:02d}:{rest // fps:02d}:{rest % fps:02d}"


def render_txt(result: ScanResult, windows: bool = False) -> str:
    """One line per segment for people: `HH:MM:SS.s – HH:MM:SS.s  score`."""
    return "".join(f"{format_timestamp(s.start)} – {format_timestamp(s.end)}  {s.score:.3f}\n"
                   for s in result.segments)


def render_json(result: ScanResult, windows: bool = False) -> str:
    return json.dumps(result.to_dict(windows=windows), indent=1) + "\n"


def render_jsonl(result: ScanResult, windows: bool = False) -> str:
    return json.dumps(result.to_dict(windows=windows), separators=(",", ":")) + "\n"


def render_csv(result: ScanResult, windows: bool = False) -> str:
    buffer = io.StringIO()
    table = csv.writer(buffer, lineterminator="\n")
    table.writerow(["file", "model", "start", "end", "score"])
    table.writerows([result.file, result.model, s.start, s.end, s.score] for s in result.segments)
    return buffer.getvalue()


def label(result: ScanResult, score: float) -> str:
    return f"{result.model} ({score:.2f})"


def render_srt(result: ScanResult, windows: bool = False) -> str:
    return "".join(f"{number}\n{clock(s.start, ',')} --> {clock(s.end, ',')}\n{label(result, s.score)}\n\n"
                   for number, s in enumerate(result.segments, start=1))


def render_vtt(result: ScanResult, windows: bool = False) -> str:
    return "WEBVTT\n\n" + "".join(f"{clock(s.start, '.')} --> {clock(s.end, '.')}\n{label(result, s.score)}\n\n"
                                  for s in result.segments)


def render_rttm(result: ScanResult, windows: bool = False) -> str:
    """NIST RTTM: SPEAKER file channel onset duration <NA> <NA> name confidence <NA>."""
    recording = Path(result.file).stem.replace(" ", "_")
    speaker = result.model.replace(" ", "_")
    return "".join(f"SPEAKER {recording} 1 {s.start:.3f} {s.end - s.start:.3f} <NA> <NA> {speaker} {s.score:.4f} <NA>\n"
                   for s in result.segments)


def render_audacity(result: ScanResult, windows: bool = False) -> str:
    """Audacity label track: start<TAB>end<TAB>label, seconds."""
    return "".join(f"{s.start:.6f}\t{s.end:.6f}\t{label(result, s.score)}\n" for s in result.segments)


def render_ffmetadata(result: ScanResult, windows: bool = False) -> str:
    """FFmpeg FFMETADATA1 chapters in milliseconds: `ffmpeg -i rec.ts -i this -map_metadata 1 -codec copy`."""
    chapters = "".join(f"\n[CHAPTER]\nTIMEBASE=1/1000\nSTART={round(s.start * 1000)}\nEND={round(s.end * 1000)}\n"
                       f"title={escape_ffmetadata(label(result, s.score))}\n" for s in result.segments)
    return ";FFMETADATA1\n" + chapters


def escape_ffmetadata(text: str) -> str:
    for special in "\\=;#\n":
        text = text.replace(special, "\\" + special)
    return text


def render_edl(result: ScanResult, windows: bool = False) -> str:
    """CMX3600 edit decision list: one cut per segment, source and record timecodes at 25 fps."""
    lines = [f"TITLE: {Path(result.file).stem} {result.model}"[:70], "FCM: NON-DROP FRAME", ""]
    record = 0.0
    for number, s in enumerate(result.segments, start=1):
        duration = s.end - s.start
        lines.append(f"{number:03d}  AX       AA/V  C        {timecode(s.start)} {timecode(s.end)} "
                     f"{timecode(record)} {timecode(record + duration)}")
        lines.append(f"* FROM CLIP NAME: {Path(result.file).name}")
        lines.append(f"* COMMENT: {label(result, s.score)}")
        lines.append("")
        record += duration
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[ScanResult, bool], str]] = {
    "txt": render_txt, "json": render_json, "jsonl": render_jsonl, "csv": render_csv, "srt": render_srt,
    "vtt": render_vtt, "rttm": render_rttm, "audacity": render_audacity, "ffmetadata": render_ffmetadata,
    "edl": render_edl,
}
EXTENSIONS = {"audacity": "labels.txt", "ffmetadata": "ffmeta"}
FORMAT_NAMES = tuple(RENDERERS)


def extension(format_name: str) -> str:
    return EXTENSIONS.get(format_name, format_name)


def render(result: ScanResult, format_name: str, windows: bool = False) -> str:
    """`result` as text in `format_name`."""
    return RENDERERS[format_name](result, windows)


def write_result(result: ScanResult, format_name: str, output: str | Path, windows: bool = False) -> None:
    """Write `result` in `format_name` to the file `output`, atomically."""
    with atomic_write(output) as file:
        file.write(render(result, format_name, windows))
