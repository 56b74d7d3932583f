"""`speakerspot report`: the HTML pages, the excerpts they play, the index page, the PNG picture.

The pages are checked in a real headless browser (Debian's Chromium, which `make install` installs,
driven by Playwright): they load without a console error, draw their timelines, and clicking a
segment plays the recording there.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from browser import CHROMIUM, chromium, open_page
from click.testing import CliRunner
from conftest import FIXTURES, page_data
from media import write_recording

from speakerspot.cli import cli
from speakerspot.evaluation import evaluate_scan
from speakerspot.report import group_by_recording, read_scan_json, write_report
from speakerspot.results_index import SCHEMA_VERSION, TABLE, ResultsIndex
from speakerspot.scanning import scan
from speakerspot.snippets import MAX_SEGMENT_SECONDS, PADDING_SECONDS, SNIPPET_RATE, cut_snippets, snippet_spans


@pytest.fixture(scope="module")
def sample_result(reference_model):
    """The committed model's scan of the sample recording."""
    return scan(reference_model, FIXTURES / "sample.ts")


def decode_mp3(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return np.concatenate([frame.to_ndarray()[0] for frame in container.decode(audio=0)])


def test_an_excerpt_holds_the_recording_at_the_times_the_scan_gives(tmp_path):
    # A DVB-shaped capture (48 kHz stereo MP2, video, a second track, first PTS at 10 h) with a tone
    # burst from 12.0 s: the excerpt from 10 s hears it 2.0 s in.
    rate = 16000
    samples = np.zeros(30 * rate, np.float32)
    samples[12 * rate:13 * rate] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
    path = write_recording(tmp_path / "capture.ts", samples, rate, start_seconds=36000.0, video=True,
                           extra_tracks=(np.zeros_like(samples),))
    (snippet,) = cut_snippets(path, [(10.0, 14.0)])
    audio = decode_mp3(snippet.mp3)
    assert abs(len(audio) / SNIPPET_RATE - 4.0) < 0.01
    loud = np.flatnonzero(np.abs(audio) > 0.1)
    assert abs(loud[0] / SNIPPET_RATE - 2.0) < 0.03 and abs(loud[-1] / SNIPPET_RATE - 3.0) < 0.03


def test_excerpt_spans_pad_segments_cut_long_ones_and_merge_neighbours():
    spans = snippet_spans([(50.0, 200.0), (10.0, 12.0), (13.0, 14.0)], duration=60.0)
    assert spans == [(10.0 - PADDING_SECONDS, 14.0 + PADDING_SECONDS),
                     (50.0 - PADDING_SECONDS, 60.0)]  # the long one ends with the recording
    (long_one,) = snippet_spans([(50.0, 200.0)], duration=500.0)
    assert long_one[1] == 50.0 + MAX_SEGMENT_SECONDS + PADDING_SECONDS


def test_scan_json_round_trips_and_needs_its_windows(reference_model, tmp_path):
    runner = CliRunner()
    with_windows, without = tmp_path / "with.json", tmp_path / "without.json"
    for output, extra in ((with_windows, ["--windows"]), (without, [])):
        result = runner.invoke(cli, ["scan", str(FIXTURES / "sample.ts"), "-m", str(FIXTURES / "reference_model.pt"),
                                     "-f", "json", "-q", "-o", str(output), *extra])
        assert result.exit_code == 0, result.output
    (read,) = read_scan_json(with_windows)
    assert read.to_dict(windows=True) == json.loads(with_windows.read_text())
    refused = runner.invoke(cli, ["report", str(without), "-o", str(tmp_path / "r.html")])
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [
        f"speakerspot: error: {without}: holds no window scores to draw: scan with --format json --windows"]
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
def test_an_older_index_gains_the_new_columns_and_keeps_its_results(sample_result, tmp_path, version):
    # Version 1 had no levels, version 2 no broadcast time, version 3 read it from a recording's first 16 MB only,
    # version 4 did not store the recording's path below the folder scanned, version 5 kept one row per recording
    # and model, whichever channel of a multiplex capture was scanned.
    path = tmp_path / "old.sqlite"
    result = sample_result
    added = {1: ("_threshold REAL", "broadcast_time TEXT"), 2: ("broadcast_time TEXT",), 3: (), 4: (), 5: ()}[version]
    added += ("relative TEXT",) * (version < 5) + ("track TEXT",)
    old_schema = "\n".join(line for line in TABLE.splitlines() if not any(column in line for column in added))
    old_schema = old_schema.replace("(recording, track, model_hash)", "(recording, model_hash)")
    settings = json.dumps({"programme": "ZDF"} if version == 5 else {})
    values = "?,?,?,0,0,'',?,'done',NULL,?,?,1.0,?,?,?,?,'now'" + ",NULL" * {1: 0, 2: 2, 3: 3, 4: 3, 5: 4}[version]
    with sqlite3.connect(path) as connection:
        connection.executescript(old_schema)
        connection.execute(f"PRAGMA user_version={version}")
        connection.execute(f"INSERT INTO results VALUES ({values})",
                           (result.file, "hash", result.model, settings, result.threshold, result.duration,
                            json.dumps([[s.start, s.end, s.score] for s in result.segments]),
                            result.window_times.tobytes(), result.window_scores.tobytes(),
                            result.smoothed_scores.tobytes()))
    with ResultsIndex(path) as index:
        (stored,) = index.results()
    assert stored.segments == result.segments and stored.stay_threshold is None and stored.broadcast_time is None
    assert np.array_equal(stored.smoothed_scores, result.smoothed_scores)
    assert stored.track.programme == ("ZDF" if version == 5 else None)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # read on a rerun, where an older version did not read it all; version 4's none stays none
        assert connection.execute("SELECT broadcast_time, track FROM results").fetchall() == [
            (None if version >= 4 else "unread", "zdf" if version == 5 else "")]
        # the content's index made again with the table
        assert connection.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                                  "name = 'results_by_content'").fetchone() is not None
        # and the old table's pages given back: an archive's index did not stay twice its size
        assert connection.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_the_png_shows_the_segments_as_bands(sample_result, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    result = sample_result
    written = write_report([result], tmp_path / "sample.html", audio=False, png=True)
    assert [path.name for path in written] == ["sample.html", "sample.png"]
    picture = imread(written[1])
    height, width = picture.shape[:2]
    assert (width, height) == (1200, 260)
    # The plot spans about 8-97% of the width: a column inside the longest segment is banded orange,
    # one far from every segment is not.
    longest = max(result.segments, key=lambda s: s.end - s.start)
    quiet = max((b.start - a.end, (a.end + b.start) / 2) for a, b in zip(result.segments, result.segments[1:],
                                                                               strict=False))[1]

    def column(seconds: float) -> np.ndarray:
        return picture[int(0.35 * height):int(0.65 * height), int(width * (0.08 + 0.89 * seconds / result.duration))]

    orange = np.array([0.98, 0.85, 0.72])  # the band's colour at 30% over white
    assert np.any(np.all(np.abs(column((longest.start + longest.end) / 2)[:, :3] - orange) < 0.06, axis=1))
    assert not np.any(np.all(np.abs(column(quiet)[:, :3] - orange) < 0.06, axis=1))


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM}: `make install` installs Debian's chromium")
    with chromium() as launched:
        yield launched


