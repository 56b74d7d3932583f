"""Batches on Ray (`--engine ray`): the same outputs and index as local workers, workers that die,
a driver that dies, and a clear message without Ray. Ray runs as a local cluster on this machine."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES
from media import multiplex

from speakerspot.audio import load_audio
from speakerspot.batch import every_programme, find_recordings, scan_batch
from speakerspot.results_index import ResultsIndex
from speakerspot.writers import ResultOutputs

ray = pytest.importorskip("ray")

SAMPLE = FIXTURES / "sample.ts"


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of two CPUs, shared by this module's in-process tests."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def folder_of_recordings(root: Path) -> Path:
    root.mkdir()
    shutil.copy(SAMPLE, root / "a.ts")
    (root / "sub").mkdir()
    shutil.copy(SAMPLE, root / "sub" / "b.ts")
    (root / "broken.ts").write_bytes(b"not a transport stream" * 100)
    return root


def batch_outputs(models, root: Path, tmp_path: Path, name: str, **engine) -> tuple[dict, list[str], list]:
    """(every output file's bytes, the failures' messages, the index's rows) of a batch over `root`."""
    output_dir = tmp_path / name
    failures = []
    paths = [root, root / "missing.ts"]
    with ResultsIndex(tmp_path / f"{name}.sqlite") as index:
        scan_batch(models, find_recordings(paths), ResultOutputs(["json", "srt"], output_dir=output_dir, windows=True),
                   lambda error: failures.append(str(error)), index=index, **engine)
    rows = sqlite3.connect(tmp_path / f"{name}.sqlite").execute(
        "SELECT recording, model, status, error, threshold, duration, segments, window_times, window_scores "
        "FROM results ORDER BY recording").fetchall()
    files = {str(path.relative_to(output_dir)): path.read_bytes() for path in output_dir.rglob("*") if path.is_file()}
    return files, sorted(failures), rows


def test_ray_batch_writes_what_local_workers_write(cluster, reference_model, tmp_path):
    root = folder_of_recordings(tmp_path / "pvr")
    on_ray = batch_outputs([reference_model], root, tmp_path, "ray", engine="ray")
    local = batch_outputs([reference_model], root, tmp_path, "local", workers=2)
    assert on_ray == local
    files, failures, rows = on_ray
    assert sorted(files) == ["a.fixture.json", "a.fixture.srt", "sub/b.fixture.json", "sub/b.fixture.srt"]
    assert [failure.split(":")[0] for failure in failures] == [str(root / "broken.ts"), str(root / "missing.ts")]
    assert [row[2] for row in rows] == ["done", "failed", "failed", "done"]  # a, broken, missing, sub/b


def test_ray_scans_every_channel_of_a_multiplex_capture_as_local_workers_do(cluster, reference_model, tmp_path):
    # `--engine ray --every-programme`: checked by hand only until 2026-12-07.
    rate = reference_model.front_end.sample_rate
    words = load_audio(SAMPLE, rate)
    root = tmp_path / "mux"
    root.mkdir()
    multiplex(root / "monday.ts", [np.zeros_like(words), words], rate, [b"Das Erste HD", b"ZDF"])
    shutil.copy(SAMPLE, root / "radio.ts")  # one programme: scanned as it is
    outputs = {}
    for engine in ({"engine": "ray"}, {"workers": 2}):
        output_dir = tmp_path / next(iter(engine))
        scan_batch([reference_model], every_programme(find_recordings([root])),
                   ResultOutputs(["json"], output_dir=output_dir), lambda error: pytest.fail(str(error)), **engine)
        outputs[next(iter(engine))] = {path.name: json.loads(path.read_text())["segments"]
                                       for path in output_dir.iterdir()}
    assert outputs["engine"] == outputs["workers"]
    found = outputs["engine"]
    assert sorted(found) == ["monday.Das Erste HD.fixture.json", "monday.ZDF.fixture.json", "radio.fixture.json"]
    assert found["monday.Das Erste HD.fixture.json"] == [] and found["monday.ZDF.fixture.json"]
    # the sample's audio, encoded again in its channel: its turns, their edges within a window's step or so
    channel, sample = found["monday.ZDF.fixture.json"], found["radio.fixture.json"]
    assert len(channel) == len(sample)
    assert all(abs(a[edge] - b[edge]) < 1.0 for a, b in zip(channel, sample, strict=True) for edge in ("start", "end"))


def readers_of(path: Path) -> list[int]:
    """The processes other than this one that have `path` open."""
    found = []
    for process in Path("/proc").iterdir():
        try:
            if process.name.isdigit() and int(process.name) != os.getpid() and any(
                    os.readlink(fd) == str(path) for fd in (process / "fd").iterdir()):
                found.append(int(process.name))
        except OSError:  # gone, or not ours to look at
            continue
    return found


def kill_until_gone(readers: list[int], path: Path) -> None:
    """SIGKILL the processes `readers` of `path`, and wait until none of them has it open."""
    for pid in readers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    while set(readers) & set(readers_of(path)):
        time.sleep(0.01)


class PipeThatKillsItsReader:
    """A FIFO serving the sample to each reader that opens it until one has read it whole; the first
    `kills` readers are killed (SIGKILL, as the OOM killer or a decoder crash would end them) half way
    through the file. Made at `path` unless one is there."""

    def __init__(self, path: Path, kills: int):
        self.path, self.kills, self.killed, self.closed = path, kills, 0, False
        if not path.exists():
            os.mkfifo(path)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        data = SAMPLE.read_bytes()
        while not self.closed:  # one open per attempt to scan it: a killed reader's retry opens it again
            try:
                with open(self.path, "wb") as pipe:  # waits for a reader
                    if self.killed == self.kills:
                        pipe.write(data)
                        return
                    pipe.write(data[:len(data) // 2])
                    pipe.flush()
                    kill_until_gone(readers_of(self.path), self.path)  # before the next open, or it would be served
                    self.killed += 1
            except BrokenPipeError:
                pass

    def close(self) -> None:
        """Stop serving once a kill under way is counted: the batch can learn of its worker's death before
        `kill_until_gone` has seen the pipe closed (a likely reading of a full test run that counted none)."""
        self.closed = True
        while self.thread.is_alive():
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))  # lets a writer waiting for a reader on
            self.thread.join(0.05)


class FileThatKillsItsReader:
    """A copy of the sample at `path` whose first `kills` readers (processes other than this one that
    open it) are killed with SIGKILL, as the OOM killer or a decoder crash would end them."""

    def __init__(self, path: Path, kills: int):
        shutil.copy(SAMPLE, path)
        self.path, self.kills, self.killed, self.closed = path, kills, 0, False
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self) -> None:
        while not self.closed and self.killed < self.kills:
            readers = readers_of(self.path)
            if not readers:
                time.sleep(0.002)
                continue
            kill_until_gone(readers, self.path)  # before the next reader counts
            self.killed += 1

    def close(self) -> None:
        self.closed = True
        self.thread.join()


