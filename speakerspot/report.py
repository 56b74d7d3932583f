"""HTML reports of scan results: a page per recording with its score timelines, segments and
excerpts to hear, and for several recordings an index page linking them.

Every page is one self-contained file (scripts, styles and audio inline; nothing fetched), so it
opens from a mail, a ticket or an archive's shelf. A report of several recordings is an index
page and a folder beside it with one page per recording: each page carries only its own excerpts,
so the index stays small however many recordings there are, and a page opens as fast as its own
recording allows.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import logging
import os
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from tqdm import tqdm

from .config import TrackChoice
from .errors import OutputError, SpeakerspotError
from .evaluation import evaluate_scan
from .files import atomic_write, check_writable, fitted_name, valid_text
from .segments import ScanResult, recording_duration
from .sidecars import recorder_programme
from .snippets import PADDING_SECONDS, Snippet, cut_snippets, snippet_spans
from .writers import clock_text, format_timestamp, recording_name, track_suffix

log = logging.getLogger(__name__)

NO_AUDIO = "This report carries no audio (made with --no-audio)."


@dataclass(frozen=True)
class RecordingReport:
    """What one recording's page shows: every model's result for it, the excerpts to play, and the
    truth (None: not given). `no_audio_reason` says why there are no excerpts, when there are none."""

    results: list[ScanResult]
    snippets: list[Snippet]
    truth: list[tuple[float, float]] | None = None
    no_audio_reason: str = NO_AUDIO

    @property
    def file(self) -> str:
        return self.results[0].file

    @property
    def duration(self) -> float:
        return recording_duration(self.results)


def group_by_recording(results: Iterable[ScanResult]) -> list[list[ScanResult]]:
    """Results of the same recording and audio stream (a channel of a multiplex capture: each its own) together, in
    the order they first appear."""
    groups: dict[tuple[str, str], list[ScanResult]] = {}
    for result in results:
        groups.setdefault((result.file, result.track.key), []).append(result)
    return list(groups.values())


def read_scan_json(path: str | Path) -> list[ScanResult]:
    """The results in a scan's JSON (one document) or JSON-lines output; they must hold `--windows`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpeakerspotError(path, f"cannot read: {error.strerror}") from None
    try:
        documents = json_documents(text)
        results = [ScanResult.from_dict(document) for document in documents]
    except (ValueError, KeyError, TypeError):
        raise SpeakerspotError(path, "not a scan's JSON output (speakerspot scan --format json --windows)") from None
    if any(len(result.window_times) == 0 and result.duration > 0 for result in results):
        raise SpeakerspotError(path, "holds no window scores to draw: scan with --format json --windows")
    return results


def json_documents(text: str) -> list[dict]:
    """One JSON document, or JSON lines (several recordings on stdout)."""
    try:
        return [json.loads(text)]
    except json.JSONDecodeError as error:
        if error.msg != "Extra data":
            raise
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def recording_report(results: list[ScanResult], truth: list[tuple[float, float]] | None = None, audio: bool = True,
                     track: TrackChoice = TrackChoice()) -> RecordingReport:
    """A recording's page contents; with `audio`, excerpts around its segments are cut from the
    recording's stream `track` picks (a recording that cannot be read gets a page without them, and a
    warning)."""
    silent = RecordingReport(results, [], truth)
    if not audio:
        return silent
    spans = snippet_spans([(s.start, s.end) for result in results for s in result.segments], silent.duration)
    try:
        snippets = cut_snippets(silent.file, spans, track)
    except SpeakerspotError as error:
        log.warning("%s; its page has no audio", error)
        return replace(silent, no_audio_reason=f"No audio: {error}")
    return replace(silent, snippets=snippets, no_audio_reason="No segments, so no excerpts to play.")


def snippet_of(snippets: list[Snippet], time: float) -> int:
    """The index of the excerpt holding `time`, -1 if none does."""
    return next((index for index, snippet in enumerate(snippets) if snippet.start <= time < snippet.end), -1)


