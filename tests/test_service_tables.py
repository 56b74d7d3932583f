"""The programme each stream of an MPEG-TS recording belongs to, from its PAT, PMTs and SDT, and `info`
naming it for a capture of a whole multiplex."""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SPEECH, page_data, words_between_music
from media import (
    in_packets_of,
    mpeg2_crc,
    multiplex,
    packets,
    pat,
    pmt,
    remuxed,
    sdt,
    section,
    without_packets_before,
    write_recording,
)

import speakerspot
from speakerspot import batch
from speakerspot.audio import load_audio, programmes_with_audio, recording_facts
from speakerspot.cli import cli
from speakerspot.config import ScanOptions, TrackChoice
from speakerspot.features import FrontEnd
from speakerspot.service_tables import (
    HEAD_BYTES,
    TS_PACKET_BYTES,
    PipeClock,
    broadcast_clock,
    dvb_text,
    head_of,
    is_programme,
    programmes_in,
)


def test_each_stream_is_named_by_its_programme_as_the_tables_say():
    long_pmt = {0x100 + number: 0x03 for number in range(40)}  # 40 streams: a section over two packets
    data = (packets(0x00, pat({0: 0x10, 1: 0x1000, 2: 0x1001}))  # programme 0: the network's table
            + packets(0x1000, pmt(1, long_pmt)) + packets(0x1001, pmt(2, {0x200: 0x04, 0x201: 0x81}))
            + packets(0x11, sdt({1: b"\x15Das Erste HD", 2: b"\x05S\xfcdwest"})))
    programmes = programmes_in(data)
    assert programmes == {**{pid: "Das Erste HD" for pid in long_pmt}, 0x200: "Südwest", 0x201: "Südwest"}
    # Without an SDT the programmes are numbered; a PMT before the PAT that names its PID is passed over.
    data = (packets(0x1000, pmt(1, {0x300: 0x03})) + packets(0x00, pat({5: 0x1001}))
            + packets(0x1001, pmt(5, {0x101: 0x03})))
    assert programmes_in(data) == {0x101: "programme 5"}
    assert programmes_in(b"\x47" + bytes(TS_PACKET_BYTES * 10)) == {}
    # Two programmes named alike (a channel's regional variants) were one channel to `--programme` (the first
    # heard of their tracks scanned) until 2026-12-07: each is named with its number, the others as before.
    data = (packets(0x00, pat({1: 0x1000, 2: 0x1001, 3: 0x1002})) + packets(0x1000, pmt(1, {0x100: 0x03}))
            + packets(0x1001, pmt(2, {0x200: 0x03})) + packets(0x1002, pmt(3, {0x300: 0x03}))
            + packets(0x11, sdt({1: b"BBC One", 2: b"BBC ONE", 3: b"BBC Two"})))
    assert programmes_in(data) == {0x100: "BBC One (programme 1)", 0x200: "BBC ONE (programme 2)", 0x300: "BBC Two"}


def test_dvb_strings_are_read_in_the_table_they_name():
    assert dvb_text(b"\x15Tagesschau \xe2\x80\x93 20 Uhr") == "Tagesschau – 20 Uhr"  # UTF-8
    assert dvb_text(b"\x05M\xfcnchen") == "München"  # ISO 8859-9
    assert dvb_text(b"\x10\x00\x0fZ\xfcrich") == "Zürich"  # ISO 8859-15, named by number
    assert dvb_text(b"\x11\x00O\x00E\x001") == "OE1"  # UCS-2
    assert dvb_text(b"\x86ZDF\x87 HD") == "ZDF HD"  # the default table; emphasis codes dropped
    # The default table is ISO 6937's, a diacritic before its letter; read as Latin-1 before 2026-12-07:
    # "BR Fernsehen S\xc8ud HD", which `--programme "BR Fernsehen Süd HD"` did not find.
    assert dvb_text(b"BR Fernsehen S\xc8ud HD") == "BR Fernsehen Süd HD"
    assert dvb_text(b"\xcfCesk\xc1a Stra\xfbe \xa4") == "Českà Straße €"
    assert dvb_text(b"") == ""


