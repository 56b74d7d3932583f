"""The recordings `speed.py` times, shaped like DVB captures, built from the fixture clips:

    python benchmarks/dvb_recordings.py CACHE_FOLDER [--long] [--multiplex] [FURTHER_RECORDING ...]

builds (once; kept in CACHE_FOLDER) a 20-minute MPEG-TS with MPEG-2 video and two MP2 tracks (48 kHz
stereo, 192 kbit/s, first PTS at 10 hours), a 20-minute one with an AC3 5.1 track (384 kbit/s) and
video, with `--long` a 3-hour one like the first, with `--multiplex` the first as a capture of a whole
multiplex (its tracks two channels': the video and the first track "Das Erste HD", the second track
"tagesschau24"), and prints {name: [minutes, path]} of those and of the further recordings as JSON.
`speed.py` runs it as a process of its own, so that it maps none of the libraries used here (numpy,
PyAV, libsndfile) when it drops them from the page cache.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import av
import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from media import with_multiplex_tables, write_recording  # noqa: E402

SPEECH = ROOT / "tests" / "fixtures" / "speech"


class LoopedProgramme:
    """All fixture utterances with pauses, repeated to `seconds`: sliceable like an array, never held whole."""

    def __init__(self, seconds: float, rate: int = 16000, seed: int = 0):
        rng = np.random.default_rng(seed)
        pieces = []
        clips = sorted(SPEECH.glob("*/*/*.ogg"))
        for clip in (clips if seed == 0 else [clips[i] for i in rng.permutation(len(clips))]):
            samples, clip_rate = soundfile.read(clip, dtype="float32")
            assert clip_rate == rate
            pieces += [samples, np.zeros(int(rate * rng.uniform(0.3, 2.0)), np.float32)]
        self.base = np.concatenate(pieces)
        self.length = int(seconds * rate)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, span: slice) -> np.ndarray:
        start, stop = span.start, min(span.stop, self.length)
        indices = np.arange(start, stop) % len(self.base)
        return self.base[indices]


SHAPES = {  # codec: (channel layout, bit rate, a second audio track)
    "mp2": ("stereo", 192_000, True),
    "ac3": ("5.1", 384_000, False),
}


def recording(cache: Path, minutes: int, codec: str = "mp2") -> Path:
    layout, bit_rate, second_track = SHAPES[codec]
    path = cache / f"dvb-{minutes}min-{codec}-{layout}{'-2tracks' if second_track else ''}.ts"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"building {path.name} …", file=sys.stderr)
        partial = path.with_suffix(".partial.ts")
        seconds = minutes * 60
        write_recording(partial, LoopedProgramme(seconds), 16000, start_seconds=10 * 3600, video=True,
                        codec=codec, layout=layout, bit_rate=bit_rate,
                        extra_tracks=(LoopedProgramme(seconds, seed=1),) if second_track else ())
        partial.rename(path)
    return path


def multiplex_recording(cache: Path) -> Path:
    """The 20-minute MP2 recording as a capture of a whole multiplex of two channels (see the module's docstring)."""
    path = cache / "dvb-20min-mp2-stereo-2channels.ts"
    if not path.exists():
        single = recording(cache, 20, "mp2")  # PIDs: video 0x100, tracks 0x101 and 0x102
        partial = path.with_suffix(".partial.ts")
        partial.write_bytes(with_multiplex_tables(single.read_bytes(), [(b"Das Erste HD", {0x100: 0x02, 0x101: 0x03}),
                                                                        (b"tagesschau24", {0x102: 0x03})]))
        partial.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cache", type=Path)
    parser.add_argument("--long", action="store_true", help="also the 3-hour recording")
    parser.add_argument("--multiplex", action="store_true", help="also the capture of a multiplex of two channels")
    parser.add_argument("further", nargs="*", type=Path, help="recordings of your own, timed as they are")
    arguments = parser.parse_intermixed_args()
    shapes = [(20, "mp2"), (20, "ac3")] + ([(180, "mp2")] if arguments.long else [])
    recordings = {f"{minutes} min {codec.upper()}": (minutes, str(recording(arguments.cache, minutes, codec)))
                  for minutes, codec in shapes}
    if arguments.multiplex:
        recordings["20 min MP2, 2 channels"] = (20, str(multiplex_recording(arguments.cache)))
    for path in arguments.further:
        with av.open(str(path)) as container:
            recordings[f"{path.parent.parent.name}/{path.name}"] = (container.duration / av.time_base / 60, str(path))
    print(json.dumps(recordings))


if __name__ == "__main__":
    main()