def recording_page(report: RecordingReport, index_href: str | None = None) -> str:
    """The HTML page of one recording (see the module's docstring): named by its file and the audio stream chosen
    (a channel of a multiplex capture), and by its title and channel where its recorder names them beside it (a
    VDR recording, whose folder is named by when it began, in its info file; a Humax one in its .hmt)."""
    name = recording_name(report.results[0])
    if programme := recorder_programme(report.file):
        name = f"{programme} ({name})"
    data = {"kind": "recording", "duration": report.duration, "truth": report.truth,
            "no_audio_reason": report.no_audio_reason,
            "snippets": [{"start": s.start, "end": s.end,
                          "src": "data:audio/mpeg;base64," + base64.b64encode(s.mp3).decode("ascii")}
                         for s in report.snippets],
            "tracks": [{"model": r.model, "threshold": r.threshold, "stay": r.stay_threshold, "edge": r.edge_threshold,
                        "times": [round(float(t), 2) for t in r.window_times],
                        "scores": [round(float(s), 3) for s in r.smoothed_scores],
                        "segments": [[s.start, s.end] for s in r.segments]} for r in report.results]}
    found = ", ".join(f"{html.escape(r.model)}: {len(r.segments)} segment(s), "
                      f"{format_timestamp(sum(s.end - s.start for s in r.segments))[:8]}" for r in report.results)
    back = f'<p><a href="{html.escape(index_href)}">← all recordings</a></p>' if index_href else ""
    aired = report.results[0].broadcast_time
    found += f" · 0:00 broadcast at {clock_text(aired)}" if aired else ""
    tracks = "".join(track_section(index, result, report) for index, result in enumerate(report.results))
    legend = ('<p class="legend"><span><i style="background:var(--found)"></i>segment found</span>'
              + ('<span><i style="background:var(--truth)"></i>truth</span>' if report.truth is not None else "")
              + '<span><i style="background:var(--score);height:2px"></i>smoothed score</span>'
              '<span><i style="border-top:2px solid var(--level);height:0"></i>threshold; dashed: a segment '
              'stays above, dotted: its ends are above, but where a turn well above the threshold grew to the '
              'middle of its edges</span></p>')
    body = (f"{back}<h1>{html.escape(name)}</h1>"
            f'<p class="meta">{html.escape(report.file)} · {format_timestamp(report.duration)[:8]} · {found}</p>'
            '<div class="player"><div class="toolbar"><button id="zoom-in">Zoom in</button>'
            '<button id="zoom-out">Zoom out</button><button id="zoom-all">Whole recording</button>'
            '<span class="status" id="view-range"></span></div>'
            '<audio id="player" controls preload="none"></audio>'
            f'<div class="status" id="player-status">Click a segment, or a point on a timeline, to hear it '
            f'(excerpts run {PADDING_SECONDS:g} s either side of each segment). Drag to pan, scroll to zoom.'
            "</div></div>"
            f"{legend}{tracks}")
    return page(name, body, data)


def track_section(index: int, result: ScanResult, report: RecordingReport) -> str:
    aired = result.broadcast_time is not None  # each segment's start as the time it was on air

    def on_air(start: float) -> str:
        return f"<td>{clock_text(result.on_air(start))}</td>" if aired else ""

    rows = "".join(
        f'<tr class="segment" data-start="{s.start}" data-end="{s.end}" '
        f'data-snippet="{snippet_of(report.snippets, s.start)}"><td class="number">{number}</td>'
        f"<td>{format_timestamp(s.start)}</td><td>{format_timestamp(s.end)}</td>"
        f'<td class="number">{s.end - s.start:.1f} s</td><td class="number">{s.score:.3f}</td>{on_air(s.start)}</tr>'
        for number, s in enumerate(result.segments, start=1))
    table = ('<div class="segments"><table><thead><tr><th class="number">#</th><th>start</th><th>end</th>'
             '<th class="number">duration</th><th class="number">score</th>'
             f'{"<th>on air</th>" if aired else ""}</tr></thead><tbody>{rows}</tbody></table></div>' if rows
             else '<p class="hint">No segment found.</p>')
    # what `eval` would print of this scan, against the truth drawn
    figures = (f'<p class="meta">Against the truth: {evaluate_scan(result, report.truth).text()}</p>'
               if report.truth is not None else "")
    return (f'<section class="track"><h2>{html.escape(result.model)}</h2>{figures}'
            f'<canvas class="timeline" id="timeline-{index}"></canvas>{table}</section>')


def index_page(reports: list[tuple[str, list[ScanResult]]], failures: Iterable[tuple[str, str]] = ()) -> str:
    """The page listing recordings (href of each one's page, its results), speakers and the time
    found per speaker, and recordings that could not be scanned (path, why)."""
    models = sorted({result.model for _, results in reports for result in results})
    rows = [{"name": recording_name(results[0], whole_path=True), "href": href, "duration": recording_duration(results),
             "on_air": clock_text(results[0].broadcast_time) if results[0].broadcast_time else None,
             "found": {r.model: [round(sum(s.end - s.start for s in r.segments), 1), len(r.segments)]
                       for r in results}} for href, results in reports]
    aired = any(row["on_air"] for row in rows)  # a column of when each was broadcast, where any says it
    summary = "".join(
        f"<tr><td>{html.escape(model)}</td>"
        f'<td class="number">{sum(1 for row in rows if row["found"].get(model, [0, 0])[1])}</td>'
        f'<td class="number">{sum(row["found"].get(model, [0, 0])[1] for row in rows)}</td>'
        f'<td class="number">{format_timestamp(sum(row["found"].get(model, [0, 0])[0] for row in rows))[:8]}</td></tr>'
        for model in models)
    failed = "".join(f'<li><span class="failed">{html.escape(path)}</span>: {html.escape(error)}</li>'
                     for path, error in failures)
    hours = sum(row["duration"] for row in rows) / 3600
    model_headers = "".join(f'<th class="number">{html.escape(model)}</th>' for model in models)
    body = (f"<h1>speakerspot report</h1><p class=\"meta\">{len(rows)} recording(s), {hours:.1f} h of audio, "
            f"{len(models)} speaker(s)</p>"
            '<h2>Speakers</h2><table><thead><tr><th>speaker</th><th class="number">recordings where found</th>'
            '<th class="number">segments</th><th class="number">time found</th></tr></thead>'
            f"<tbody>{summary}</tbody></table>"
            + (f"<h2>Not scanned</h2><ul>{failed}</ul>" if failed else "")
            + '<h2>Recordings</h2><div class="pager"><input type="search" id="filter" placeholder="filter by name'
            + (' or day' if aired else '') + '"><button id="previous-page">◀</button><button id="next-page">▶</button>'
            '<span class="status" id="page-label"></span></div>'
            f'<table><thead><tr><th>recording</th>{"<th>on air</th>" if aired else ""}<th class="number">length</th>'
            f'{model_headers}</tr></thead><tbody id="recordings"></tbody></table>'
            '<p class="hint">Time found per speaker, and its number of segments.</p>')
    return page("speakerspot report", body, {"kind": "index", "models": models, "rows": rows, "aired": aired})