def test_a_ray_worker_that_dies_is_retried_one_that_dies_twice_fails_its_recording_alone_and_a_pipe_is_not_retried(
        cluster, reference_model, tmp_path):
    once = FileThatKillsItsReader(tmp_path / "once.ts", 1)
    twice = FileThatKillsItsReader(tmp_path / "twice.ts", 2)
    pipe = PipeThatKillsItsReader(tmp_path / "pipe.ts", 1)
    shutil.copy(SAMPLE, tmp_path / "file.ts")
    delivered, failures = [], []
    try:
        with ResultsIndex(tmp_path / "results.sqlite") as index:
            summary = scan_batch([reference_model],
                                 find_recordings([once.path, twice.path, pipe.path, tmp_path / "file.ts"]),
                                 lambda recording, results: delivered.append((recording.path, results)),
                                 failures.append, index=index, engine="ray")
    finally:
        for served in (once, twice, pipe):
            served.close()
    problems = {error.path: error.problem for error in failures}  # in the order they happened
    assert (once.killed, twice.killed, pipe.killed) == (1, 2, 1), problems
    assert [path for path, _ in delivered] == [once.path, tmp_path / "file.ts"]
    assert delivered[0][1][0].segments == delivered[1][1][0].segments  # the retried file was scanned whole
    assert sorted(problems) == [str(pipe.path), str(twice.path)]
    assert "died twice" in problems[str(twice.path)] and "not scanned again" in problems[str(pipe.path)]
    assert (summary.scanned, len(summary.failures)) == (2, 2)
    rows = sqlite3.connect(tmp_path / "results.sqlite").execute("SELECT recording, status FROM results").fetchall()
    # Every recording is stored, the failed ones as failed (a pipe's results would not be: they cannot be resumed).
    assert sorted(rows) == [(str(tmp_path / "file.ts"), "done"), (str(once.path), "done"), (str(pipe.path), "failed"),
                            (str(twice.path), "failed")]


def scan_command(model_file: Path, db: Path, output_dir: Path, *recordings: Path, engine: str = "ray") -> list[str]:
    return [sys.executable, "-m", "speakerspot", "scan", *map(str, recordings), "-m", str(model_file), "--db", str(db),
            "-f", "csv", "--output-dir", str(output_dir), "--engine", engine, "-j", "1", "-q"]


