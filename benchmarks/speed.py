"""Speed and memory benchmark: scan time against the FFmpeg decoder's floor, peak RSS, training time.

    python benchmarks/speed.py [--repeats 3] [--short-repeats 9] [--skip-long]
                               [--recordings ../shared/bench/dev/test/broadcast.ts]
                               [--training ../shared/bench/dev/train]

Builds its recordings from the repo's fixture clips (`dvb_recordings.py`, in a process of its own;
cached in benchmarks/cache/), shaped like DVB captures: a 20-minute and a 3-hour MPEG-TS with MPEG-2
video and two MP2 tracks (48 kHz stereo, 192 kbit/s; first PTS at 10 hours), and a 20-minute one with
an AC3 5.1 track (384 kbit/s) and video. Times each scan as a whole process, interleaved and
repeated; peak RSS is that of the process tree, with the environment's shared libraries read back
from disk first (`libraries_read_from_disk`); `--recordings` adds recordings of your own (a real
capture) to the same table; the 20-minute MP2 one is also scanned with 8 models at once (copies of one
model under names of their own), as for a team looking for several people, and made a capture of a whole
multiplex of two channels, each scanned (`--every-programme`) against FFmpeg decoding both tracks in one pass.
Training (on the fixture clips, the model the scans use) runs once; `--training` times it on folders of your
own (with `pos/` and `neg/` clip folders), once in float32 and once as by default, one after the other, after
the scans.
Prints a table and writes it into BENCHMARKS.md between markers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CACHE = ROOT / "benchmarks" / "cache"  # the recordings (see dvb_recordings.py) and the model
SPEECH = ROOT / "tests" / "fixtures" / "speech"
BIN = Path(sys.executable).parent
MARK_BEGIN, MARK_END = "<!-- speed:begin -->", "<!-- speed:end -->"
SEVERAL_MODELS = 8  # models of as many people scanned at once
MULTIPLEX = "20 min MP2, 2 channels"  # dvb_recordings.py's capture of a whole multiplex


# Starts the command and reports its peak RSS as the kernel counts it. A process forked from this
# one would count this one's memory in its peak, which survives exec; forked from a bare
# interpreter, it counts a few MB. (The launcher adds its own start-up, some 20 ms, to each wall time.)
LAUNCHER = ("import resource, subprocess, sys\n"
            "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(code)")


def measure(command: list[str]) -> tuple[float, float, float, float]:
    """(wall seconds, peak RSS in MB, growth in MB, peak private MB) of one run of `command` as its own process.

    The peak is of the process and its helper processes (the scan's decoder) together: their RSS
    summed every 20 ms, or the process's own peak as the kernel counts it, whichever is larger. The
    growth is the highest of those sums in the run's last third less the highest in its middle third
    (the first holds the start-up): a process that grows with the recording shows it there before its
    peak does (a 3-hour scan grew by 17 MB that way, unseen, until 2026-12-04). The private peak is
    that of the tree's anonymous memory (RssAnon, sampled alike): what the processes allocate, without
    the pages of the libraries they map, which RSS counts by the page cache's grain (see `main`).
    """
    started = time.perf_counter()
    # stderr into a file, not a pipe read at the end: a command that writes more than a pipe holds
    # would wait for a reader forever.
    with tempfile.TemporaryFile() as stderr:
        launcher = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, *command], stderr=stderr)
        samples: list[tuple[float, int, int]] = []  # (seconds since the start, kB, private kB)
        while launcher.poll() is None:
            samples.append((time.perf_counter() - started, *descendants_kb(launcher.pid)))
            time.sleep(0.02)
        wall = time.perf_counter() - started
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace")
    if launcher.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {errors[-2000:]}")
    peak_kb = max((kb for _, kb, _ in samples), default=0)
    private_kb = max((kb for _, _, kb in samples), default=0)
    middle = [kb for at, kb, _ in samples if wall / 3 <= at < 2 * wall / 3]
    last = [kb for at, kb, _ in samples if at >= 2 * wall / 3]
    growth_kb = max(last) - max(middle) if middle and last else 0
    return wall, max(peak_kb, int(errors.split()[-1])) / 1024, growth_kb / 1024, private_kb / 1024


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, private) memory of `pid` alone now, kB (VmRSS and RssAnon of /proc/PID/status); 0 where
    /proc cannot tell."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    fields = dict(line.split()[:2] for line in status.splitlines() if line.startswith(("VmRSS:", "RssAnon:")))
    return int(fields.get("VmRSS:", 0)), int(fields.get("RssAnon:", 0))


def descendants_kb(pid: int) -> tuple[int, int]:
    """`memory_kb` of the descendants of `pid` (not of `pid` itself), summed, read in one walk of the tree."""
    try:
        children = [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                    for child in (task / "children").read_text().split()]
    except (OSError, ValueError):
        return 0, 0
    totals = [memory_kb(child) for child in children] + [descendants_kb(child) for child in children]
    return sum(rss for rss, _ in totals), sum(private for _, private in totals)


def floor_command(path: Path, tracks: int = 1) -> tuple[str, list[str]]:
    """The floor a scan is measured against: FFmpeg decoding the first `tracks` audio tracks of `path` to mono
    22,050 Hz, in one pass."""
    if shutil.which("ffmpeg"):
        # -nostdin: with no terminal, ffmpeg still reads keys from its standard input, and at the end of
        # /dev/null it began dumping every packet of an AC3 capture to stderr (ffmpeg 5.1, 2026-12-06).
        outputs = [argument for track in range(tracks) for argument in
                   ("-map", f"0:a:{track}", "-ac", "1", "-ar", "22050", "-f", "f32le", "-y", "/dev/null")]
        return "ffmpeg decode (floor)", ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), *outputs]
    code = ("import av,sys\nc=av.open(sys.argv[1])\n"
            f"for f in c.decode(*c.streams.audio[:{tracks}]): pass")
    return "PyAV decode only (floor; no ffmpeg binary)", [sys.executable, "-c", code, str(path)]


def libraries_read_from_disk() -> int:
    """Drop the environment's shared libraries (torch's above all) from the page cache, so that the
    processes measured read them back from disk, as after a reboot; returns how many files.

    A process's RSS counts the pages of the libraries it maps at the grain the page cache holds them
    in, and pip's writes leave them in larger pieces than reading them from disk does: the same scan
    peaked at 385 MB (the command alone) with the libraries as `make install` had written them and at
    284 MB once they were dropped and read back (2026-12-05, twenty-second session). Without this
    step the table's RSS depended on when the environment was installed; its private memory never
    did. A page that a process maps is not dropped, so this process maps none of the environment's
    libraries (its recordings are made in another: `dvb_recordings.py`); until the twenty-third
    session it had imported numpy, PyAV and libsndfile, whose pages the scans map too, and a scan's
    helper in a fresh clone mapped 41 MB of libraries against 29 MB in an older checkout."""
    libraries = Path(sys.prefix) / "lib"
    count = 0
    for path in libraries.rglob("*.so*"):
        if path.is_file() and not path.is_symlink():
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fdatasync(descriptor)  # a page not yet written back cannot be dropped
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
                count += 1
            finally:
                os.close(descriptor)
    return count


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def summary(samples: list[float]) -> str:
    return f"{statistics.median(samples):.2f} ({min(samples):.2f}–{max(samples):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each job on recordings of an hour or more")
    # Three runs of a 20-minute scan put its ratio anywhere from 1.33x to 1.69x in one hour (2026-12-04).
    parser.add_argument("--short-repeats", type=int, default=9, help="runs of each other job (shorter recordings, "
                                                                     "start-up)")
    parser.add_argument("--skip-long", action="store_true", help="leave out the 3-hour recording")
    parser.add_argument("--recordings", nargs="*", type=Path, default=[], help="further recordings to time")
    parser.add_argument("--training", nargs="*", type=Path, default=[],
                        help="folders holding pos/ and neg/ clip folders to time training on")
    arguments = parser.parse_args()

    model = CACHE / "bench-model.pt"
    CACHE.mkdir(parents=True, exist_ok=True)
    train = [str(BIN / "speakerspot"), "train", str(SPEECH / "train"), "--target", "rms", "-q", "-o", str(model)]
    # Made in a process of their own, so that this one maps none of the libraries the scans map (see
    # `libraries_read_from_disk`): {name: (minutes, path)}.
    made = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "dvb_recordings.py"), str(CACHE), "--multiplex",
                           *([] if arguments.skip_long else ["--long"]), *map(str, arguments.recordings)],
                          check=True, stdout=subprocess.PIPE, text=True)
    recordings = {name: (minutes, Path(path)) for name, (minutes, path) in json.loads(made.stdout).items()}
    multiplex = recordings.pop(MULTIPLEX)[1]
    jobs: dict[str, list[str]] = {}
    repeats: dict[str, int] = {}
    for name, (minutes, path) in recordings.items():
        label, command = floor_command(path)
        jobs[f"{name}: {label}"] = command
        jobs[f"{name}: speakerspot scan"] = [str(BIN / "speakerspot"), "scan", str(path), "-m", str(model), "-q"]
        for job in (f"{name}: {label}", f"{name}: speakerspot scan"):
            repeats[job] = arguments.repeats if minutes >= 60 else arguments.short_repeats
    # Several people looked for in one pass: copies of the model under names of their own (made after training).
    voices = [CACHE / "voices" / f"voice{number}.pt" for number in range(SEVERAL_MODELS)]
    jobs[f"20 min MP2: speakerspot scan with {SEVERAL_MODELS} models"] = [
        str(BIN / "speakerspot"), "scan", str(recordings["20 min MP2"][1]),
        *(argument for voice in voices for argument in ("-m", str(voice))), "-q"]
    # every channel of a whole multiplex's capture, against FFmpeg decoding both channels' tracks in one pass
    label, command = floor_command(multiplex, tracks=2)
    jobs[f"{MULTIPLEX}: {label}, both tracks"] = command
    jobs[f"{MULTIPLEX}: speakerspot scan --every-programme"] = [str(BIN / "speakerspot"), "scan", str(multiplex),
                                                                "-m", str(model), "-q", "--every-programme"]
    jobs["start-up: speakerspot scan of a 3 s clip"] = [str(BIN / "speakerspot"), "scan",
                                                        str(SPEECH / "test" / "rms" / "10.ogg"), "-m", str(model), "-q"]
    jobs["start-up: speakerspot --help"] = [str(BIN / "speakerspot"), "--help"]
    for job in jobs:
        repeats.setdefault(job, arguments.short_repeats)
    training_wall, training_peak, _, training_private = measure(train)  # also makes the model the scans use
    (CACHE / "voices").mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-c", "import speakerspot, sys\nmodel = speakerspot.load_model(sys.argv[1])\n"
                    "for path in sys.argv[2:]:\n    model.name = path.rsplit('/', 1)[1][:-3]\n    model.save(path)",
                    str(model), *map(str, voices)], check=True)
    first_scan = next(name for name in jobs if name.endswith("speakerspot scan"))
    as_cached = measure(jobs[first_scan])[1]  # the libraries as the page cache held them (see `libraries_read...`)
    dropped = libraries_read_from_disk()
    walls: dict[str, list[float]] = {name: [] for name in jobs}
    peaks: dict[str, list[float]] = {name: [] for name in jobs}
    privates: dict[str, list[float]] = {name: [] for name in jobs}
    growths: dict[str, list[float]] = {name: [] for name in jobs}
    for run in range(max(repeats.values())):  # interleaved, so drifts in machine load hit every job alike
        for name, command in jobs.items():
            if run >= repeats[name]:
                continue
            wall, peak, growth, private = measure(command)
            walls[name].append(wall)
            peaks[name].append(peak)
            privates[name].append(private)
            growths[name].append(growth)
    trainings = {f"training on {folder} (`--precision {precision}`)": measure(
        [str(BIN / "speakerspot"), "train", "--pos", str(folder / "pos"), "--neg", str(folder / "neg"), "-q",
         "-o", str(CACHE / "bench-training.pt"), "--precision", precision])
        for folder in arguments.training for precision in ("float32", "auto")}

    lines = [f"Machine: {machine()}. Median of {arguments.short_repeats} interleaved runs (min–max; "
             f"{arguments.repeats} for recordings of an hour or more); ratios: the median of each run's scan over "
             "the floor run just before it; training: one run (on the fixture clips before the scans, on other "
             "folders after them). Peak RSS counts "
             "the pages of the libraries a process maps (torch's above all) at the page cache's grain, which "
             "depends on how the files came into it: more just after `make install` wrote them than once they "
             f"were read back from disk; so the scans and floors below ran after the environment's {dropped} "
             "shared libraries were dropped from the page cache and read back (as after a reboot; "
             "`libraries_read_from_disk`). The private peak is the processes' own memory, the same either way.",
             "", "| job | wall s | peak RSS MB | private MB |", "| --- | --- | --- | --- |",
             f"| training on the fixture clips (40 s positive, 96 s negative) | {training_wall:.2f} | "
             f"{training_peak:.0f} | {training_private:.0f} |"]
    lines += [f"| {name} | {wall:.2f} | {peak:.0f} | {private:.0f} |"
              for name, (wall, peak, _, private) in trainings.items()]
    lines += [f"| {name} | {summary(walls[name])} | {max(peaks[name]):.0f} | {max(privates[name]):.0f} |"
              for name in jobs]
    lines.append("")
    for name, (minutes, _) in recordings.items():
        floors = walls[next(n for n in jobs if n.startswith(f"{name}:") and "floor" in n)]
        scans = walls[f"{name}: speakerspot scan"]
        # Each scan over the floor run just before it: the machine's speed drifts less within a pair.
        ratios = [scan / floor for scan, floor in zip(scans, floors, strict=True)]
        length = "" if name.startswith(f"{minutes} min") else f" ({minutes:.0f} min)"
        lines.append(f"- {name}{length}: scan / floor = **{statistics.median(ratios):.2f}** "
                     f"({min(ratios):.2f}–{max(ratios):.2f}, run by run), scan at "
                     f"**{minutes * 60 / statistics.median(scans):.0f}x** real time")
    channels = walls[f"{MULTIPLEX}: speakerspot scan --every-programme"]
    ratios = [scan / floor for scan, floor in zip(channels, walls[f"{MULTIPLEX}: {label}, both tracks"], strict=True)]
    lines.append(f"- {MULTIPLEX}, each scanned (`--every-programme`): scan / floor of both tracks in one pass = "
                 f"**{statistics.median(ratios):.2f}** ({min(ratios):.2f}–{max(ratios):.2f}, run by run)")
    several = statistics.median(walls[f"20 min MP2: speakerspot scan with {SEVERAL_MODELS} models"])
    alone = statistics.median(walls["20 min MP2: speakerspot scan"])
    lines.append(f"- 20 min MP2, {SEVERAL_MODELS} models in one scan: **{several:.2f} s** against {alone:.2f} s for "
                 f"one, **{(several - alone) / (SEVERAL_MODELS - 1):.2f} s** more for each further model (medians)")
    lines.append(f"- {first_scan}, one run before the libraries were dropped from the page cache: peak RSS "
                 f"**{as_cached:.0f} MB** (the table: {max(peaks[first_scan]):.0f} MB at most)")
    if "180 min MP2" in recordings:
        ratio = max(peaks["180 min MP2: speakerspot scan"]) / max(peaks["20 min MP2: speakerspot scan"])
        lines.append(f"- peak RSS, 3-hour scan / 20-minute scan = **{ratio:.2f}**")
        growth = growths["180 min MP2: speakerspot scan"]
        lines.append(f"- 3-hour scan's process tree, the highest RSS of its last third less that of its middle "
                     f"third: **{statistics.median(growth):+.0f} MB** ({min(growth):+.0f} to {max(growth):+.0f}, "
                     "run by run)")
    table = "\n".join(lines)
    print(table)
    benchmarks = ROOT / "BENCHMARKS.md"
    text = benchmarks.read_text() if benchmarks.exists() else f"# Benchmarks\n\n{MARK_BEGIN}\n{MARK_END}\n"
    before, rest = text.split(MARK_BEGIN)
    _, after = rest.split(MARK_END)
    benchmarks.write_text(f"{before}{MARK_BEGIN}\n{table}\n{MARK_END}{after}")


if __name__ == "__main__":
    main()