@functools.cache
def asset(name: str) -> str:
    """A file of report_assets/, read once however many pages are written."""
    return (resources.files(__package__) / "report_assets" / name).read_text()


def write_recording_page(report: RecordingReport, path: Path, index_href: str | None, png: bool) -> list[Path]:
    """Write `report`'s page at `path` (linking back to the index page at `index_href`), and with `png` a picture
    of its timelines beside it; the files written."""
    with atomic_write(path) as file:
        file.write(recording_page(report, index_href))
    if not png:
        return [path]
    from .plot import write_timeline_png

    return [path, write_timeline_png(report.results, report.truth, path.with_suffix(".png"))]


def page(title: str, body: str, data: dict) -> str:
    # "</" inside the JSON would end its script element early.
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return valid_text('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                      '<meta name="viewport" content="width=device-width, initial-scale=1">'
                      f"<title>{html.escape(title)}</title><style>{asset('report.css')}</style></head>"
                      f'<body>{body}<script type="application/json" id="report-data">{payload}</script>'
                      f"<script>{asset('report.js')}</script></body></html>\n")


def link(relative_path: str) -> str:
    """The href of a file at `relative_path`: a `#`, `?` or `%` in a recording's name is not a URL's
    (`Folge #12.ts` linked to `Folge `), and a name's bytes that are not UTF-8 are kept."""
    return urllib.parse.quote(os.fsencode(relative_path))


def write_report(results: Iterable[ScanResult], output: str | Path,
                 truths: Sequence[list[tuple[float, float]] | None] | None = None, audio: bool = True,
                 track: TrackChoice | None = None, failures: Iterable[tuple[str, str]] = (), png: bool = False,
                 progress: bool = False, on_failure: Callable[[OutputError], None] | None = None) -> list[Path]:
    """Write the report of `results` to `output` (an .html path); the files written, pages first.

    One recording: its page at `output`. Several: the index page at `output` and each
    recording's page in the folder `OUTPUT-STEM_files` beside it. `truths`, one recording's true turns for
    each recording in the order they first appear in `results` (None: not known), are drawn under their
    timelines, with each model's figures against them. With `png`, a picture of each recording's timelines
    beside its page (`speakerspot[plot]`).
    The excerpts are cut from the audio stream `track` picks, by default from the one each recording
    was scanned on (`ScanResult.track`). With `on_failure`, a recording's page that cannot be written (a name the
    file system refuses, a folder in its way) is handed to it, listed on the index page among the failures, and
    the others are written; without, or where nothing more can be written there (`OutputError.device_wide`), it is
    raised.
    """
    output = check_writable(output)  # now, not after cutting the audio
    groups = group_by_recording(results)
    if not groups:
        raise SpeakerspotError(None, "no results to report")
    if truths is not None and len(truths) != len(groups):
        raise SpeakerspotError(None, f"give one truth file per recording, in the order they come: the results hold "
                                     f"{len(groups)} recording(s), {len(truths)} truth file(s) were given")
    if png:
        from .plot import require_matplotlib

        require_matplotlib()
    single = len(groups) == 1
    folder = output if single else output.parent / f"{output.stem}_files"
    if not single:
        try:
            folder.mkdir(exist_ok=True)
        except OSError as error:
            raise OutputError(folder, f"cannot make the folder for the recordings' pages: {error.strerror}") from None
    written, pages, unwritten = [], [], []
    for number, group in enumerate(tqdm(groups, desc="report", unit="recording", disable=not progress or single),
                                   start=1):
        report = recording_report(group, None if truths is None else truths[number - 1], audio,
                                  group[0].track if track is None else track)
        path = output if single else folder / fitted_name(f"{number:04d}-{Path(group[0].file).stem}"
                                                          f"{track_suffix(group[0])}", ".html")
        try:
            written += write_recording_page(report, path, None if single else link(f"../{output.name}"), png)
        except OutputError as error:
            if on_failure is None or error.device_wide or single:
                raise
            on_failure(error)
            unwritten.append((recording_name(group[0], whole_path=True), f"not written: {error}"))
            continue
        pages.append((link(f"{folder.name}/{path.name}"), group))
    if not single:
        with atomic_write(output) as file:
            file.write(index_page(pages, [*failures, *unwritten]))
        written.insert(0, output)
    return written