def score_pixels(page, canvas: str) -> int:
    """How many pixels of the canvas are drawn in the score's colour."""
    return page.evaluate("""(selector) => {
        const canvas = document.querySelector(selector);
        const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let count = 0;
        for (let i = 0; i < pixels.length; i += 4)
            if (pixels[i + 3] > 128 && pixels[i + 2] > 120 && pixels[i] < 90 && pixels[i + 1] < 130) count++;
        return count;
    }""", canvas)


def test_a_recording_page_draws_its_timeline_and_plays_a_segment_where_it_is(browser, sample_result, tmp_path):
    result = sample_result
    json_path = tmp_path / "sample.json"
    json_path.write_text(json.dumps(result.to_dict(windows=True)))
    output = tmp_path / "sample.html"
    report = CliRunner().invoke(cli, ["report", str(json_path), "-o", str(output), "-q",
                                      "--truth", str(FIXTURES / "sample_truth.json")])
    assert report.exit_code == 0, report.output
    assert "http://" not in output.read_text() and "https://" not in output.read_text()  # nothing fetched
    page, errors = open_page(browser, output)
    assert page.eval_on_selector("#timeline-0", "canvas => Number(canvas.dataset.drawnWindows)") == len(
        result.window_times)
    whole = score_pixels(page, "#timeline-0")
    assert whole > 500
    # Zoomed in, the line is drawn again through fewer windows.
    page.click("#zoom-in")
    page.click("#zoom-in")
    assert page.eval_on_selector("#timeline-0", "c => Number(c.dataset.drawnWindows)") < len(result.window_times) / 3

    segment = result.segments[1]
    page.click("tr.segment >> nth=1")
    # The player reaches the segment's start, and plays on from there.
    page.wait_for_function(f"() => Number(document.getElementById('player').dataset.position) > {segment.start + 0.5}",
                           timeout=15000)
    position = page.evaluate("() => Number(document.getElementById('player').dataset.position)")
    assert segment.start + 0.5 < position < segment.start + 3
    assert page.evaluate("() => !document.getElementById('player').paused")
    assert "playing" in page.get_attribute("tr.segment >> nth=1", "class")
    assert errors == []
    page.close()


