"""Build the shipped voices of other people (`models/others/`), the negatives `speakerspot train` uses when it is
given none.

    python models/make_others.py --speech ../shared/real-speech --exclude-sets ../shared/bench [--readers 36]

One utterance (of 4 s or more) each of `--readers` LibriSpeech train-clean-100 readers (CC BY 4.0), half
women, half men (as SPEAKERS.TXT says), taken evenly from the readers the base encoder learnt
(`make_base.corpus`: none speaks in a development broadcast, so that the development figures stay figures on
voices never heard), as Opus at 32 kbit/s, 16 kHz mono: some 1.8 MB. Deterministic.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np
import soundfile
from make_base import corpus

from speakerspot.audio import load_audio

RATE = 16000
BIT_RATE = 32000
MIN_SECONDS = 4.0  # two windows at least: a clip shorter than one is left out by training


def readers_by_sex(speech: Path) -> dict[str, str]:
    """Each reader's sex, F or M, from LibriSpeech's SPEAKERS.TXT."""
    sexes = {}
    for line in (speech / "SPEAKERS.TXT").read_text().splitlines():
        fields = [field.strip() for field in line.split("|")]
        if not line.startswith(";") and len(fields) >= 2 and fields[1] in ("F", "M"):
            sexes[fields[0]] = fields[1]
    return sexes


def chosen_utterances(files: list[Path], sexes: dict[str, str], count: int) -> list[Path]:
    """The first utterance of at least MIN_SECONDS of `count` readers, half of each sex, taken evenly from each
    sex's readers in order."""
    first = {}
    for path in sorted(files):
        if soundfile.info(path).duration >= MIN_SECONDS:
            first.setdefault(path.name.split("-")[0], path)
    chosen = []
    for sex, share in (("F", count // 2), ("M", count - count // 2)):
        readers = sorted((reader for reader in first if sexes.get(reader) == sex), key=int)
        chosen += [first[readers[i]] for i in np.linspace(0, len(readers) - 1, share).round().astype(int)]
    return sorted(chosen)


def write_opus(path: Path, samples: np.ndarray) -> None:
    with av.open(str(path), "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=RATE, layout="mono")
        stream.bit_rate = BIT_RATE
        frame = av.AudioFrame.from_ndarray(samples[None, :].astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", type=Path, default=Path("../shared/real-speech"))
    parser.add_argument("--exclude-sets", type=Path, default=Path("../shared/bench"))
    parser.add_argument("--readers", type=int, default=36)
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).parent / "others")
    arguments = parser.parse_args()
    utterances = chosen_utterances(corpus(arguments.speech, arguments.exclude_sets), readers_by_sex(arguments.speech),
                                   arguments.readers)
    arguments.output.mkdir(exist_ok=True)
    for old in arguments.output.glob("*.opus"):
        old.unlink()
    for path in utterances:
        write_opus(arguments.output / f"{path.stem}.opus", load_audio(path, RATE))
    size = sum(path.stat().st_size for path in arguments.output.glob("*.opus"))
    print(f"wrote {len(utterances)} utterances to {arguments.output}: {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