def test_a_ray_batch_whose_driver_is_killed_resumes_without_rescanning(model_file, tmp_path):
    first, last = tmp_path / "first.ts", tmp_path / "last.ts"
    shutil.copy(SAMPLE, first)
    shutil.copy(SAMPLE, last)
    live = tmp_path / "live.ts"
    os.mkfifo(live)  # nobody writes yet: the batch waits on it, with `first` done
    db, output_dir = tmp_path / "results.sqlite", tmp_path / "out"
    command = scan_command(model_file, db, output_dir, first, live, last)
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    # The driver stores a recording's results in the index, then writes its outputs: killed between the
    # two (a CI run did), it leaves a half-written temporary output, which the kill below is not about.
    written = output_dir / "first.fixture.csv"
    while not (stored(db) and written.exists()) and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.1)
    assert stored(db) == [str(first)], driver.stderr.read() if driver.poll() is not None else "nothing stored"
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    kill_session(driver.pid)  # the local cluster it started, as a terminal's hang-up would end it
    assert sorted(p.name for p in output_dir.iterdir()) == ["first.fixture.csv"]

    # Served to each reader that opens it, so that a reader gone part way (a worker Ray retries) cannot
    # leave the next one waiting for a writer for ever.
    writer = PipeThatKillsItsReader(live, kills=0)
    resumed = subprocess.run([*command[:-1]], capture_output=True, text=True, timeout=300)
    writer.close()
    assert resumed.returncode == 0, resumed.stderr
    assert "scanned 2 of 3 recordings, 1 unchanged" in resumed.stderr
    assert stored(db) == sorted([str(first), str(last)])  # each once; the pipe is not kept for resuming
    csv = {path.name: path.read_bytes() for path in output_dir.iterdir()}
    assert sorted(csv) == ["first.fixture.csv", "last.fixture.csv", "live.fixture.csv"]
    local_dir = tmp_path / "local"
    subprocess.run(scan_command(model_file, tmp_path / "local.sqlite", local_dir, first, last, engine="local"),
                   check=True, timeout=300)
    assert csv["first.fixture.csv"] == (local_dir / "first.fixture.csv").read_bytes()
    assert csv["last.fixture.csv"] == (local_dir / "last.fixture.csv").read_bytes()


def kill_session(sid: int) -> None:
    """Kill every process of session `sid`, again until none is left: one that was being started while
    the others were killed could otherwise live on and read the pipe the next run is served."""
    deadline = time.monotonic() + 30
    while (alive := session(sid)) and time.monotonic() < deadline:
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    assert not alive, f"processes of the killed batch still running: {alive}"


def session(sid: int) -> list[int]:
    """The living processes of session `sid` (Ray's workers each lead a process group of their own)."""
    pids = []
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            state, _, _, process_sid = (process / "stat").read_text().rsplit(")", 1)[1].split()[:4]
            if int(process_sid) == sid and state != "Z":
                pids.append(int(process.name))
        except (OSError, IndexError):  # gone meanwhile
            continue
    return pids


def stored(db: Path) -> list[str]:
    try:
        return sorted(row[0] for row in sqlite3.connect(db).execute("SELECT recording FROM results"))
    except sqlite3.OperationalError:  # not created yet
        return []


def test_a_ray_address_with_no_cluster_is_one_line_naming_it(model_file):
    command = [sys.executable, "-m", "speakerspot", "scan", str(SAMPLE), "-m", str(model_file), "-q",
               "--engine", "ray", "--ray-address", "nonsense"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("speakerspot: error: cannot use the Ray cluster at nonsense:"), done.stderr
    assert "Traceback" not in done.stderr


def test_without_ray_the_ray_engine_says_how_to_install_it_and_the_local_engine_needs_none(model_file):
    hide_ray = ("import sys; sys.modules['ray'] = None; from speakerspot.cli import main; "
                "sys.argv[0] = 'speakerspot'; main()")
    command = [sys.executable, "-c", hide_ray, "scan", str(SAMPLE), "-m", str(model_file), "-q"]
    on_ray = subprocess.run([*command, "--engine", "ray"], capture_output=True, text=True, timeout=120)
    assert on_ray.returncode == 2
    assert on_ray.stderr.strip() == "speakerspot: error: --engine ray needs Ray: pip install 'speakerspot[ray]'"
    local = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert local.returncode == 0 and local.stdout.count("\n") >= 1, local.stderr