def test_an_index_report_lists_recordings_pages_them_and_links_their_pages(browser, model_file, tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    for name in ("monday.ts", "tuesday.ts"):
        shutil.copy(FIXTURES / "sample.ts", folder / name)
    (folder / "broken.ts").write_bytes(b"\x47" + bytes(5000))
    database = tmp_path / "archive.sqlite"
    runner = CliRunner()
    runner.invoke(cli, ["scan", str(folder), "-m", str(model_file), "--db", str(database), "-q", "-j", "1"])
    output = tmp_path / "archive.html"
    report = runner.invoke(cli, ["report", "--db", str(database), "-o", str(output), "-q"])
    assert report.exit_code == 0, report.output
    pages = sorted((tmp_path / "archive_files").glob("*.html"))
    assert [page.name for page in pages] == ["0001-monday.html", "0002-tuesday.html"]

    page, errors = open_page(browser, output)
    assert page.locator("#recordings tr").count() == 2
    assert "broken.ts" in page.inner_text("body")  # listed as not scanned, with why
    page.click("#recordings a >> nth=1")
    page.wait_for_selector("#timeline-0")
    assert page.url.endswith("archive_files/0002-tuesday.html")
    assert page.eval_on_selector("#timeline-0", "c => Number(c.dataset.drawnWindows)") > 150
    page.click("text=all recordings")
    page.wait_for_selector("#recordings tr")
    assert errors == []
    page.close()


def test_links_reach_pages_of_recordings_named_with_a_hash_or_latin1_bytes(browser, sample_result, tmp_path):
    # `Folge #12.ts` was linked to `0001-Folge ` (the rest a fragment), and a Latin-1 name to a page of
    # another name; the pages held that name's bytes in a UTF-8 document, and its picture failed.
    pytest.importorskip("matplotlib")
    names = {"/archive/Folge #12.ts": "Folge #12.ts", os.fsdecode(b"/archive/\xc4rger.ts"): "\ufffdrger.ts"}
    output = tmp_path / "Archiv #3.html"
    written = write_report([replace(sample_result, file=name) for name in names], output, audio=False, png=True)
    assert sum(path.suffix == ".png" for path in written) == 2
    for path in written:
        if path.suffix == ".html":
            path.read_bytes().decode("utf-8")  # strictly
    page, errors = open_page(browser, output)
    reached = []
    for number in range(len(names)):
        page.click(f"#recordings a >> nth={number}")
        page.wait_for_selector("#timeline-0")
        reached.append(page.inner_text("h1"))
        page.click("text=all recordings")
        page.wait_for_selector("#recordings tr")
    assert sorted(reached) == sorted(names.values()) and errors == []
    page.close()


def test_an_index_of_a_thousand_recordings_shows_a_page_at_a_time(browser, sample_result, tmp_path, time_zone):
    # every other one with the time it was broadcast (a DVB recording's time tables), shown and filtered by
    time_zone("UTC0")
    first = datetime.datetime(2026, 1, 1, 19, 0, tzinfo=datetime.UTC)
    results = [replace(sample_result, file=f"/archive/day-{number:04d}.ts",
                       broadcast_time=None if number % 2 else first + datetime.timedelta(days=number))
               for number in range(1000)]
    assert len(group_by_recording(results)) == 1000
    write_report(results, tmp_path / "archive.html", audio=False)
    page, errors = open_page(browser, tmp_path / "archive.html")
    assert page.locator("#recordings tr").count() == 100
    assert page.inner_text("#page-label").startswith("page 1 of 10")
    assert [page.inner_text(f"#recordings tr >> nth={n} >> td >> nth=1") for n in (0, 1)] == [
        "2026-01-01 19:00:00 UTC", "–"]
    page.click("#next-page")
    assert page.inner_text("#recordings tr >> nth=0").startswith("/archive/day-0100.ts")
    page.fill("#filter", "day-0999")
    assert page.locator("#recordings tr").count() == 1
    page.fill("#filter", "2027-05-16")  # a day: the recording broadcast then, 500 days after the first
    assert page.locator("#recordings tr").count() == 1
    assert page.inner_text("#recordings tr >> nth=0").startswith("/archive/day-0500.ts")
    assert errors == []
    page.close()


def test_json_lines_of_several_recordings_make_an_index_and_a_truth_for_each(model_file, tmp_path):
    for name in ("a.ts", "b.ts"):
        shutil.copy(FIXTURES / "sample.ts", tmp_path / name)
    runner = CliRunner()
    scanned = runner.invoke(cli, ["scan", str(tmp_path / "a.ts"), str(tmp_path / "b.ts"), "-m", str(model_file),
                                  "-f", "json", "--windows", "-q", "-j", "1"])
    assert scanned.exit_code == 0
    lines = tmp_path / "both.jsonl"
    lines.write_text(scanned.stdout)
    assert [Path(r.file).name for r in read_scan_json(lines)] == ["a.ts", "b.ts"]
    refused = runner.invoke(cli, ["report", str(lines), "-o", str(tmp_path / "r.html"), "-q",
                                  "--truth", str(FIXTURES / "sample_truth.json")])
    assert refused.exit_code == 1 and "give one truth file per recording, in the order they come: the results hold " \
        "2 recording(s), 1 truth file(s) were given" in refused.output
    first_two = tmp_path / "first_two.json"  # b's truth: its first two turns
    first_two.write_text(json.dumps({"intervals": json.loads((FIXTURES / "sample_truth.json").read_text())
                                     ["intervals"][:2]}))
    truthful = runner.invoke(cli, ["report", str(lines), "-o", str(tmp_path / "t.html"), "-q", "--no-audio",
                                   "--truth", str(FIXTURES / "sample_truth.json"), "--truth", str(first_two)])
    assert truthful.exit_code == 0, truthful.output
    drawn = [page_data(tmp_path / "t_files" / name)["truth"] for name in ("0001-a.html", "0002-b.html")]
    assert [len(truth) for truth in drawn] == [5, 2]
    # Each model's figures against the truth drawn, as eval prints them (b's last three turns unmarked).
    scanned_b = read_scan_json(lines)[1]
    figures = evaluate_scan(scanned_b, json.loads(first_two.read_text())["intervals"])
    assert figures.turns == 2 and figures.false_alarm_segments > 0  # the unmarked turns found
    assert f"Against the truth: {figures.text()}</p>" in (tmp_path / "t_files" / "0002-b.html").read_text()
    index = tmp_path / "both.sqlite"
    assert runner.invoke(cli, ["scan", str(tmp_path / "a.ts"), "-m", str(model_file), "--db", str(index), "-q",
                               "-j", "1"]).exit_code == 0
    assert runner.invoke(cli, ["report", "--db", str(index), "-o", str(tmp_path / "d.html"), "-q", "--no-audio",
                               "--truth", str(first_two), "--truth", str(first_two)]).exit_code == 2
    # With --truth-beside, each recording's truth is the file beside it named after it, also from an index.
    assert runner.invoke(cli, ["scan", str(tmp_path / "b.ts"), "-m", str(model_file), "--db", str(index), "-q",
                               "-j", "1"]).exit_code == 0
    intervals = json.loads(first_two.read_text())["intervals"]
    (tmp_path / "b.labels.txt").write_text("".join(f"{start}\t{end}\tanna\n" for start, end in intervals))
    beside = runner.invoke(cli, ["report", "--db", str(index), "-o", str(tmp_path / "d.html"), "--no-audio",
                                 "--truth-beside"])
    assert beside.exit_code == 0, beside.output
    assert "true turns beside 1 of 2 recording(s)" in beside.stderr
    drawn = {name: page_data(page)["truth"] for page in (tmp_path / "d_files").iterdir()
             for name in ("a", "b") if page.name.endswith(f"-{name}.html")}
    assert drawn == {"a": None, "b": intervals}  # none beside a: no truth drawn, not one without turns
    assert runner.invoke(cli, ["report", "--db", str(index), "-o", str(tmp_path / "d.html"), "-q", "--truth-beside",
                               "--truth", str(first_two)]).exit_code == 2
    nowhere = tmp_path / "missing" / "r.html"
    refused = runner.invoke(cli, ["report", str(lines), "-o", str(nowhere), "-q", "--no-audio"])
    assert refused.exit_code == 6 and refused.output.strip().splitlines() == [
        f"speakerspot: error: {nowhere}: directory {nowhere.parent} does not exist"]
    made = runner.invoke(cli, ["report", str(lines), "-o", str(tmp_path / "r.html"), "-q", "--no-audio"])
    assert made.exit_code == 0, made.output
    assert sorted(p.name for p in (tmp_path / "r_files").iterdir()) == ["0001-a.html", "0002-b.html"]
    page = (tmp_path / "r_files" / "0001-a.html").read_text()
    (tmp_path / "reports").mkdir()  # a folder as the output: the report is named after the JSON file in it
    in_folder = runner.invoke(cli, ["report", str(lines), "-o", str(tmp_path / "reports"), "-q", "--no-audio"])
    assert in_folder.exit_code == 0, in_folder.output
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["both.html", "both_files"]
    assert "made with --no-audio" in page and "data:audio/mpeg" not in page
    assert "Against the truth" not in page  # no truth, no figures
    # A recording's page that cannot be written (a folder in its way) is told in one line, and the others and the
    # index page are written, which lists it among the failures (until 2026-12-07 the report stopped there).
    (tmp_path / "w_files" / "0001-a.html").mkdir(parents=True)
    blocked = runner.invoke(cli, ["report", str(lines), "-o", str(tmp_path / "w.html"), "-q", "--no-audio"])
    assert blocked.exit_code == 6
    assert blocked.stderr.splitlines() == [
        f"speakerspot: error: {tmp_path / 'w_files' / '0001-a.html'}: cannot write: Is a directory"]
    assert (tmp_path / "w_files" / "0002-b.html").is_file()
    assert [row["href"] for row in page_data(tmp_path / "w.html")["rows"]] == ["w_files/0002-b.html"]
    assert f"{tmp_path / 'a.ts'}</span>: not written: " in (tmp_path / "w.html").read_text()


def test_a_report_cuts_its_excerpts_from_the_stream_each_recording_was_scanned_on(model_file, tmp_path):
    # The excerpts came from the default stream, whichever the scan had read: a scan of a recording's second
    # track (--audio-track 1, --programme) played another track's sound unless the report was told again;
    # of an index, then of scan JSON (which now says the stream it scanned).
    from conftest import words_between_music

    from speakerspot.features import FrontEnd

    front_end = FrontEnd()
    words, _ = words_between_music(front_end, music_seconds=4.0)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(len(words)) / front_end.sample_rate)).astype(np.float32)
    recording = write_recording(tmp_path / "two.ts", tone, front_end.sample_rate, extra_tracks=(words,))
    database = tmp_path / "index.sqlite"
    runner = CliRunner()
    scan_json = tmp_path / "two.json"
    scanned = runner.invoke(cli, ["scan", str(recording), "-m", str(model_file), "--audio-track", "1", "--db",
                                  str(database), "-q", "-f", "json", "--windows", "-o", str(scan_json)])
    assert json.loads(scan_json.read_text())["segments"], scanned.output  # the words found on track 1
    assert json.loads(scan_json.read_text())["track"] == {"audio_track": 1, "language": None, "programme": None}
    for source in (["--db", str(database)], [str(scan_json)]):
        pages = {}
        for name, track in (("stored", []), ("track0", ["--audio-track", "0"]), ("track1", ["--audio-track", "1"])):
            made = runner.invoke(cli, ["report", *source, "-o", str(tmp_path / f"{name}.html"), "-q", *track])
            assert made.exit_code == 0, made.output
            pages[name] = (tmp_path / f"{name}.html").read_bytes()
        assert pages["stored"] == pages["track1"] != pages["track0"], source
