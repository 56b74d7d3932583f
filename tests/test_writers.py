"""Every output format, read back by an independent reader or checked against its specification."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import urllib.parse
from dataclasses import replace
from xml.etree import ElementTree

import av
import numpy as np
import pycmx
import pytest

from speakerspot.config import TrackChoice
from speakerspot.files import temporary_prefix
from speakerspot.segments import ScanResult, Segment
from speakerspot.writers import (
    FORMAT_NAMES,
    RENDERERS,
    VLC_PLAYLIST,
    RenderOptions,
    extension,
    format_timestamp,
    write_result,
)

SEGMENTS = [Segment(1.25, 4.5, 0.91), Segment(3725.5, 3731.04, 0.8)]
RESULT = ScanResult(file="/rec/news 1.ts", model="anna", threshold=0.5, duration=4000.0, segments=SEGMENTS,
                    window_times=np.array([1.0, 1.5]), window_scores=np.array([0.2, 0.9]),
                    smoothed_scores=np.array([0.3, 0.8]))


def written(tmp_path, format_name: str):
    path = tmp_path / f"out.{extension(format_name)}"
    write_result(RESULT, format_name, path)
    return path


def test_txt_is_one_line_per_segment_as_a_player_shows_times():
    assert RENDERERS["txt"](RESULT, RenderOptions()) == ("00:00:01.2 – 00:00:04.5  0.910\n"
                                                         "01:02:05.5 – 01:02:11.0  0.800\n")
    assert format_timestamp(3599.96) == "01:00:00.0"


def test_json_and_jsonl_hold_the_documented_keys():
    document = json.loads(RENDERERS["json"](RESULT, RenderOptions(windows=True)))
    assert document["segments"][1] == {"start": 3725.5, "end": 3731.04, "score": 0.8}
    assert document["windows"] == [{"time": 1.0, "score": 0.3, "raw_score": 0.2},
                                   {"time": 1.5, "score": 0.8, "raw_score": 0.9}]
    lines = RENDERERS["jsonl"](RESULT, RenderOptions()).splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["file"] == "/rec/news 1.ts"


def test_csv_reads_back_with_the_csv_module():
    rows = list(csv.DictReader(io.StringIO(RENDERERS["csv"](RESULT, RenderOptions()))))
    assert [(float(r["start"]), float(r["end"])) for r in rows] == [(1.25, 4.5), (3725.5, 3731.04)]
    assert rows[0]["file"] == "/rec/news 1.ts" and rows[0]["model"] == "anna"
    assert rows[0]["on_air"] == ""  # not known: the recording holds no broadcast time
    assert rows[0]["stream"] == ""  # the stream a player picks
    # A channel of a multiplex capture, in a language: named in each row, and in RTTM's file id (each its own).
    channel = replace(RESULT, track=TrackChoice(programme="ZDF HD", language="deu"))
    assert {row["stream"] for row in csv.DictReader(io.StringIO(RENDERERS["csv"](channel, RenderOptions())))} == {
        "ZDF HD deu"}
    assert {line.split()[1] for line in RENDERERS["rttm"](channel, RenderOptions()).splitlines()} == {
        "news_1.ZDF_HD_deu"}


@pytest.mark.parametrize("format_name", ["srt", "vtt"])
def test_subtitles_read_back_with_ffmpeg(tmp_path, format_name):
    with av.open(str(written(tmp_path, format_name))) as container:
        stream = container.streams.subtitles[0]
        cues = [(float(p.pts * stream.time_base), float((p.pts + p.duration) * stream.time_base))
                for p in container.demux(stream) if p.pts is not None]
    assert cues == [(1.25, 4.5), (3725.5, 3731.04)]


def test_ffmetadata_chapters_read_back_with_ffmpeg_and_cover_the_gaps_too(tmp_path):
    with av.open(str(written(tmp_path, "ffmetadata")), format="ffmetadata") as container:
        chapters = container.chapters()
    spans = [(c["start"] * float(c["time_base"]), c["end"] * float(c["time_base"])) for c in chapters]
    # MP4 makes every chapter run to the next one: the stretches between segments are chapters of their own
    assert spans == [(0.0, 1.25), (1.25, 4.5), (4.5, 3725.5), (3725.5, 3731.04), (3731.04, 4000.0)]
    assert [c["metadata"]["title"] for c in chapters] == ["not anna", "anna (0.91)", "not anna", "anna (0.80)",
                                                          "not anna"]


def test_rttm_has_ten_fields_as_pyannote_writes_them():
    lines = RENDERERS["rttm"](RESULT, RenderOptions()).splitlines()
    fields = [line.split() for line in lines]
    assert all(len(f) == 10 and f[0] == "SPEAKER" and f[1] == "news_1" and f[7] == "anna" for f in fields)
    assert all(f[5] == f[6] == f[8] == f[9] == "<NA>" for f in fields)
    assert [(float(f[3]), round(float(f[4]), 3)) for f in fields] == [(1.25, 3.25), (3725.5, 5.54)]


def test_audacity_labels_are_tab_separated_seconds():
    rows = [line.split("\t") for line in RENDERERS["audacity"](RESULT, RenderOptions()).splitlines()]
    assert [(float(a), float(b)) for a, b, _ in rows] == [(1.25, 4.5), (3725.5, 3731.04)]


def edl_events(options: RenderOptions):
    return list(pycmx.parse_cmx3600(io.StringIO(RENDERERS["edl"](RESULT, options))).events)


def frames(timecode: str, fps: int) -> int:
    hours, minutes, seconds, frame = map(int, re.split("[:;]", timecode))
    return ((hours * 60 + minutes) * 60 + seconds) * fps + frame


def test_edl_reads_back_with_pycmx_with_equal_source_and_record_durations():
    for options, fps, video in ((RenderOptions(frame_rate=25.0), 25, True), (RenderOptions(), 25, False),
                                (RenderOptions(frame_rate=50.0), 50, True)):
        events = edl_events(options)
        assert len(events) == 2
        record = 0
        for event, segment in zip(events, SEGMENTS, strict=True):
            edit = next(iter(event.edits))
            assert edit.channels.audio and edit.channels.video == video  # AA/V, or A for a file without video
            assert frames(edit.source_in, fps) == round(segment.start * fps)
            assert frames(edit.source_out, fps) == round(segment.end * fps)
            duration = frames(edit.source_out, fps) - frames(edit.source_in, fps)
            assert frames(edit.record_in, fps) == record
            assert frames(edit.record_out, fps) - frames(edit.record_in, fps) == duration
            record += duration


def test_edl_at_29_97_fps_counts_drop_frame():
    text = RENDERERS["edl"](RESULT, RenderOptions(frame_rate=30000 / 1001))
    assert "FCM: DROP FRAME" in text
    edit = next(iter(edl_events(RenderOptions(frame_rate=30000 / 1001))[1].edits))
    # 3725.5 s is frame 111653 at 29.97 fps; drop-frame numbering skips 2 numbers a minute but every
    # tenth, which keeps the timecode on the clock: 1:02:05.5 shows as 01:02:05;15
    assert edit.source_in == "01:02:05;15"


def test_an_xspf_playlist_plays_each_segment_of_the_recording_with_vlc_s_options(tmp_path):
    names = {"": "http://xspf.org/ns/0/", "vlc": "http://www.videolan.org/vlc/playlist/ns/0/"}
    recording = os.fsdecode(bytes(tmp_path) + b"/Nachrichten \xe4 & 1.ts")  # a Latin-1 name: not UTF-8
    for track, wanted in ((TrackChoice(), []), (TrackChoice(audio_track=1), ["audio-track=1"]),
                          (TrackChoice(language="deu"), ["audio-language=deu"])):
        text = RENDERERS["xspf"](replace(RESULT, file=recording, track=track), RenderOptions())
        playlist = ElementTree.fromstring(text.encode("utf-8", "surrogateescape"))  # as written to the file
        tracks = playlist.findall("trackList/track", names)
        assert len(tracks) == len(SEGMENTS)
        for element, segment in zip(tracks, SEGMENTS, strict=True):
            location = urllib.parse.urlparse(element.findtext("location", namespaces=names))
            assert location.scheme == "file" and urllib.parse.unquote_to_bytes(location.path) == os.fsencode(recording)
            options = [o.text for o in element.findall(f"extension[@application='{VLC_PLAYLIST}']/vlc:option", names)]
            assert options == [f"start-time={segment.start:.3f}", f"stop-time={segment.end:.3f}", *wanted]
        assert [t.findtext("extension/vlc:id", namespaces=names) for t in tracks] == ["0", "1"]  # each its own
        assert (tracks[1].findtext("title", namespaces=names)
                == "Nachrichten \ufffd & 1.ts 01:02:05.5 – 01:02:11.0  anna (0.80)")
        assert playlist.findtext("title", namespaces=names) == "Nachrichten \ufffd & 1.ts: anna"


def test_every_format_has_a_renderer_and_writes_atomically(tmp_path):
    assert set(FORMAT_NAMES) == {"txt", "json", "jsonl", "csv", "srt", "vtt", "rttm", "audacity", "ffmetadata", "edl",
                                 "xspf"}
    for format_name in FORMAT_NAMES:
        assert written(tmp_path, format_name).read_text()
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_playlist_of_several_results_stopped_part_way_still_parses(tmp_path):
    from speakerspot.recordings import Recording
    from speakerspot.writers import ResultOutputs

    stream = io.StringIO()
    with pytest.raises(KeyboardInterrupt), ResultOutputs(["xspf"], several=True, stream=stream) as write:
        write(Recording(tmp_path / "x.ts", tmp_path), [RESULT])
        raise KeyboardInterrupt  # Ctrl-C before the batch's end, which would `finish` it
    tracks = ElementTree.fromstring(stream.getvalue()).findall(".//{http://xspf.org/ns/0/}track")
    assert len(tracks) == len(RESULT.segments) >= 2


def test_several_results_on_one_stream_stay_one_csv_table_and_json_lines(tmp_path):
    from speakerspot.recordings import Recording
    from speakerspot.writers import ResultOutputs

    stream = io.StringIO()
    write = ResultOutputs(["csv"], several=True, stream=stream)
    other = replace(RESULT, file="/rec/news 2.ts")
    for result in (RESULT, other):
        write(Recording(tmp_path / "x.ts", tmp_path), [result])
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert [row["file"] for row in rows] == ["/rec/news 1.ts"] * 2 + ["/rec/news 2.ts"] * 2
    stream = io.StringIO()
    write = ResultOutputs(["json"], several=True, stream=stream)
    for result in (RESULT, other):
        write(Recording(tmp_path / "x.ts", tmp_path), [result])
    assert [json.loads(line)["file"] for line in stream.getvalue().splitlines()] == ["/rec/news 1.ts", "/rec/news 2.ts"]


def test_a_write_removes_the_temporaries_of_its_file_that_killed_writers_of_this_host_left(tmp_path):
    path = tmp_path / "out.csv"
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    left = tmp_path / f"{temporary_prefix(path, int(ended.stdout))}abc123.tmp"  # its writer was killed mid-write
    writing = tmp_path / f"{temporary_prefix(path, os.getppid())}def456.tmp"  # a writer still at work
    another_host = tmp_path / f".out.csv.elsewhere-{ended.stdout.strip()}.ghi789.tmp"
    another_file = tmp_path / f"{temporary_prefix(tmp_path / 'other.csv', int(ended.stdout))}jkl012.tmp"
    for temporary in (left, writing, another_host, another_file):
        temporary.write_text("half a table")
    write_result(RESULT, "csv", path)
    assert path.read_text() == RENDERERS["csv"](RESULT, RenderOptions())
    assert not left.exists()
    assert writing.exists() and another_host.exists() and another_file.exists()
