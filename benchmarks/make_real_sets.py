"""Build more real-voice development sets from LibriSpeech: for each of three test-other readers (never in
the base encoder's corpus, never a target of the shared sets), one like the shared sets and one harder,
the reader heard in two "sessions".

    python benchmarks/make_real_sets.py --speech ../shared/real-speech --bench ../shared/bench \
        [-o benchmarks/cache/sets] [--second-draw -o benchmarks/cache/second-draw] [--draw 2 -o DIR]

`real-NNN/` is made as `../shared/bench/real-1998` is: five of the reader's utterances as recorded
in `train/pos/`, the same negatives, a broadcast of the reader's other utterances among other readers,
each block through a chain drawn alike for the target and the others. `real-NNN-sessions/`, in the
layout of `../shared/bench` too (see `benchmarks/accuracy.py`):

- `train/pos/`: five of the reader's utterances cut as a user cuts clips from a programme: silence
  before and after, pauses of 0.7-2.5 s inside, a noise floor, a music bed under three of them,
  applause-like noise in one pause, and one recording chain for all five (one room, one
  microphone: one session).
- `train/neg/`: 35 train-clean-100 readers, one utterance each (the readers the shared sets use as
  negatives).
- `test/broadcast.ts`: the reader's five other utterances through other chains (another session:
  telephone, another room, another EQ), among the utterances of about 25 readers of the shared
  sets' broadcasts (which the base encoder never heard), music and jingles; MPEG-TS like a DVB
  capture (MP2 48 kHz stereo, a second audio track, MPEG-2 video, first PTS at 10 h).
- `test/truth.json`, `test/events.json` as in the shared sets.

The chains here are written independently of `speakerspot.augment`, so that the model is not
tested on the very corruptions it is trained with. Deterministic (seeded).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from media import write_recording  # noqa: E402

from speakerspot.audio import load_audio  # noqa: E402

RATE = 16000
TARGETS = ("367", "3005", "533")


def spectrum_filter(samples: np.ndarray, gain_of_hz) -> np.ndarray:
    spectrum = np.fft.rfft(samples)
    frequencies = np.fft.rfftfreq(len(samples), 1 / RATE)
    return np.fft.irfft(spectrum * gain_of_hz(frequencies), len(samples)).astype(np.float32)


def level(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) + 1e-9)


def pink(length: int, rng: np.random.Generator) -> np.ndarray:
    noise = spectrum_filter(rng.standard_normal(length).astype(np.float32),
                            lambda f: 1 / np.sqrt(np.maximum(f, 20.0)))
    return noise / level(noise)


def room(samples: np.ndarray, rng: np.random.Generator, rt60: float) -> np.ndarray:
    """A room: early reflections at a few delays, then a diffuse tail."""
    length = int(rt60 * RATE)
    response = np.zeros(length, np.float32)
    response[0] = 1.0
    for delay in rng.integers(int(0.003 * RATE), int(0.03 * RATE), 6):
        response[delay] += rng.uniform(0.2, 0.6) * rng.choice([-1, 1])
    tail = rng.standard_normal(length) * np.exp(-6.9 * np.arange(length) / length) * 0.08
    response += tail.astype(np.float32)
    size = len(samples) + length
    wet = np.fft.irfft(np.fft.rfft(samples, size) * np.fft.rfft(response, size), size)[:len(samples)]
    return (wet * level(samples) / level(wet)).astype(np.float32)


def telephone(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    band = spectrum_filter(samples, lambda f: ((f > 300) & (f < 3400)).astype(float))
    squashed = np.sign(band) * np.log1p(255 * np.abs(band) / (np.abs(band).max() + 1e-9)) / np.log(256)
    return (squashed * level(samples) / level(squashed)).astype(np.float32)


def equaliser(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    low, high = rng.uniform(-9, 9), rng.uniform(-9, 9)
    return spectrum_filter(samples, lambda f: 10 ** ((low * (f < 500) + high * (f > 3000)) / 20))


def music(length: int, rng: np.random.Generator) -> np.ndarray:
    """Chords of sawtooth-like notes with a kick drum: unlike the training's synthetic beds."""
    time = np.arange(length) / RATE
    signal = np.zeros(length)
    beat = rng.uniform(0.4, 0.7)
    for start in np.arange(0, length / RATE, 4 * beat):
        notes = 110 * 2 ** (rng.choice([0, 3, 5, 7, 10, 12], 3) / 12)
        span = (time >= start) & (time < start + 4 * beat)
        for frequency in notes:
            signal[span] += sum(np.sin(2 * np.pi * frequency * k * time[span]) / k for k in range(1, 6))
    kick = np.exp(-np.arange(int(0.15 * RATE)) / (0.03 * RATE)) * np.sin(2 * np.pi * 55 * np.arange(int(0.15 * RATE))
                                                                         / RATE)
    for start in np.arange(0, length / RATE, beat):
        index = int(start * RATE)
        signal[index:index + len(kick)] += 3 * kick[:length - index]
    return (signal / level(signal)).astype(np.float32)