def test_info_names_each_tracks_programme_in_a_capture_of_a_multiplex(tmp_path):
    rate = 16000
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(3 * rate) / rate)).astype(np.float32)
    single = write_recording(tmp_path / "single.ts", tone, rate, extra_tracks=(tone,))
    assert programmes_in(head_of(single)) == {0x100: "Service01", 0x101: "Service01"}  # FFmpeg's one service
    mux = multiplex(tmp_path / "mux.ts", [tone, tone], rate, [b"Das Erste HD", b"\x15ZDF"])
    result = CliRunner().invoke(cli, ["info", str(mux)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["track", "pid", "codec", "channels", "rate", "language", "duration", "programme"]
    assert lines[1].split()[:2] == ["0", "0x100"] and "Das Erste HD" in lines[1]
    assert lines[2].split()[:2] == ["1", "0x101"] and lines[2].rstrip().endswith("ZDF")
    assert lines[3:] == ["a capture of 2 channels: --programme NAME scans one, --every-programme each"]
    single_listed = CliRunner().invoke(cli, ["info", str(single)]).output
    assert "programme" not in single_listed  # one programme: nothing to tell apart
    # Through a pipe, from the bytes FFmpeg read to tell the streams (before 2026-12-07: no column).
    piped = subprocess.run([sys.executable, "-m", "speakerspot", "info", "-"], input=mux.read_bytes(),
                           capture_output=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    piped_lines = piped.stdout.decode().splitlines()
    assert piped_lines[0].split()[-1] == "programme"
    assert "Das Erste HD" in piped_lines[1] and piped_lines[2].rstrip().endswith("ZDF")
    assert piped_lines[3:] == ["a capture of 2 channels: --programme NAME scans one"]  # a pipe is read once


def test_damaged_tables_are_passed_over_and_their_next_repetition_read():
    # A section shorter than its lengths say raised IndexError from `info` (1% of randomly damaged tables), and
    # a damaged one could name a stream of no programme: a section whose CRC fails is passed over.
    tables = (packets(0x00, pat({1: 0x1000, 2: 0x1001})) + packets(0x1000, pmt(1, {0x100: 0x03}))
              + packets(0x1001, pmt(2, {0x200: 0x04})) + packets(0x11, sdt({1: b"\x15Das Erste", 2: b"ZDF"})))
    expected = {0x100: "Das Erste", 0x200: "ZDF"}
    assert programmes_in(packets(0x1000, section(0x02, 1, b"")) + tables) == expected
    rng = random.Random(0)
    for _ in range(2000):
        damaged = bytearray(tables)
        for at in rng.sample(range(len(damaged)), 4):
            damaged[at] = rng.randrange(256)
        assert programmes_in(bytes(damaged) + tables) == expected


def test_a_programme_is_scanned_by_its_name_whichever_its_track_number(tmp_path, model_file, caplog):
    # Captures of a multiplex number a channel's tracks as their PIDs came: a batch picks the channel by name.
    front_end = FrontEnd()
    rate = front_end.sample_rate
    words, (start, end) = words_between_music(front_end, music_seconds=6.0)
    other = np.concatenate([load_audio(path, rate) for path in sorted((SPEECH / "test" / "awb").glob("*.ogg"))])
    other = np.resize(other, len(words))
    folder = tmp_path / "captures"
    folder.mkdir()
    multiplex(folder / "monday.ts", [other, words], rate, [b"Das Erste HD", b"\x15ZDF"])
    multiplex(folder / "tuesday.ts", [words, other], rate, [b"ZDF", b"Das Erste HD"])
    multiplex(folder / "wednesday.ts", [other, other], rate, [b"Das Erste HD", b"3sat"])
    outputs = tmp_path / "found"
    result = CliRunner().invoke(cli, ["scan", str(folder), "-m", str(model_file), "--programme", "zdf", "-q",
                                      "-f", "json", "-f", "xspf", "--output-dir", str(outputs)])
    assert result.exit_code == 3, result.output  # a recording failed
    # VLC, given the channel, plays it from the recording's start: a playlist cannot choose it, and says so
    assert [m for m in caplog.messages if "(xspf)" in m] == [
        f"{folder / day}.ts: its playlist (xspf) cannot choose the channel 'zdf': VLC plays the capture's first "
        "channel at the segments' times" for day in ("monday", "tuesday")]
    for day in ("monday", "tuesday"):
        segments = json.loads(next(outputs.glob(f"{day}.*.json")).read_text())["segments"]
        assert segments and all(start - 1 < s["start"] and s["end"] < end + 1 for s in segments), (day, segments)
        assert sum(s["end"] - s["start"] for s in segments) > 0.5 * (end - start)
    assert not list(outputs.glob("wednesday.*"))
    # The Python API alike.
    found = speakerspot.scan(speakerspot.load_model(model_file), folder / "tuesday.ts", programme="ZDF")
    assert [[s.start, s.end] for s in found.segments] == [[s["start"], s["end"]] for s in segments]
    with pytest.raises(ValueError, match="give one of them"):
        ScanOptions(audio_track=0, programme="ZDF")
    assert result.output.splitlines() == [f"speakerspot: error: {folder / 'wednesday.ts'}: has no audio track of a "
                                          "programme named 'zdf' (programmes with audio: 3sat, Das Erste HD)"]
    # The other channel: its track, not the target's (on Monday the default, on Tuesday not).
    for day in ("monday", "tuesday"):
        other_channel = CliRunner().invoke(cli, ["scan", str(folder / f"{day}.ts"), "-m", str(model_file),
                                                 "--programme", "Das Erste HD", "-q", "-f", "json"])
        assert other_channel.exit_code == 0, other_channel.output
        assert json.loads(other_channel.output)["segments"] == []
    both = CliRunner().invoke(cli, ["scan", str(folder), "-m", str(model_file), "--programme", "ZDF",
                                    "--audio-track", "1"])
    assert both.exit_code == 2 and "--audio-track and --programme each pick a track" in both.output
    # Through a pipe (a tuner's whole multiplex piped in), by the tables in the bytes FFmpeg read to tell its
    # streams (before 2026-12-07 refused): the same segments as from the file.
    piped = subprocess.run([sys.executable, "-m", "speakerspot", "scan", "-", "-m", str(model_file), "--programme",
                            "ZDF", "-q", "-f", "json"], input=(folder / "monday.ts").read_bytes(), capture_output=True,
                           timeout=120)
    assert piped.returncode == 0, piped.stderr
    monday = json.loads(next(outputs.glob("monday.*.json")).read_text())["segments"]
    assert [[s["start"], s["end"]] for s in json.loads(piped.stdout)["segments"]] == \
        [[s["start"], s["end"]] for s in monday]
    # Two channels named alike: each picked by its name and number, the target's found in its own.
    alike = multiplex(tmp_path / "alike.ts", [other, words], rate, [b"Das Erste HD", b"Das Erste HD"])
    assert programmes_with_audio(alike) == {"Das Erste HD (programme 1)": True, "Das Erste HD (programme 2)": True}
    found = speakerspot.scan(speakerspot.load_model(model_file), alike, programme="das erste hd (programme 2)")
    assert [[s.start, s.end] for s in found.segments] == [[s["start"], s["end"]] for s in monday]


def test_each_channel_of_a_multiplex_capture_keeps_its_own_results_and_outputs(tmp_path, model_file, caplog,
                                                                              monkeypatch):
    # Until 2026-12-07 an index held one result per recording and model: a second channel's scan of a multiplex
    # capture replaced the first's, and their outputs had one name, the second overwriting the first's.
    front_end = FrontEnd()
    words, (start, end) = words_between_music(front_end, music_seconds=6.0)
    other = np.resize(np.concatenate([load_audio(path, front_end.sample_rate)
                                      for path in sorted((SPEECH / "test" / "awb").glob("*.ogg"))]), len(words))
    capture = multiplex(tmp_path / "monday.ts", [other, words], front_end.sample_rate, [b"Das Erste HD", b"ZDF/3sat"])
    index, outputs = tmp_path / "index.sqlite", tmp_path / "found"

    for programme in ("zdf/3sat", "Das Erste HD", "ZDF/3SAT"):
        run = CliRunner().invoke(cli, ["scan", str(capture), "-m", str(model_file), "--programme", programme,
                                       "--db", str(index), "-q", "-f", "json", "--output-dir", str(outputs)])
        assert run.exit_code == 0, run.output
    with sqlite3.connect(index) as connection:  # a channel, whatever the case of its name, has one row: the latest
        assert sorted(connection.execute("SELECT track, settings FROM results")) == [
            ("das erste hd", '{"audio_track": null, "language": null, "programme": "Das Erste HD", "threshold": null}'),
            ("zdf/3sat", '{"audio_track": null, "language": null, "programme": "ZDF/3SAT", "threshold": null}')]
    model = speakerspot.load_model(model_file).name
    named = {path.name: json.loads(path.read_text()) for path in outputs.glob("*.json")}
    assert sorted(named) == [f"monday.Das Erste HD.{model}.json", f"monday.ZDF-3SAT.{model}.json",
                             f"monday.zdf-3sat.{model}.json"]  # each as its scan named the channel
    assert named[f"monday.Das Erste HD.{model}.json"]["segments"] == []
    found = named[f"monday.ZDF-3SAT.{model}.json"]["segments"]
    assert found and all(start - 1 < s["start"] and s["end"] < end + 1 for s in found)
    # The index holds both channels' results: `results` writes both again, and a report has a page for each.
    again = tmp_path / "again"
    written = CliRunner().invoke(cli, ["results", "--db", str(index), "-f", "json", "--output-dir", str(again)])
    assert written.exit_code == 0, written.output
    assert sorted(path.name for path in again.glob("*.json")) == [f"monday.Das Erste HD.{model}.json",
                                                                  f"monday.ZDF-3SAT.{model}.json"]
    assert json.loads((again / f"monday.ZDF-3SAT.{model}.json").read_text())["segments"] == found
    report = CliRunner().invoke(cli, ["report", "--db", str(index), "-o", str(tmp_path / "r.html"), "--no-audio"])
    assert report.exit_code == 0, report.output
    pages = sorted((tmp_path / "r_files").glob("*.html"))
    assert [page.name for page in pages] == ["0001-monday.Das Erste HD.html", "0002-monday.ZDF-3SAT.html"]
    assert ["(ZDF/3SAT)" in page.read_text() for page in pages] == [False, True]
    # A truth beside named after the capture and a channel is that channel's (until 2026-12-07 the channels
    # shared the capture's, in which one's turns are the other's false alarms); the capture's, the others'.
    (tmp_path / "monday.ZDF-3SAT.truth.json").write_text(json.dumps({"intervals": [[start, end]]}))
    (tmp_path / "monday.truth.json").write_text(json.dumps({"intervals": []}))
    truths = CliRunner().invoke(cli, ["report", "--db", str(index), "-o", str(tmp_path / "t.html"), "--no-audio",
                                      "-q", "--truth-beside"])
    assert truths.exit_code == 0, truths.output
    assert [page_data(page)["truth"] for page in sorted((tmp_path / "t_files").glob("*.html"))] == [[],
                                                                                                   [[start, end]]]
    for programme, turns in (("zdf/3sat", 1), ("Das Erste HD", 0)):  # eval finds each channel's alike
        scored = CliRunner().invoke(cli, ["eval", str(capture), "-m", str(model_file), "--programme", programme,
                                          "-q", "-f", "json"])
        assert scored.exit_code == 0, scored.output
        assert (json.loads(scored.output)["turns"], json.loads(scored.output)["turns_found"]) == (turns, turns)
    # A channel's name matched case aside, as `--programme` picks it; a stream not named, the capture's.
    assert speakerspot.truth_beside(capture, TrackChoice(programme="zdf/3sat")) == \
        tmp_path / "monday.ZDF-3SAT.truth.json"
    assert speakerspot.truth_beside(capture) == tmp_path / "monday.truth.json"
    listed = CliRunner().invoke(cli, ["results", "--db", str(index), "-f", "txt"])
    assert f"# {capture.resolve()} (Das Erste HD) [{model}]" in listed.output
    assert f"# {capture.resolve()} (ZDF/3SAT) [{model}]" in listed.output

    # --every-programme: each channel of each capture scanned as a recording of its own, named by its tables; a
    # channel off air passed over, with a warning (scanned, it failed, exit 3, and was tried again by every rerun);
    # a recording of one programme as it is; a rerun finds every channel's results stored.
    (tmp_path / "mux").mkdir()
    tuesday = multiplex(tmp_path / "mux" / "tuesday.ts", [words, other], front_end.sample_rate,
                        [b"ZDF/3sat", b"Das Erste HD"], off_air=(b"arte",))
    assert CliRunner().invoke(cli, ["info", str(tuesday)]).output.splitlines()[-1] == (
        "arte: no audio at the capture's start; none further in either (off air, or encrypted): --every-programme "
        "passes it over")
    shutil.move(capture, tmp_path / "mux")
    write_recording(tmp_path / "mux" / "radio.ts", other, front_end.sample_rate)
    every, channels = tmp_path / "every.sqlite", tmp_path / "channels"
    for _ in range(2):
        run = CliRunner().invoke(cli, ["scan", str(tmp_path / "mux"), "-m", str(model_file), "--every-programme",
                                       "--db", str(every), "-f", "json", "--output-dir", str(channels)])
        assert run.exit_code == 0, run.output
    assert "scanned 0 of 5 recordings, 5 unchanged" in run.stderr
    # the captures' channels stored with the index, and read from it while a capture is unchanged: a rerun of an
    # archive does not read every capture's start again
    with sqlite3.connect(every) as connection:
        assert dict(connection.execute("SELECT recording, heard FROM channels")) == {
            str((tmp_path / "mux" / "monday.ts").resolve()): '{"Das Erste HD": true, "ZDF/3sat": true}',
            str(tuesday.resolve()): '{"ZDF/3sat": true, "Das Erste HD": true, "arte": false}',
            str((tmp_path / "mux" / "radio.ts").resolve()): "{}"}
    monkeypatch.setattr(batch, "programmes_with_audio", lambda path: pytest.fail(f"{path} read again"))
    again = CliRunner().invoke(cli, ["scan", str(tmp_path / "mux"), "-m", str(model_file), "--every-programme",
                                     "--db", str(every), "-f", "json", "--output-dir", str(channels)])
    assert again.exit_code == 0 and "scanned 0 of 5 recordings, 5 unchanged" in again.stderr, again.output
    monkeypatch.undo()
    assert [m for m in caplog.messages if "off air" in m] == [
        f"{tuesday}: arte sent no audio FFmpeg could decode at its start, nor a quarter, half or three quarters of "
        "the way in (off air, or encrypted): not scanned; --programme scans a channel on air at other times"
    ] * 3  # each run says what it passes over
    named = {path.name: json.loads(path.read_text()) for path in channels.glob("*.json")}
    assert sorted(named) == sorted([f"{day}.{channel}.{model}.json" for day in ("monday", "tuesday")
                                    for channel in ("Das Erste HD", "ZDF-3sat")] + [f"radio.{model}.json"])
    for day in ("monday", "tuesday"):
        assert named[f"{day}.Das Erste HD.{model}.json"]["segments"] == []
        assert named[f"{day}.ZDF-3sat.{model}.json"]["track"]["programme"] == "ZDF/3sat"
        assert [[s["start"], s["end"]] for s in named[f"{day}.ZDF-3sat.{model}.json"]["segments"]] == \
            [[s["start"], s["end"]] for s in found]
    for wrong, said in ((["--programme", "ZDF"], "not with --programme"), (["--live"], "nor --live")):
        refused = CliRunner().invoke(cli, ["scan", str(tuesday), "-m", str(model_file), "--every-programme", *wrong])
        assert refused.exit_code == 2 and said in refused.output, refused.output
    # --programme repeated: the channels named, each a recording of its own; on stdout, csv rows name theirs, as
    # --live lines of one channel do.
    for chosen in (["--programme", "zdf/3sat", "--programme", "das erste hd"], ["--programme", "zdf/3sat", "--live"]):
        run = CliRunner().invoke(cli, ["scan", str(tuesday), "-m", str(model_file), "-q", "-f", "csv", *chosen])
        assert run.exit_code == 0, run.output
        rows = list(csv.DictReader(io.StringIO(run.stdout)))
        assert [[float(row["start"]), float(row["end"])] for row in rows] == [[s["start"], s["end"]] for s in found]
        assert {row["stream"] for row in rows} == {"zdf/3sat"}
    # A channel named that fails (off air) is told by the file and its name; the other's results are given.
    off = CliRunner().invoke(cli, ["scan", str(tuesday), "-m", str(model_file), "-q", "-f", "csv", "--programme",
                                   "arte", "--programme", "zdf/3sat", "--db", str(tmp_path / "off.sqlite")])
    assert off.exit_code == 3
    assert off.stderr.splitlines() == [f"speakerspot: error: {tuesday} (arte): its audio stream holds no decodable "
                                       "audio; it has 2 other audio streams: `speakerspot info` lists them, "
                                       "--audio-track picks one"]
    assert {row["stream"] for row in csv.DictReader(io.StringIO(off.stdout))} == {"zdf/3sat"}
    # `results --failed` names the channel that failed in a column of its own (before 2026-12-07 by its error only)
    failed = CliRunner().invoke(cli, ["results", "--db", str(tmp_path / "off.sqlite"), "--failed"])
    assert [line.split("\t")[::3] + line.split("\t")[4:] for line in failed.output.splitlines()] == [
        [str(tuesday.resolve()), f"{tuesday} (arte): its audio stream holds no decodable audio; it has 2 other audio "
         "streams: `speakerspot info` lists them, --audio-track picks one", "arte"]]
    twice = CliRunner().invoke(cli, ["scan", "-", "-m", str(model_file), "--programme", "zdf", "--programme", "arte"],
                               input=tuesday.read_bytes())
    assert twice.exit_code == 2 and "--programme given several times reads a capture once per channel" in twice.output


def test_a_channel_that_comes_on_air_later_in_a_capture_is_scanned_by_every_programme(tmp_path, model_file, caplog):
    # A channel that shares its airtime with another (BBC Four after CBBC) sends nothing at the capture's start:
    # until 2026-12-07 --every-programme passed it over as off air.
    front_end = FrontEnd()
    words, (start, end) = words_between_music(front_end, music_seconds=4.0)
    later = np.concatenate([np.zeros_like(words), words])  # on air from the middle
    other = np.resize(np.concatenate([load_audio(path, front_end.sample_rate)
                                      for path in sorted((SPEECH / "test" / "awb").glob("*.ogg"))]), len(later))
    folder = tmp_path / "mux"
    folder.mkdir()
    capture = multiplex(folder / "evening.ts", [other, later], front_end.sample_rate, [b"CBBC", b"BBC Four"])
    capture.write_bytes(without_packets_before(capture.read_bytes(), 0x101, capture.stat().st_size * 2 // 5))
    listed = CliRunner().invoke(cli, ["info", str(capture)]).output.splitlines()
    assert listed[2].split()[3:5] == ["?", "?"]  # FFmpeg knows nothing of it at the start
    assert listed[4] == "BBC Four: no audio at the capture's start; on air further in"
    assert programmes_with_audio(capture) == {"CBBC": True, "BBC Four": True}
    index, outputs = tmp_path / "index.sqlite", tmp_path / "found"
    run = CliRunner().invoke(cli, ["scan", str(folder), "-m", str(model_file), "--every-programme", "-q", "--db",
                                   str(index), "-f", "json", "--output-dir", str(outputs)])
    assert run.exit_code == 0, run.output
    assert not [m for m in caplog.messages if "off air" in m]
    model = speakerspot.load_model(model_file).name
    found = json.loads((outputs / f"evening.BBC Four.{model}.json").read_text())["segments"]
    offset = len(words) / front_end.sample_rate
    assert found and all(offset + start - 1 < s["start"] and s["end"] < offset + end + 1 for s in found)
    # An index of version 6 listed the channel as off air: its listing is forgotten, and made again.
    with sqlite3.connect(index) as connection:
        connection.execute("UPDATE channels SET heard = ?", ('{"CBBC": true, "BBC Four": false}',))
        connection.execute("DELETE FROM results WHERE track = 'bbc four'")
        connection.execute("PRAGMA user_version=6")
    again = CliRunner().invoke(cli, ["scan", str(folder), "-m", str(model_file), "--every-programme", "-q", "--db",
                                     str(index), "-f", "csv"])
    assert again.exit_code == 0, again.output
    assert {row["stream"] for row in csv.DictReader(io.StringIO(again.stdout))} == {"BBC Four"}
    with sqlite3.connect(index) as connection:
        assert connection.execute("SELECT heard FROM channels").fetchall() == [('{"CBBC": true, "BBC Four": true}',)]
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 7


def time_packet(utc: datetime.datetime, offset_table: bool = False) -> bytes:
    """A TDT (or a TOT, with its CRC and no descriptor) of `utc`, to the second, in one packet of PID 0x14."""
    mjd = (utc.date() - datetime.date(1858, 11, 17)).days
    bcd = bytes(int(f"{value:02d}", 16) for value in (utc.hour, utc.minute, utc.second))
    if offset_table:
        body = bytes([0x73, 0x70, 5 + 2 + 4, mjd >> 8, mjd & 0xFF]) + bcd + b"\xf0\x00"
        table = body + mpeg2_crc(body)
    else:
        table = bytes([0x70, 0x70, 5, mjd >> 8, mjd & 0xFF]) + bcd
    return packets(0x14, table)


def system_time_packet(utc: datetime.datetime) -> bytes:
    """ATSC's STT of `utc`, to the second: GPS seconds since 1980-01-06, 18 leap seconds ahead of UTC."""
    gps = round((utc - datetime.datetime(1980, 1, 6, tzinfo=datetime.UTC)).total_seconds()) + 18
    return packets(0x1FFB, section(0xCD, 0, b"\x00" + gps.to_bytes(4, "big") + bytes([18, 0xE0, 0])))


def virtual_channels(multiplex: int, channels: list[tuple[int, int, str]], major: int = 13) -> bytes:
    """ATSC's terrestrial virtual channel table of multiplex `multiplex`: (its multiplex, programme number,
    short name) per channel, numbered `major`.1, `major`.2, …"""
    body = bytes([0, len(channels)])
    for minor, (channel_multiplex, number, name) in enumerate(channels, 1):
        numbers = 0xF << 20 | major << 10 | minor  # 4 reserved bits, then major and minor, 10 bits each
        body += name.encode("utf-16-be").ljust(14, b"\x00") + numbers.to_bytes(3, "big") + bytes([0x04]) + bytes(4)
        body += bytes([channel_multiplex >> 8, channel_multiplex & 0xFF, number >> 8, number & 0xFF])
        body += bytes([0x0D, 0xC2, 0, 1, 0xFC, 0])  # flags and service type, source id, no descriptor
    return section(0xC8, multiplex, body + bytes([0xFC, 0]))


ZERO = datetime.datetime(2026, 12, 6, 19, 0, 2, 400_000, tzinfo=datetime.UTC)  # the broadcast's time at 0:00


def with_time_tables(data: bytes, origin: float, first: float = 0.0, padding: int = 0,
                     atsc: bool = False, ahead: datetime.timedelta = datetime.timedelta(0)) -> tuple[bytes, int]:
    """The MPEG-TS recording `data` (0:00 at `origin`, broadcast at ZERO) with a time table every 1.3 s from
    `first` s on, each the second the clock packet before it says (alternately TDT and TOT; with `atsc`,
    STTs; `ahead` of UTC, as Japan's are), and `padding` null packets after each packet (as a multiplex of
    many channels fills its bytes); and how many tables."""
    null = bytes([0x47, 0x1F, 0xFF, 0x10]) + b"\xff" * (TS_PACKET_BYTES - 4)
    out, told = bytearray(), 0
    for at in range(0, len(data), TS_PACKET_BYTES):
        packet = data[at:at + TS_PACKET_BYTES]
        out += packet + null * padding
        if packet[3] & 0x20 and packet[4] >= 7 and packet[5] & 0x10:  # a PCR: the clock as this packet came
            pcr = int.from_bytes(packet[6:12], "big")
            seconds = ((pcr >> 15) * 300 + (pcr & 0x1FF)) / 27e6
            if seconds - origin > first + 1.3 * told:
                now = ZERO + ahead + datetime.timedelta(seconds=seconds - origin)
                second = now.replace(microsecond=0)
                out += system_time_packet(second) if atsc else time_packet(second, offset_table=told % 2 == 1)
                told += 1
    return bytes(out), told


def test_when_a_recording_was_broadcast_is_read_from_its_time_tables_and_its_clock(tmp_path, model_file, time_zone):
    # A DVB recording carries the broadcast's time to the second every few seconds; its programme's clock
    # (PCR) places each on the recording's timeline, and together they place its 0:00 within a fraction.
    time_zone("UTC0")  # outputs for people give it in the machine's time zone
    front_end = FrontEnd()
    words, _ = words_between_music(front_end, music_seconds=10.0)  # the target's words, some 28 s in all
    plain = write_recording(tmp_path / "plain.ts", words, front_end.sample_rate, start_seconds=7.0)
    with av.open(str(plain)) as container:
        origin = container.start_time / av.time_base
        pid = container.streams.audio[0].id
    out, told = with_time_tables(plain.read_bytes(), origin)
    aired = tmp_path / "aired.ts"
    aired.write_bytes(out)
    assert told >= 15
    found = broadcast_clock(aired.read_bytes(), pid, origin)
    assert abs((found - ZERO).total_seconds()) < 0.15, found
    # A recorder that writes packets of 192 or 204 bytes (M2TS, Topfield's, a DVB card's raw capture) records
    # the same tables: before, its recordings had no time on air.
    for size in (192, 204):
        recorded = tmp_path / f"aired-{size}.m2ts"
        recorded.write_bytes(in_packets_of(out, size))
        found = recording_facts(recorded).broadcast_time
        assert found is not None and abs((found - ZERO).total_seconds()) < 0.15, (size, found)
    listed = CliRunner().invoke(cli, ["info", str(aired)])
    assert listed.exit_code == 0, listed.output
    assert re.fullmatch(r"0:00 was broadcast at 2026-12-06 19:00:02\.\d UTC \(by the broadcast's time tables\)",
                        listed.output.splitlines()[-1])
    # A scan's results say it (JSON, the index), so that a segment's start can be told as the time it was on air.
    index = tmp_path / "index.sqlite"
    scanned = CliRunner().invoke(cli, ["scan", str(aired), "-m", str(model_file), "-q", "-f", "json", "--db",
                                       str(index)])
    assert scanned.exit_code == 0, scanned.output
    told = datetime.datetime.fromisoformat(json.loads(scanned.output)["broadcast_time"])
    assert abs((told - ZERO).total_seconds()) < 0.15
    stored = CliRunner().invoke(cli, ["results", "--db", str(index), "-f", "json"])
    assert json.loads(stored.output)["broadcast_time"] == json.loads(scanned.output)["broadcast_time"]
    # An index of version 2 (before the broadcast time) holds none, nor one of version 3 where the time came
    # past the first 16 MB: the next scan, finding the recording unchanged, reads it from the recording's
    # tables and stores it, without scanning again.
    for version in (2, 3):
        older = tmp_path / f"version-{version}.sqlite"
        shutil.copy(index, older)
        with sqlite3.connect(older) as connection:
            connection.execute("ALTER TABLE results DROP COLUMN relative")
            connection.execute("ALTER TABLE results DROP COLUMN broadcast_time" if version == 2 else
                               "UPDATE results SET broadcast_time = NULL")
            connection.execute(f"PRAGMA user_version={version}")
            scanned_at = connection.execute("SELECT scanned_at FROM results").fetchall()
        again = CliRunner().invoke(cli, ["scan", str(aired), "-m", str(model_file), "-q", "-f", "json", "--db",
                                         str(older)])
        assert json.loads(again.output) == json.loads(scanned.output)
        with sqlite3.connect(older) as connection:  # not scanned again
            assert connection.execute("SELECT scanned_at FROM results").fetchall() == scanned_at
        assert CliRunner().invoke(cli, ["results", "--db", str(older), "-f", "json"]).output == stored.output
    page = tmp_path / "aired.html"
    assert CliRunner().invoke(cli, ["report", "--db", str(index), "-o", str(page), "-q", "--no-audio"]).exit_code == 0
    assert "0:00 broadcast at 2026-12-06 19:00:02 UTC" in page.read_text()
    first = json.loads(scanned.output)["segments"][0]["start"]  # the words found, and when they were on air
    on_air = f"{told + datetime.timedelta(seconds=first):%Y-%m-%d %H:%M:%S}"
    assert f"<td>{on_air} UTC</td>" in page.read_text()
    lines = CliRunner().invoke(cli, ["scan", str(aired), "-m", str(model_file), "-q"]).output.splitlines()
    assert lines[0].endswith(f"  on air {on_air} UTC")  # the txt output, for people
    time_zone("CET-1CEST,M3.5.0,M10.5.0/3")  # as a machine in Germany shows it, in December
    lines = CliRunner().invoke(cli, ["scan", str(aired), "-m", str(model_file), "-q"]).output.splitlines()
    in_berlin = f"{told + datetime.timedelta(hours=1, seconds=first):%Y-%m-%d %H:%M:%S}"
    assert lines[0].endswith(f"  on air {in_berlin} CET")
    assert CliRunner().invoke(cli, ["info", str(aired)]).output.splitlines()[-1].startswith(
        "0:00 was broadcast at 2026-12-06 20:00:02.")
    table = CliRunner().invoke(cli, ["results", "--db", str(index), "-f", "csv"]).output  # for spreadsheets
    row = next(csv.DictReader(io.StringIO(table)))
    assert datetime.datetime.fromisoformat(row["on_air"]) == told + datetime.timedelta(seconds=float(row["start"]))
    # Reception errors: a byte damaged here and there, the recording cut short. A damaged clock packet or time
    # table is left out (before: one copy in 3,000 off by 36 minutes).
    first_table = next(at for at in range(0, len(out), TS_PACKET_BYTES) if out[at + 2] == 0x14)
    clock_before = max(at for at in range(0, first_table, TS_PACKET_BYTES) if out[at + 3] & 0x20 and out[at + 5] & 0x10)
    wrong = bytearray(out[:first_table + 1000 * TS_PACKET_BYTES])  # some 8 s: the first few tables
    wrong[clock_before + 6] ^= 0x40  # its clock 2**31 / 90 kHz off, 6.6 hours
    assert abs((broadcast_clock(bytes(wrong), pid, origin) - ZERO).total_seconds()) < 0.5
    rng = random.Random(1)
    for _ in range(300):
        damaged = bytearray(out[:rng.randrange(len(out) // 8, len(out))])
        for _ in range(rng.randint(1, 200)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        found = broadcast_clock(bytes(damaged), pid, origin)
        assert found is None or abs((found - ZERO).total_seconds()) < 0.5
    # Without time tables, or with them damaged (a TOT whose CRC fails, a time that cannot be), nothing is said.
    assert broadcast_clock(plain.read_bytes(), pid, origin) is None
    assert "broadcast at" not in CliRunner().invoke(cli, ["info", str(plain)]).output
    untimed = bytearray(out)
    for at in range(0, len(untimed), TS_PACKET_BYTES):
        if untimed[at + 1] & 0x1F == 0 and untimed[at + 2] == 0x14:
            untimed[at + 10] = 0x99  # the hour: not a time in a TDT, a failing CRC in a TOT
    assert broadcast_clock(bytes(untimed), pid, origin) is None


def tone_recording(tmp_path: Path) -> Path:
    """A 28 s MPEG-TS recording of a tone, 0:00 at 7 s of its timestamps."""
    rate = 22_050
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(28 * rate) / rate)).astype(np.float32)
    return write_recording(tmp_path / "plain.ts", tone, rate, start_seconds=7.0)


def as_in_a_multiplex(plain: Path) -> tuple[bytes, float, int]:
    """The MPEG-TS recording `plain` as a capture of a whole multiplex holds it: 60 null packets after each of
    its own (36 MB for 28 s), time tables from 15 s on, the first past its first 16 MB; and its 0:00 (seconds
    of its timestamps) and its audio's PID."""
    with av.open(str(plain)) as container:
        origin = container.start_time / av.time_base
        pid = container.streams.audio[0].id
    out, told = with_time_tables(plain.read_bytes(), origin, first=15.0, padding=60)
    first_table = next(at for at in range(0, len(out), TS_PACKET_BYTES) if out[at + 2] == 0x14)
    assert told >= 5 and first_table > HEAD_BYTES and broadcast_clock(out[:first_table], pid, origin) is None
    return out, origin, pid


def test_an_atsc_recording_is_named_and_timed_by_its_psip_tables(tmp_path, time_zone):
    # ATSC (North America) names its channels in a virtual channel table and sends the time in GPS seconds,
    # on PID 0x1FFB, not in an SDT and a TDT: its channels were "programme 3", its recordings untimed.
    data = (packets(0x00, pat({3: 0x1000, 4: 0x1001})) + packets(0x1000, pmt(3, {0x100: 0x81}))
            + packets(0x1001, pmt(4, {0x200: 0x81}))
            + packets(0x1FFB, virtual_channels(0x0A01, [(0x0A01, 3, "WNET-HD"), (0x0A01, 4, "KIDS"),
                                                        (0x0B02, 3, "WXYZ")])))  # one of another multiplex
    assert programmes_in(data) == {0x100: "13.1 WNET-HD", 0x200: "13.2 KIDS"}  # as a receiver lists them
    assert [name for name in ("13.1 wnet-hd", "13.1", "wnet-hd", "13.2", "WNET", "13", "1") if
            is_programme("13.1 WNET-HD", name)] == ["13.1 wnet-hd", "13.1", "wnet-hd"]
    assert not is_programme("ZDF", "") and is_programme("3sat", "3SAT")
    time_zone("UTC0")
    plain = tone_recording(tmp_path)
    with av.open(str(plain)) as container:
        origin = container.start_time / av.time_base
        pid = container.streams.audio[0].id
    out, told = with_time_tables(plain.read_bytes(), origin, atsc=True)
    assert told >= 15
    assert abs((broadcast_clock(out, pid, origin) - ZERO).total_seconds()) < 0.15
    aired = tmp_path / "aired.ts"
    aired.write_bytes(out)
    assert re.fullmatch(r"0:00 was broadcast at 2026-12-06 19:00:02\.\d UTC \(by the broadcast's time tables\)",
                        CliRunner().invoke(cli, ["info", str(aired)]).output.splitlines()[-1])
    damaged = bytearray(out)  # each STT's CRC failing: no time
    for at in range(0, len(damaged), TS_PACKET_BYTES):
        if damaged[at + 1] & 0x1F == 0x1F and damaged[at + 2] == 0xFB:
            damaged[at + 15] ^= 0x01
    assert broadcast_clock(bytes(damaged), pid, origin) is None


def with_programme_descriptors(data: bytes, descriptors: bytes) -> bytes:
    """The MPEG-TS recording `data`, as FFmpeg writes one (a PMT of one packet on PID 0x1000), with
    `descriptors` before its programme's own."""
    out = bytearray(data)
    for at in range(0, len(out), TS_PACKET_BYTES):
        if out[at + 1] & 0x5F == 0x50 and out[at + 2] == 0x00:  # a PMT begins on PID 0x1000
            old = out[at + 5:at + 8 + (int.from_bytes(out[at + 6:at + 8], "big") & 0x0FFF)]
            info = int.from_bytes(old[10:12], "big") & 0x0FFF
            head, rest = bytearray(old[:12]), old[12:-4]
            head[1:3] = (0xB000 | len(old) - 3 + len(descriptors)).to_bytes(2, "big")
            head[10:12] = (0xF000 | info + len(descriptors)).to_bytes(2, "big")
            table = bytes(head) + descriptors + rest
            out[at + 4:at + TS_PACKET_BYTES] = (b"\x00" + table + mpeg2_crc(table)).ljust(184, b"\xff")
    return bytes(out)


def test_a_japanese_isdb_recording_is_timed_from_its_tables_in_japans_time(tmp_path, time_zone):
    # Japan's ISDB sends the same time tables in Japan's time (UTC+9): its recordings were timed 9 hours late.
    time_zone("UTC0")
    plain = tone_recording(tmp_path)
    with av.open(str(plain)) as container:
        origin = container.start_time / av.time_base
        pid = container.streams.audio[0].id
    in_japan, _ = with_time_tables(plain.read_bytes(), origin, ahead=datetime.timedelta(hours=9))
    bcas = bytes([0x09, 4, 0x00, 0x05, 0xE0, 0x01])  # B-CAS's conditional access, its ECMs on PID 0x0001
    copy_control, access_control = bytes([0xC1, 1, 0x84]), bytes([0xF6, 4, 0x00, 0x05, 0xE0, 0x01])
    isdb = with_programme_descriptors(in_japan, bcas + copy_control + access_control)
    assert programmes_in(isdb) == programmes_in(in_japan)  # the PMT read as before
    assert abs((broadcast_clock(isdb, pid, origin) - ZERO).total_seconds()) < 0.15
    aired = tmp_path / "aired.ts"
    aired.write_bytes(isdb)
    time_zone("JST-9")  # as a machine in Japan shows it
    assert re.fullmatch(r"0:00 was broadcast at 2026-12-07 04:00:02\.\d JST \(by the broadcast's time tables\)",
                        CliRunner().invoke(cli, ["info", str(aired)]).output.splitlines()[-1])
    # Two of the three (a DVB broadcaster's own descriptors use the same private tags): DVB's time, as told.
    for partial in (copy_control + access_control, bcas + copy_control):
        dvb = with_programme_descriptors(in_japan, partial)
        assert abs((broadcast_clock(dvb, pid, origin) - ZERO).total_seconds() - 9 * 3600) < 0.15


def test_a_multiplex_capture_whose_first_time_table_comes_past_its_head_is_timed(tmp_path):
    # A capture of a whole multiplex (40 Mbit/s) fills the 16 MB read first in 3 s, and DVB sends its time
    # tables up to 30 s apart: where the first came later, the recording was not timed.
    out, origin, pid = as_in_a_multiplex(tone_recording(tmp_path))
    multiplex = tmp_path / "multiplex.ts"
    multiplex.write_bytes(out)
    assert broadcast_clock(head_of(multiplex), pid, origin) is None  # none in its head
    found = recording_facts(multiplex).broadcast_time
    assert found is not None and abs((found - ZERO).total_seconds()) < 0.5, found


def test_a_stream_followed_live_tells_when_each_segment_was_on_air(tmp_path, reference_model, model_file):
    # A channel followed live (`dvbv5-zap … | speakerspot scan - --live`) was timed from the moment the pipe
    # opened only: a desk following it for days worked out the time on air itself, and a stream scanned from
    # a pipe had no broadcast time. Its time tables are read from its bytes as they pass; here the first
    # comes 15 s in, 17 MB past what FFmpeg reads to open the stream (a multiplex's null packets between).
    front_end = FrontEnd()
    words, _ = words_between_music(front_end, music_seconds=10.0)
    out, _, _ = as_in_a_multiplex(write_recording(tmp_path / "plain.ts", words, front_end.sample_rate,
                                                  start_seconds=7.0))
    scan = [sys.executable, "-m", "speakerspot", "scan", "-", "-m", str(model_file), "-q"]
    live = subprocess.run([*scan, "--live", "-f", "csv"], input=out, capture_output=True, timeout=300,
                          env={**os.environ, "TZ": "UTC0"})
    assert live.returncode == 0, live.stderr
    rows = list(csv.DictReader(io.StringIO(live.stdout.decode())))
    assert rows, live.stdout
    for row in rows:  # the words begin some 9 s in, and are told after the first time table
        on_air = datetime.datetime.fromisoformat(row["on_air"]) - datetime.timedelta(seconds=float(row["start"]))
        assert abs((on_air - ZERO).total_seconds()) < 0.5, row
    lines = subprocess.run([*scan, "--live"], input=out, capture_output=True, timeout=300,
                           env={**os.environ, "TZ": "UTC0"}).stdout.decode().splitlines()
    assert len(lines) == len(rows) and all(re.search(r"  on air 2026-12-06 19:00:\d\d UTC$", line) for line in lines)
    # The Python API tells it as soon as it is known, before the segments it times, and the result holds it
    # (`scan - -f json`'s `broadcast_time`).
    stream = tmp_path / "live.ts"
    os.mkfifo(stream)
    player = threading.Thread(target=lambda: Path(stream).write_bytes(out))
    player.start()
    events: list[object] = []
    result = speakerspot.scan(reference_model, stream, on_segment=lambda name, segment: events.append(segment),
                              on_broadcast_time=events.append)
    player.join()
    assert events == [result.broadcast_time, *result.segments] and result.segments
    assert abs((result.broadcast_time - ZERO).total_seconds()) < 0.5
    # A file's is read before its audio: `--live` on a file times its segments too (before: on_air empty).
    timed = tmp_path / "timed.ts"
    timed.write_bytes(out)
    told = CliRunner().invoke(cli, ["scan", str(timed), "-m", str(model_file), "-q", "--live", "-f", "jsonl"])
    segment = json.loads(told.output.splitlines()[0])
    aired = speakerspot.scan(reference_model, timed).broadcast_time
    on_air = aired + datetime.timedelta(seconds=segment["start"])
    assert abs((datetime.datetime.fromisoformat(segment["on_air"]) - on_air).total_seconds()) <= 0.0005  # to the ms


def test_a_pipes_time_tables_are_read_as_its_bytes_pass_from_whatever_byte_they_begin(tmp_path):
    # What a pipe keeps of what FFmpeg read to open it may begin inside a packet (reads end anywhere, and it
    # keeps the last 16 MB or so): the tables are read from the first whole packet on, here from bytes kept from
    # byte 1000 on, and fed in pieces that end inside packets, as a pipe brings them.
    plain = tone_recording(tmp_path)
    out, origin, pid = as_in_a_multiplex(plain)
    assert abs((broadcast_clock(out[1000:], pid, origin) - ZERO).total_seconds()) < 0.5
    assert programmes_in(out[1000:]) == programmes_in(out)

    def fed(data: bytes) -> list[datetime.datetime | None]:
        """What a clock tells, fed `data` from byte 1000 on, as the audio reaches each piece's time."""
        clock = PipeClock(data[1000:3_000_001], pid, origin)
        told = []
        for at in range(3_000_001, len(data), 100_003):
            clock.add(data[at:at + 100_003])
            told.append(clock.told(at / len(data) * 28.0))
        return told

    told = [time for time in fed(out) if time is not None]
    assert len(told) == 1 and abs((told[0] - ZERO).total_seconds()) < 0.5  # once, when it is found
    padded = b"".join(packet + bytes([0x47, 0x1F, 0xFF, 0x10]) + b"\xff" * (TS_PACKET_BYTES - 4)
                      for packet in (plain.read_bytes()[at:at + TS_PACKET_BYTES]
                                     for at in range(0, plain.stat().st_size, TS_PACKET_BYTES)))
    assert fed(padded) == [None] * len(fed(padded))  # a stream without time tables: never


def enigma2_meta(began: int, first_line: str = "1:0:19:283D:3FB:1:C00000:0:0:0:") -> str:
    """An Enigma2 receiver's .meta file of a recording it began at `began` (seconds since 1970, UTC)."""
    return f"{first_line}\nTagesschau\nNachrichten\n{began}\n\n2520000\n1634284\n"


def test_a_recording_of_an_enigma2_receiver_is_timed_by_the_meta_file_beside_it(tmp_path, model_file, time_zone):
    # Enigma2 receivers (Dreambox, VU+) record a channel's own streams without the broadcast's time tables, and
    # write when they began into NAME.ts.meta: their recordings had no time on air.
    time_zone("UTC0")
    front_end = FrontEnd()
    words, _ = words_between_music(front_end, music_seconds=10.0)
    recording = write_recording(tmp_path / "20261206 1900 - Das Erste HD - Tagesschau.ts", words,
                                front_end.sample_rate, start_seconds=7.0)
    began = datetime.datetime(2026, 12, 6, 19, 0, 12, tzinfo=datetime.UTC)
    index = tmp_path / "index.sqlite"
    untimed = CliRunner().invoke(cli, ["scan", str(recording), "-m", str(model_file), "-q", "-f", "json",
                                       "--db", str(index)])
    assert json.loads(untimed.output)["broadcast_time"] is None
    Path(f"{recording}.meta").write_text(enigma2_meta(int(began.timestamp())))
    timed = CliRunner().invoke(cli, ["scan", str(recording), "-m", str(model_file), "-q", "-f", "csv"])
    row = next(csv.DictReader(io.StringIO(timed.output)))
    assert datetime.datetime.fromisoformat(row["on_air"]) == began + datetime.timedelta(seconds=float(row["start"]))
    assert CliRunner().invoke(cli, ["info", str(recording)]).output.splitlines()[-1] == (
        f"0:00 was broadcast at 2026-12-06 19:00:12 UTC (when the recorder began it, by its {recording.name}.meta: "
        "to about a second)")
    # The index that stored it without a time gains it on the next run, without scanning again.
    with sqlite3.connect(index) as connection:
        scanned_at = connection.execute("SELECT scanned_at FROM results").fetchall()
    again = CliRunner().invoke(cli, ["scan", str(recording), "-m", str(model_file), "-q", "-f", "json",
                                     "--db", str(index)])
    assert datetime.datetime.fromisoformat(json.loads(again.output)["broadcast_time"]) == began
    with sqlite3.connect(index) as connection:
        assert connection.execute("SELECT scanned_at FROM results").fetchall() == scanned_at
    stored = CliRunner().invoke(cli, ["results", "--db", str(index), "-f", "json"]).output
    assert datetime.datetime.fromisoformat(json.loads(stored)["broadcast_time"]) == began
    # The recording's own time tables, where it has them, come first; a .meta file that is not one is not read.
    with av.open(str(recording)) as container:
        origin = container.start_time / av.time_base
    tabled = tmp_path / "tabled.ts"
    tabled.write_bytes(with_time_tables(recording.read_bytes(), origin)[0])
    Path(f"{tabled}.meta").write_text(enigma2_meta(int(began.timestamp())))
    assert abs((recording_facts(tabled).broadcast_time - ZERO).total_seconds()) < 0.5
    for wrong in (enigma2_meta(int(began.timestamp()), first_line="not a service reference"),
                  enigma2_meta(86_400),  # 1970: no recording's
                  "1:0:19:283D:3FB:1:C00000:0:0:0:\nTagesschau\n", "\x00\xff garbage"):
        Path(f"{recording}.meta").write_text(wrong)
        assert recording_facts(recording).broadcast_time is None, wrong


def humax_hmt(began: int, title: bytes, channel: bytes) -> bytes:
    """A Humax HDR-FOX T2's .hmt header of a recording it began at `began` (seconds since 1970, UTC), laid out as
    the hummy.tv wiki's "HMT File Format" page documents it."""
    hmt = bytearray(0x1004)
    hmt[0:2] = b"\x17\x01"
    hmt[0x180:0x180 + 26] = b"The One Show_20261206_1900"  # the file's name, which speakerspot does not read
    hmt[0x280:0x288] = began.to_bytes(4, "little") + (began + 3600).to_bytes(4, "little")  # began, ended
    hmt[0x29A:0x29A + len(title)] = title
    hmt[0x458:0x45C] = (1).to_bytes(4, "little")  # the channel's number on the recorder
    hmt[0x45C:0x45C + len(channel)] = channel
    return bytes(hmt)


def test_a_humax_recording_is_timed_and_named_by_the_hmt_file_beside_it(tmp_path, model_file, time_zone):
    # Humax's HDR-FOX T2 records a channel's own streams and writes NAME.hmt beside NAME.ts: when the recording
    # began, the programme's and the channel's names. Until 2026-12-07 its recordings had no time on air.
    time_zone("GMT0BST,M3.5.0/1,M10.5.0")  # London's
    front_end = FrontEnd()
    words, _ = words_between_music(front_end, music_seconds=6.0)
    recording = write_recording(tmp_path / "The One Show_20261206_1900.ts", words, front_end.sample_rate,
                                start_seconds=7.0)
    began = datetime.datetime(2026, 12, 6, 19, 0, 12, tzinfo=datetime.UTC)
    recording.with_suffix(".hmt").write_bytes(humax_hmt(int(began.timestamp()), b"\x15The One Show",
                                                        b"\x15BBC ONE Lon"))
    scanned = CliRunner().invoke(cli, ["scan", str(recording), "-m", str(model_file), "-q", "-f", "csv", "-f",
                                       "json", "--windows", "--output-dir", str(tmp_path / "out")])
    assert scanned.exit_code == 0, scanned.output
    row = next(csv.DictReader(io.StringIO(next((tmp_path / "out").glob("*.csv")).read_text())))
    assert datetime.datetime.fromisoformat(row["on_air"]) == began + datetime.timedelta(seconds=float(row["start"]))
    assert CliRunner().invoke(cli, ["info", str(recording)]).output.splitlines()[-2:] == [
        "its recorder names it: The One Show, BBC ONE Lon",
        "0:00 was broadcast at 2026-12-06 19:00:12 GMT (when the Humax recorder began it, by its "
        "The One Show_20261206_1900.hmt: to the second)"]
    # A report names its page by them, as it names a VDR recording's.
    made = CliRunner().invoke(cli, ["report", str(next((tmp_path / "out").glob("*.json"))), "-o",
                                    str(tmp_path / "r.html"), "-q", "--no-audio"])
    assert made.exit_code == 0, made.output
    assert "<title>The One Show, BBC ONE Lon (The One Show_20261206_1900.ts)" in (tmp_path / "r.html").read_text()
    # A file that is not a .hmt, or holds no time a recording can have begun at, is not read.
    for wrong in (b"\x00\xff garbage", humax_hmt(0, b"The One Show", b""), humax_hmt(int(began.timestamp()),
                                                                                    b"", b"")[:0x400]):
        recording.with_suffix(".hmt").write_bytes(wrong)
        assert recording_facts(recording).broadcast_time is None, wrong[:16]
    assert "its recorder names it" not in CliRunner().invoke(cli, ["info", str(recording)]).output


def test_vdr_and_mythtv_recordings_are_timed_by_their_names(tmp_path, model_file, time_zone):
    # VDR names a recording's folder after when it began (in its machine's time zone, to the minute), MythTV
    # names its file so (in UTC): neither keeps the broadcast's time tables, and their recordings were untimed.
    time_zone("CET-1CEST,M3.5.0,M10.5.0/3")  # Berlin's
    front_end = FrontEnd()
    words, _ = words_between_music(front_end, music_seconds=6.0)
    recording = write_recording(tmp_path / "plain.ts", words, front_end.sample_rate, start_seconds=7.0)
    vdr = tmp_path / "video" / "Tagesschau" / "2026-07-01.20.15.5-0.rec"  # summer time: 18:15 UTC
    vdr.mkdir(parents=True)
    shutil.copy(recording, vdr / "00001.ts")
    mythtv = shutil.copy(recording, tmp_path / "1051_20261206190012.ts")
    began = {vdr: datetime.datetime(2026, 7, 1, 18, 15, tzinfo=datetime.UTC),
             mythtv: datetime.datetime(2026, 12, 6, 19, 0, 12, tzinfo=datetime.UTC)}
    for path, time in began.items():
        assert recording_facts(path).broadcast_time == time
        scanned = CliRunner().invoke(cli, ["scan", str(path), "-m", str(model_file), "-q", "-f", "csv"])
        row = next(csv.DictReader(io.StringIO(scanned.output)))
        assert datetime.datetime.fromisoformat(row["on_air"]) == time + datetime.timedelta(seconds=float(row["start"]))
    info = CliRunner().invoke(cli, ["info", str(vdr)]).output.splitlines()[-1]
    assert info == ("0:00 was broadcast at 2026-07-01 20:15:00 CEST (when VDR began it, by its folder's name, "
                    "read in this machine's time zone: to the minute)")
    assert CliRunner().invoke(cli, ["info", str(mythtv)]).output.splitlines()[-1] == (
        "0:00 was broadcast at 2026-12-06 20:00:12 CET (when MythTV began it, by its file name (UTC): "
        "to a few seconds)")
    # VDR before 1.7.3 named its folders with a colon or a dot between the hour and the minute; in winter, CET.
    old = vdr.with_name("2005-03-01.20:15.50.99.rec")
    old.mkdir()
    remuxed(recording, old / "001.vdr", "vob")
    assert recording_facts(old).broadcast_time == datetime.datetime(2005, 3, 1, 19, 15, tzinfo=datetime.UTC)
    # Names that only look like theirs hold no time: a 30th of February, a 13th month, 1970, a name with more in it.
    for name in ("2026-02-30.20.15.5-0.rec", "1970-01-01.20.15.5-0.rec", "Tagesschau 2026-07-01.20.15.5-0.rec"):
        shutil.copytree(vdr, vdr.with_name(name))
        assert recording_facts(vdr.with_name(name)).broadcast_time is None, name
    for name in ("1051_20261306190012.ts", "1051_19700101000000.ts", "copy of 1051_20261206190012.ts",
                 "1051_2026120619001.ts"):
        assert recording_facts(shutil.copy(recording, tmp_path / name)).broadcast_time is None, name
