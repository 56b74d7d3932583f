"""One renderer per output format, chosen by name: scan results in, text out.

txt (people), json, jsonl (one object per recording), csv, srt and vtt (a player shows the
markers as subtitles), rttm (NIST, as diarization tools read it), audacity (label track),
ffmetadata (FFmpeg chapters, to mux the markers into the recording), edl (CMX3600, for editors), xspf (a
playlist of the segments, for VLC).
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import itertools
import json
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from xml.sax.saxutils import escape

from .config import TrackChoice
from .errors import OutputError, ReaderGone
from .files import atomic_write, fitted_name, valid_text

if TYPE_CHECKING:  # the CLI reads the format names at start-up without paying for numpy
    from .recordings import Recording
    from .segments import ScanResult, Segment

EDL_FRAMES_PER_SECOND = 25.0  # PAL/DVB timecode, for a recording without video
VLC_PLAYLIST = "http://www.videolan.org/vlc/playlist/0"  # the application of VLC's XSPF extension

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderOptions:
    """What some formats need besides the result: `windows` (json, jsonl: every window's score),
    and for edl the recording's video frame rate (None: no video, 25 fps timecode, audio-only events)."""

    windows: bool = False
    frame_rate: float | None = None


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


def is_drop_frame(frame_rate: float) -> bool:
    """29.97 and 59.94 fps (NTSC) count timecode with drop-frame numbering."""
    return any(abs(frame_rate - nominal * 1000 / 1001) < 0.01 for nominal in (30, 60))


def timecode(frame: int, frame_rate: float) -> str:
    """SMPTE timecode of frame number `frame`: `HH:MM:SS:FF`, or `HH:MM:SS;FF` in drop-frame numbering
    (which skips 2 frame numbers, 4 at 59.94, at each minute but every tenth, so that the timecode
    keeps to the clock)."""
    nominal = round(frame_rate)
    separator = ":"
    if is_drop_frame(frame_rate):
        dropped = 2 * nominal // 30
        per_ten_minutes, per_minute = nominal * 600 - 9 * dropped, nominal * 60 - dropped
        tens, rest = divmod(frame, per_ten_minutes)
        frame += 9 * dropped * tens + (dropped * ((rest - dropped) // per_minute) if rest > dropped else 0)
        separator = ";"
    hours, rest = divmod(frame, 3600 * nominal)
    minutes, rest = divmod(rest, 60 * nominal)
    return f"{hours:02d}:{minutes:02d}:{rest // nominal:02d}{separator}{rest % nominal:02d}"


def clock_text(time: datetime.datetime, tenths: bool = False) -> str:
    """A time something was on air, for people: in this machine's time zone (TZ), named, as `date` shows it:
    `YYYY-MM-DD HH:MM:SS CET` (`HH:MM:SS.s` with `tenths`). The machine formats give it in UTC."""
    local = time.astimezone()
    fraction = f".{local.microsecond // 100_000}" if tenths else ""
    return f"{local:%Y-%m-%d %H:%M:%S}{fraction} {local:%Z}"


def txt_line(segment: Segment, on_air: datetime.datetime | None = None) -> str:
    """A segment for people: `HH:MM:SS.s – HH:MM:SS.s  score`, followed by `  on air` and when its start was
    (`on_air`; see `clock_text`) where known."""
    line = f"{format_timestamp(segment.start)} – {format_timestamp(segment.end)}  {segment.score:.3f}"
    return line + (f"  on air {clock_text(on_air)}" if on_air else "")


def render_txt(result: ScanResult, options: RenderOptions) -> str:
    """One line per segment for people (see `txt_line`), with when it was on air where the recording says
    when it was broadcast (see `ScanResult.broadcast_time`)."""
    return "".join(txt_line(s, result.on_air(s.start)) + "\n" for s in result.segments)


def render_json(result: ScanResult, options: RenderOptions) -> str:
    return json.dumps(result.to_dict(windows=options.windows), indent=1) + "\n"


def render_jsonl(result: ScanResult, options: RenderOptions) -> str:
    return json.dumps(result.to_dict(windows=options.windows), separators=(",", ":")) + "\n"


# on_air: when the segment's start was broadcast (UTC, ISO 8601), where the recording says (see
# `ScanResult.broadcast_time`); empty where not, and in `scan --live` lines
# stream: the audio stream the scan read, where its options chose one (`TrackChoice.label`: a multiplex's channel)
CSV_HEADER = ("file", "model", "start", "end", "score", "on_air", "stream")


def csv_rows(rows: Iterable[Iterable[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def csv_row(file: str, model: str, segment: Segment, on_air: datetime.datetime | None = None,
            stream: str = "") -> list[object]:
    from .segments import iso_time

    return [file, model, segment.start, segment.end, segment.score, iso_time(on_air), stream]


def render_csv(result: ScanResult, options: RenderOptions) -> str:
    return csv_rows([CSV_HEADER, *(csv_row(result.file, result.model, s, result.on_air(s.start), result.track.label)
                                   for s in result.segments)])


def label(result: ScanResult, score: float) -> str:
    return f"{result.model} ({score:.2f})"


def render_srt(result: ScanResult, options: RenderOptions) -> str:
    return "".join(f"{number}\n{clock(s.start, ',')} --> {clock(s.end, ',')}\n{label(result, s.score)}\n\n"
                   for number, s in enumerate(result.segments, start=1))


def render_vtt(result: ScanResult, options: RenderOptions) -> str:
    return "WEBVTT\n\n" + "".join(f"{clock(s.start, '.')} --> {clock(s.end, '.')}\n{label(result, s.score)}\n\n"
                                  for s in result.segments)


def render_rttm(result: ScanResult, options: RenderOptions) -> str:
    """NIST RTTM as pyannote writes it: SPEAKER file 1 onset duration <NA> <NA> name <NA> <NA>. The file
    id is the recording's file name without its extension, and the audio stream chosen where the scan chose one
    (`monday.ZDF`: each channel of a multiplex its own), spaces made underscores (RTTM fields are separated by
    spaces); the score is not a confidence in RTTM's sense, so it is left out."""
    return "".join(rttm_line(result.file, result.model, s, result.track.label) for s in result.segments)


def rttm_line(file: str, model: str, segment: Segment, stream: str = "") -> str:
    recording = Path(file).stem + (f".{stream}" if stream else "")
    recording, speaker = recording.replace(" ", "_"), model.replace(" ", "_")
    duration = segment.end - segment.start
    return f"SPEAKER {recording} 1 {segment.start:.3f} {duration:.3f} <NA> <NA> {speaker} <NA> <NA>\n"


def render_audacity(result: ScanResult, options: RenderOptions) -> str:
    """Audacity label track: start<TAB>end<TAB>label, seconds."""
    return "".join(f"{s.start:.6f}\t{s.end:.6f}\t{label(result, s.score)}\n" for s in result.segments)


def render_ffmetadata(result: ScanResult, options: RenderOptions) -> str:
    """FFmpeg FFMETADATA1 chapters in milliseconds, one per segment and one per stretch between them.

    Matroska keeps chapters as written (`ffmpeg -i rec.ts -i this -map 0 -map_chapters 1 -c copy
    rec.mkv`); MP4 makes each chapter run to the next and the first start at 0, so without the
    chapters between the segments the stretches where the target does not speak would read as the
    target. MPEG-TS holds no chapters at all.
    """
    bounds = [0.0] + [t for s in result.segments for t in (s.start, s.end)] + [max(result.duration, 0.0)]
    titles = [title for s in result.segments for title in (f"not {result.model}", label(result, s.score))]
    titles.append(f"not {result.model}")
    chapters = "".join(f"\n[CHAPTER]\nTIMEBASE=1/1000\nSTART={round(start * 1000)}\nEND={round(end * 1000)}\n"
                       f"title={escape_ffmetadata(title)}\n"
                       for start, end, title in zip(bounds[:-1], bounds[1:], titles, strict=True) if end > start)
    return ";FFMETADATA1\n" + chapters


def escape_ffmetadata(text: str) -> str:
    for special in "\\=;#\n":
        text = text.replace(special, "\\" + special)
    return text


def render_edl(result: ScanResult, options: RenderOptions) -> str:
    """CMX3600 edit decision list: one cut per segment, at the recording's video frame rate
    (drop-frame at 29.97 and 59.94), audio and video channels (`AA/V`), or audio only (`A`) and
    25 fps for a recording without video. Segment edges are rounded to frames once; source and
    record durations are the same frame counts."""
    frame_rate = options.frame_rate or EDL_FRAMES_PER_SECOND
    mode = "DROP FRAME" if is_drop_frame(frame_rate) else "NON-DROP FRAME"
    channels = "AA/V" if options.frame_rate else "A"
    lines = [f"TITLE: {Path(result.file).stem} {result.model}"[:70], f"FCM: {mode}", ""]
    record = 0
    for number, s in enumerate(result.segments, start=1):
        start, end = round(s.start * frame_rate), round(s.end * frame_rate)
        lines.append(f"{number:03d}  AX       {channels:<5} C        {timecode(start, frame_rate)} "
                     f"{timecode(end, frame_rate)} {timecode(record, frame_rate)} "
                     f"{timecode(record + end - start, frame_rate)}")
        lines.append(f"* FROM CLIP NAME: {Path(result.file).name}")
        lines.append(f"* COMMENT: {label(result, s.score)}")
        lines.append("")
        record += end - start
    return "\n".join(lines) + "\n"


def render_xspf(result: ScanResult, options: RenderOptions) -> str:
    """XSPF playlist (xspf.org) with VLC's options: a track per segment, the recording played from the segment's
    start to its end, so that opening it in VLC plays where the target speaks, one segment after another (see
    `xspf_tracks`). Several results on stdout make one playlist of them all (see `ResultOutputs`)."""
    return xspf_head(f"{Path(result.file).name}: {result.model}") + xspf_tracks(result, 0) + XSPF_TAIL


def xspf_head(title: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<playlist version="1" xmlns="http://xspf.org/ns/0/" '
            f'xmlns:vlc="http://www.videolan.org/vlc/playlist/ns/0/">\n <title>{escape(valid_text(title))}</title>\n'
            f" <trackList>\n")


XSPF_TAIL = " </trackList>\n</playlist>\n"


def xspf_tracks(result: ScanResult, first_id: int) -> str:
    """A playlist's tracks of `result`'s segments, numbered (VLC's ids, each a track's own) from `first_id`: the
    recording by its absolute file URI, titled by its name and the segment; the audio stream the scan read, where
    it was chosen by number or by language, by VLC's `audio-track` or `audio-language`. A channel chosen by
    `--programme` is VLC's own choice of a multiplex's channels, which may be another: VLC 3.0.24 given its
    `program` option (the channel's service ID) played that channel, but from the recording's start, not the
    segment's (measured on a two-channel capture of FFmpeg's muxer)."""
    location = escape(Path(result.file).absolute().as_uri())  # the URI keeps a name's bytes; titles show them
    name = Path(result.file).name
    chosen = ([f"audio-track={result.track.audio_track}"] if result.track.audio_track is not None else []) + (
        [f"audio-language={result.track.language}"] if result.track.language else [])
    tracks = []
    for number, s in enumerate(result.segments, first_id):
        title = f"{name} {format_timestamp(s.start)} – {format_timestamp(s.end)}  {label(result, s.score)}"
        vlc_options = [f"start-time={s.start:.3f}", f"stop-time={s.end:.3f}", *chosen]
        tracks.append(f"  <track>\n   <location>{location}</location>\n   <title>{escape(valid_text(title))}</title>\n"
                      f"   <extension application=\"{VLC_PLAYLIST}\">\n    <vlc:id>{number}</vlc:id>\n"
                      + "".join(f"    <vlc:option>{escape(option)}</vlc:option>\n" for option in vlc_options)
                      + "   </extension>\n  </track>\n")
    return "".join(tracks)


RENDERERS: dict[str, Callable[[ScanResult, RenderOptions], str]] = {
    "txt": render_txt, "json": render_json, "jsonl": render_jsonl, "csv": render_csv, "srt": render_srt,
    "vtt": render_vtt, "rttm": render_rttm, "audacity": render_audacity, "ffmetadata": render_ffmetadata,
    "edl": render_edl, "xspf": render_xspf,
}
EXTENSIONS = {"audacity": "labels.txt", "ffmetadata": "ffmeta"}
FORMAT_NAMES = tuple(RENDERERS)
# The formats whose results, several in one stream, still say which recording and model each segment is of
# (txt with a header each, JSON lines, one CSV table, RTTM, one playlist); the others are one recording's for one
# model.
STREAM_FORMATS = frozenset({"txt", "json", "jsonl", "csv", "rttm", "xspf"})


def extension(format_name: str) -> str:
    return EXTENSIONS.get(format_name, format_name)


def format_named_by(path: Path, format_names: Iterable[str] = FORMAT_NAMES) -> str | None:
    """The format of `format_names` whose file extension `path`'s name ends in (`anna.srt`: srt; `anna.labels.txt`:
    audacity), None if none."""
    name = path.name.lower()
    longest_first = sorted(format_names, key=lambda format_name: -len(extension(format_name)))
    return next((format_name for format_name in longest_first if name.endswith(f".{extension(format_name)}")), None)


def render(result: ScanResult, format_name: str, options: RenderOptions = RenderOptions()) -> str:
    """`result` as text in `format_name`."""
    return RENDERERS[format_name](result, options)


def make_folder(folder: Path) -> None:
    """The mirrored `folder` of a recording's outputs, made where it is not (an OutputError where it cannot be:
    a file in its way, a name the file system refuses)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(folder, f"cannot make the folder for its outputs: {error.strerror}", error.errno) from None


def write_result(result: ScanResult, format_name: str, output: str | Path,
                 options: RenderOptions = RenderOptions()) -> None:
    """Write `result` in `format_name` to the file `output`, atomically."""
    with atomic_write(output) as file:
        file.write(render(result, format_name, options))


def write_or_fail(write: Callable[[Recording, list[ScanResult]], None], recording: Recording,
                  results: list[ScanResult]) -> OutputError | None:
    """`write(recording, results)`: None, or the OutputError where this recording's outputs cannot be written
    (its name, a folder in their way), for the caller to report while it writes the others'; raised where
    none could be (the file system full or read-only: `OutputError.device_wide`)."""
    try:
        write(recording, results)
    except OutputError as error:
        if error.device_wide:
            raise
        return error
    return None


class ResultOutputs:
    """Writes each recording's results in every format: to stdout, to one file, or to one file per
    recording, model and format (`RECORDING-STEM.MODEL.EXT`) under `output_dir`, mirroring the
    folders scanned (a recording whose outputs would overwrite another's, as `rec.mp4` beside
    `rec.ts`, is named in full: `rec.mp4.MODEL.EXT`; see `output_stem`). On stdout, several JSON
    documents become JSON lines, several CSV tables one table and several playlists one (ended by `finish`),
    so the stream stays parseable; several txt results get a `# file [model]` header each. Several results
    in one `output` file (a format of STREAM_FORMATS) are written as stdout gets them, into a temporary
    file that `finish` puts in place; used as a context manager, an error or Ctrl-C before `finish` leaves
    no file, and ends a playlist begun on stdout, so that what was written still parses. EDL timecode runs
    at `frame_rate`, else at the recording's own video frame rate. `stream` stands for stdout (None:
    `sys.stdout` as it is when a result is written)."""

    def __init__(self, format_names: Iterable[str], *, windows: bool = False, output: Path | None = None,
                 output_dir: Path | None = None, several: bool = False, frame_rate: float | None = None,
                 stream: TextIO | None = None):
        self.format_names, self.windows, self.output, self.output_dir = tuple(format_names), windows, output, output_dir
        self.several, self.frame_rate, self.stream = several, frame_rate, stream
        self.csv_started = False
        self.playlist_tracks: int | None = None  # several results' playlist (stdout, -o's file): its tracks so far
        self.claimed: dict[Path, Path] = {}  # the output names given (folder / stem), and their recordings
        self.output_file = contextlib.ExitStack()  # several results' `output`, open from the first to `finish`
        self.output_stream: TextIO | None = None

    def __enter__(self) -> ResultOutputs:
        return self

    def __exit__(self, *exc_info) -> None:
        self.output_file.__exit__(*exc_info)  # an error: the temporary file is removed, `output` left as it was
        if self.output is None and self.playlist_tracks is not None:  # stopped part way: stdout's playlist ended
            with contextlib.suppress(OSError):  # a reader gone
                self.finish()

    def __call__(self, recording: Recording, results: list[ScanResult]) -> None:
        frame_rate = self.frame_rate
        if frame_rate is None and "edl" in self.format_names:
            from .audio import video_frame_rate

            frame_rate = video_frame_rate(recording.path)
        options = RenderOptions(windows=self.windows, frame_rate=frame_rate)
        stem = self.output_stem(recording) if self.output_dir is not None else None
        if "xspf" in self.format_names and results and results[0].track.programme is not None:
            log.warning("%s: its playlist (xspf) cannot choose the channel %r: VLC plays the capture's first "
                        "channel at the segments' times", recording.path, results[0].track.programme)
        for result in results:
            for format_name in self.format_names:
                if stem is not None:
                    make_folder(stem.parent)
                    target = stem.parent / fitted_name(stem.name, f"{track_suffix(result)}.{result.model}."
                                                                  f"{extension(format_name)}")
                    write_result(result, format_name, target, options)
                elif self.output is not None and not self.several:
                    write_result(result, format_name, self.output, options)
                else:
                    self.to_results_stream(result, format_name, options)

    def finish(self) -> None:
        """End what several results on stdout or in `output` left open: their playlist, the file."""
        if self.playlist_tracks is not None:
            self.results_stream().write(XSPF_TAIL)
            self.playlist_tracks = None
        self.output_file.close()

    def results_stream(self) -> TextIO:
        """Where several results go: stdout, or the temporary file of `output`, opened by the first."""
        if self.output is None:
            return self.stream or sys.stdout
        if self.output_stream is None:
            self.output_stream = self.output_file.enter_context(atomic_write(self.output))
        return self.output_stream

    def output_stem(self, recording: Recording) -> Path:
        """Where `recording`'s outputs go, but for `.MODEL.EXT`: its stem in the mirrored folder, unless an
        earlier recording of this batch has it (`rec.ts` beside `rec.mp4`, or two roots holding
        `news.ts`): then its whole name, and a number after it if that is taken too."""
        folder = self.output_dir / recording.relative.parent
        names = itertools.chain([recording.path.stem, recording.path.name],
                                (f"{recording.path.name}.{number}" for number in itertools.count(2)))
        # the first name no other recording has claimed (claiming it)
        name = next(name for name in names if self.claimed.setdefault(folder / name, recording.path) == recording.path)
        if name != recording.path.stem:
            log.warning("%s: its outputs are named %s.*, as another recording's are %s.*", recording.path, name,
                        recording.path.stem)
        return folder / name

    def to_results_stream(self, result: ScanResult, format_name: str, options: RenderOptions) -> None:
        stream = self.results_stream()
        if self.several and format_name == "txt":
            stream.write(f"# {recording_name(result, whole_path=True)} [{result.model}]\n")
        shown = "jsonl" if self.several and format_name == "json" else format_name
        if self.several and shown == "xspf":  # one playlist of every result's segments, ended by `finish`
            if self.playlist_tracks is None:
                stream.write(xspf_head("speakerspot: segments of several recordings"))
                self.playlist_tracks = 0
            stream.write(xspf_tracks(result, self.playlist_tracks))
            self.playlist_tracks += len(result.segments)
            return
        text = render(result, shown, options)
        if shown == "csv" and self.csv_started:  # one table: the header once
            text = text.split("\n", 1)[1]
        self.csv_started |= shown == "csv"
        stream.write(text)


def recording_name(result: ScanResult, whole_path: bool = False) -> str:
    """The recording of `result` as a report's page and a txt header name it, by its file's name (or path), with
    the audio stream its scan chose where one was (`TrackChoice.label`: a channel of a multiplex capture)."""
    name = result.file if whole_path else Path(result.file).name
    return f"{name} ({result.track.label})" if result.track.label else name


def track_suffix(result: ScanResult) -> str:
    """What tells the output files of one recording's audio streams apart (a multiplex capture's channels, each
    scanned): "." and the stream its scan chose (`TrackChoice.label`, a "/" in a channel's name made "-"); "" for
    the default stream."""
    return f".{result.track.file_part}" if result.track.label else ""


# The formats of `scan --live`: one line per segment, each line complete in itself.
LIVE_FORMATS = ("txt", "jsonl", "csv", "rttm")


class SegmentLines:
    """Each segment of a scan as a line on `stream` (None: stdout) the moment it is decided, flushed at once
    (`scan --live`), in one of `LIVE_FORMATS`: txt as `render_txt` writes it, followed by the model's
    name where `several` models scan; jsonl one object per segment (a CSV row's fields); csv one table, its
    header first; rttm as `render_rttm`. Lines are written between tqdm's bars. A segment's time on air is
    told once its recording's broadcast time is (`broadcast_time`; a stream's, once it brought a time table).
    `track`: the audio stream the scan reads, as its options chose it, which csv, jsonl and rttm lines name."""

    def __init__(self, format_name: str, several: bool = False, stream: TextIO | None = None,
                 track: TrackChoice = TrackChoice()):
        if format_name not in LIVE_FORMATS:
            raise ValueError(f"{format_name} is not a format of one line per segment ({', '.join(LIVE_FORMATS)})")
        self.format_name, self.several, self.stream, self.track = format_name, several, stream, track
        self.csv_started = False
        self.broadcast_times: dict[Path, datetime.datetime] = {}

    def broadcast_time(self, recording: Recording, time: datetime.datetime) -> None:
        """The recording's 0:00 was broadcast at `time`."""
        self.broadcast_times[recording.path] = time

    def __call__(self, recording: Recording, model_name: str, segment: Segment) -> None:
        from tqdm import tqdm

        from .segments import time_on_air

        file = str(recording.path)
        on_air = time_on_air(self.broadcast_times.get(recording.path), segment.start)
        if self.format_name == "txt":
            line = txt_line(segment, on_air) + (f"  {model_name}\n" if self.several else "\n")
        elif self.format_name == "jsonl":  # the fields of a CSV row
            line = json.dumps(dict(zip(CSV_HEADER, csv_row(file, model_name, segment, on_air, self.track.label),
                                       strict=True)), separators=(",", ":")) + "\n"
        elif self.format_name == "csv":
            line = csv_rows([CSV_HEADER] * (not self.csv_started)
                            + [csv_row(file, model_name, segment, on_air, self.track.label)])
            self.csv_started = True
        else:
            line = rttm_line(file, model_name, segment, self.track.label)
        stream = self.stream or sys.stdout
        try:
            tqdm.write(line, file=stream, end="")
            stream.flush()
        except BrokenPipeError as error:
            raise ReaderGone(*error.args) from error