def applause(length: int, rng: np.random.Generator) -> np.ndarray:
    claps = np.zeros(length, np.float32)
    for index in rng.integers(0, max(1, length - 800), int(length / RATE * 40)):
        claps[index:index + 800] += rng.standard_normal(800).astype(np.float32) * np.exp(-np.arange(800) / 120)
    return claps / level(claps)


def cut_as_from_a_programme(utterance: np.ndarray, rng: np.random.Generator, with_music: bool,
                            with_applause: bool) -> np.ndarray:
    """Silence around, pauses inside at the quietest moments, a noise floor, perhaps music and applause."""
    frame = RATE // 20
    energies = np.array([level(utterance[i:i + frame]) for i in range(0, len(utterance) - frame, frame)])
    middle = np.arange(len(energies) // 5, 4 * len(energies) // 5)
    cuts = sorted(middle[np.argsort(energies[middle])[:2]] * frame) if len(middle) > 2 else []
    pieces, position = [np.zeros(int(rng.uniform(0.5, 1.5) * RATE), np.float32)], 0
    for index, cut in enumerate(cuts):
        pieces.append(utterance[position:cut])
        pause = int(rng.uniform(0.7, 2.5) * RATE)
        filler = applause(pause, rng) * level(utterance) * 0.3 if with_applause and index == 0 else np.zeros(pause)
        pieces.append(filler.astype(np.float32))
        position = cut
    pieces += [utterance[position:], np.zeros(int(rng.uniform(0.5, 1.5) * RATE), np.float32)]
    clip = np.concatenate(pieces)
    clip = clip + pink(len(clip), rng) * level(utterance) * 10 ** (-50 / 20)
    if with_music:
        clip = clip + music(len(clip), rng) * level(utterance) * 10 ** (-18 / 20)
    return clip.astype(np.float32)


def write_clip(path: Path, samples: np.ndarray, rng: np.random.Generator) -> None:
    gain = 10 ** (rng.uniform(-10, 0) / 20) * 0.9 / (np.abs(samples).max() + 1e-9)
    soundfile.write(path, samples * gain, RATE)


def build(target: str, speech: Path, bench: Path, output: Path, seed: int, sessions: bool, draw: int = 0) -> None:
    """One set; with a `draw` above 0, the same training clips and another broadcast of the reader, one for each
    draw (the same utterances of the target, among other readers, in another order, through other chains)."""
    rng = np.random.default_rng(seed)
    folder = output / (f"real-{target}-sessions" if sessions else f"real-{target}")
    (folder / "train" / "pos").mkdir(parents=True, exist_ok=True)
    (folder / "train" / "neg").mkdir(parents=True, exist_ok=True)
    (folder / "test").mkdir(parents=True, exist_ok=True)
    utterances = sorted((speech / "test-other" / target).glob("*.flac"))
    order = rng.permutation(len(utterances))
    training, testing = [utterances[i] for i in order[:5]], [utterances[i] for i in order[5:]]
    session_rt60, session_seed = rng.uniform(0.3, 0.6), int(rng.integers(2**31))
    for index, path in enumerate(training):  # one session: the same room and EQ for every clip
        clip = load_audio(path, RATE)
        if sessions:
            clip = cut_as_from_a_programme(clip, rng, with_music=index < 3, with_applause=index == 3)
            clip = equaliser(room(clip, np.random.default_rng(session_seed), session_rt60),
                             np.random.default_rng(session_seed))
        write_clip(folder / "train" / "pos" / f"clip_{index}.wav", clip, rng)
    negatives = sorted((bench / "real-1998" / "train" / "neg").iterdir())
    for path in negatives:
        write_clip(folder / "train" / "neg" / f"{path.stem}.wav", load_audio(path, RATE), rng)
    if draw:
        rng = np.random.default_rng(seed + 1000 * draw)
    heard_in_broadcasts = sorted({event["source"] for events in bench.glob("*/test/events.json")
                                  for event in json.loads(events.read_text()) if "train-clean-100" in event["source"]})
    others = [speech / "train-clean-100" / Path(source).name for source in heard_in_broadcasts]
    others = [others[i] for i in rng.permutation(len(others))[:25]]
    others += [sorted((speech / "test-other" / reader).glob("*.flac"))[0]
               for reader in sorted(p.name for p in (speech / "test-other").iterdir()) if reader != target]
    blocks = [(path, True) for path in testing] + [(path, False) for path in others]
    blocks += [(None, False)] * 6  # music and jingles
    blocks = [blocks[i] for i in rng.permutation(len(blocks))]
    chains = {"clean": lambda s, r: s, "phone": telephone, "reverb": lambda s, r: room(s, r, r.uniform(0.5, 1.0)),
              "eq": equaliser}
    programme, events, position = [np.zeros(RATE, np.float32)], [], 1.0
    for path, is_target in blocks:
        if path is None:
            samples, chain, source = music(int(rng.uniform(4, 12) * RATE), rng) * 0.05, "music", "music"
        else:
            another_session = sessions and is_target and rng.random() < 0.8
            chain = rng.choice(list(chains)[1:]) if another_session else rng.choice(list(chains))
            utterance = load_audio(path, RATE)
            samples = chains[chain](utterance, rng) * 0.1 / level(utterance)
            if rng.random() < 0.25:
                samples = samples + music(len(samples), rng) * 0.1 * 10 ** (-15 / 20)
            source = str(path.relative_to(speech))
        events.append({"start": round(position, 3), "end": round(position + len(samples) / RATE, 3),
                       "source": source, "target": bool(is_target), "chain": str(chain)})
        pause = np.zeros(int(rng.uniform(0.4, 2.0) * RATE), np.float32)
        programme += [samples.astype(np.float32), pause]
        position += (len(samples) + len(pause)) / RATE
    signal = np.concatenate(programme)
    signal = signal + pink(len(signal), rng) * 10 ** (-60 / 20)
    signal = np.clip(signal, -1, 1).astype(np.float32)
    second_track = np.roll(signal, len(signal) // 2) * 0.5
    write_recording(folder / "test" / "broadcast.ts", signal, RATE, start_seconds=36000.0, video=True,
                    extra_tracks=(second_track,), bit_rate=192_000)
    truth = {"target": target, "seed": seed, "duration_s": round(len(signal) / RATE, 3),
             "intervals": [[e["start"], e["end"]] for e in events if e["target"]]}
    (folder / "test" / "truth.json").write_text(json.dumps(truth, indent=1))
    (folder / "test" / "events.json").write_text(json.dumps(events, indent=1))
    print(f"{folder}: {len(events)} blocks, {len(truth['intervals'])} target turns, {truth['duration_s']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", type=Path, default=Path("../shared/real-speech"))
    parser.add_argument("--bench", type=Path, default=Path("../shared/bench"))
    parser.add_argument("-o", "--output", type=Path, default=Path("benchmarks/cache/sets"))
    parser.add_argument("--draw", type=int, default=0,
                        help="above 0: the same training clips, another broadcast of each reader, one per number "
                             "(for benchmarks/threshold_transfer.py); write them to another --output")
    parser.add_argument("--second-draw", action="store_const", const=1, dest="draw", help="--draw 1")
    arguments = parser.parse_args()
    for seed, target in enumerate(TARGETS):
        for sessions, set_seed in ((True, seed), (False, len(TARGETS) + seed)):
            build(target, arguments.speech, arguments.bench, arguments.output, set_seed, sessions, arguments.draw)


if __name__ == "__main__":
    main()
