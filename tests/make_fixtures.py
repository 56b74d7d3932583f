"""Generate the speech fixtures the tests and the demo use.

Run once by a developer (needs `flite` from apt: `apt-get install flite`); the output is committed,
so tests and `make demo` need neither apt nor this script.

flite's voices (slt, rms, awb: CMU ARCTIC; kal16: CMU diphone) are recorded from real speakers and
ship under a free licence that allows redistribution. Each voice reads its own share of the
sentences below; the first TRAIN_PER_VOICE utterances of each voice are for training, the rest are
kept apart to build test recordings the model never trained on.

    python tests/make_fixtures.py          # writes tests/fixtures/speech/ and tests/fixtures/sample.*
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).parent))
from media import SAMPLE_RATE_48K, write_recording

FIXTURES = Path(__file__).parent / "fixtures"
VOICES = ("rms", "slt", "awb", "kal16")
TARGET_VOICE = "rms"
TRAIN_PER_VOICE = 10
TEST_PER_VOICE = 5

SENTENCES = [
    "The morning train left the station a little after seven o'clock.",
    "Our reporter spoke to farmers about the long dry summer.",
    "The council will vote on the new budget next Tuesday evening.",
    "Heavy rain is expected along the coast during the weekend.",
    "Tickets for the concert sold out within a single hour.",
    "The museum reopens its doors after two years of repairs.",
    "Scientists found a new species of beetle in the forest.",
    "Traffic on the northern bridge is moving slowly this afternoon.",
    "The team captain thanked the fans for their loyal support.",
    "Prices for fresh vegetables rose sharply in the last month.",
    "A small boat was rescued near the harbour late last night.",
    "The library is collecting old photographs of the town square.",
    "Engineers are testing a quieter engine for city buses.",
    "The festival brings together musicians from twelve countries.",
    "Schools will close early on Friday because of the storm.",
    "The minister answered questions from the press this morning.",
    "A new bicycle lane opens along the river next spring.",
    "Local bakers say the price of flour has doubled.",
    "The election results will be announced shortly after midnight.",
    "Volunteers planted three hundred trees in the city park.",
    "The airport expects record numbers of travellers this holiday.",
    "Doctors recommend a short walk after every meal.",
    "The old lighthouse has been turned into a small hotel.",
    "Fishermen report good catches in the northern waters.",
    "The orchestra played the symphony without a single pause.",
    "A power cut left thousands of homes without heating.",
    "The children painted a mural on the wall of the school.",
    "Researchers measured the temperature of the deep ocean.",
    "The mayor promised more buses for the eastern districts.",
    "Snow fell overnight in the mountains for the first time.",
    "The company plans to hire two hundred new workers.",
    "A rare painting was sold at auction for a record price.",
    "The bridge will be closed for repairs until the end of May.",
    "Farmers hope for rain before the harvest begins.",
    "The film festival opens tonight with a comedy from Spain.",
    "Thousands gathered in the square to watch the fireworks.",
    "The hospital opened a new ward for young patients.",
    "Police are asking drivers to avoid the city centre.",
    "The garden show attracted visitors from across the region.",
    "Astronomers observed a bright comet low in the western sky.",
    "The river rose by almost a metre after the heavy storms.",
    "The new stadium will hold forty thousand spectators.",
    "Students protested against the rise in tuition fees.",
    "The ferry service resumes after the winter break.",
    "A famous chef opened a restaurant in the old market hall.",
    "The government announced new rules for online shopping.",
    "Wind turbines now supply a third of the region's power.",
    "The marathon runners passed the town hall at noon.",
    "An old shipwreck was discovered by divers near the island.",
    "The weather will stay mild and dry for the rest of the week.",
    "The zoo welcomed two young elephants from abroad.",
    "Experts warn that the lake is losing water every year.",
    "The band announced a tour of thirty cities next year.",
    "A new law protects workers who report wrongdoing.",
    "The farmers' market moves indoors for the cold season.",
    "Fire crews worked through the night to save the forest.",
    "The railway company apologised for the recent delays.",
    "The town celebrates its eight hundredth birthday this summer.",
    "Astronauts returned safely after six months in orbit.",
    "The bakery on the corner has closed after fifty years.",
]


def synthesise(voice: str, text: str, wav_path: Path) -> np.ndarray:
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(wav_path)], check=True)
    samples, rate = soundfile.read(wav_path, dtype="float32")
    assert rate == 16000, rate
    return samples


def main() -> None:
    speech = FIXTURES / "speech"
    per_voice = TRAIN_PER_VOICE + TEST_PER_VOICE
    test_utterances: dict[str, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for voice_index, voice in enumerate(VOICES):
            test_utterances[voice] = []
            for n in range(per_voice):
                text = SENTENCES[(voice_index * per_voice + n) % len(SENTENCES)]
                samples = synthesise(voice, text, Path(tmp) / "u.wav")
                split = "train" if n < TRAIN_PER_VOICE else "test"
                folder = speech / split / voice
                folder.mkdir(parents=True, exist_ok=True)
                soundfile.write(folder / f"{n:02d}.ogg", samples, 16000, format="OGG", subtype="VORBIS")
                if split == "test":
                    test_utterances[voice].append(samples)
    write_sample_recording(test_utterances)


def write_sample_recording(test_utterances: dict[str, list[np.ndarray]]) -> None:
    """A short MPEG-TS like a DVB capture, from held-out utterances, with its truth."""
    rng = np.random.default_rng(7)
    order = [(voice, i) for voice in VOICES for i in range(len(test_utterances[voice]))]
    rng.shuffle(order)
    pieces, intervals, position = [], [], 1.0
    pieces.append(np.zeros(16000, np.float32))
    for voice, i in order:
        utterance = test_utterances[voice][i]
        if voice == TARGET_VOICE:
            intervals.append([round(position, 3), round(position + len(utterance) / 16000, 3)])
        pause = np.zeros(int(16000 * rng.uniform(0.6, 1.5)), np.float32)
        pieces += [utterance, pause]
        position += (len(utterance) + len(pause)) / 16000
    programme = np.concatenate(pieces)
    write_recording(FIXTURES / "sample.ts", programme, 16000, start_seconds=36000.0, layout="mono",
                    bit_rate=64000)
    truth = {"target": TARGET_VOICE, "duration_s": round(len(programme) / 16000, 3), "intervals": intervals,
             "note": f"programme at {SAMPLE_RATE_48K} Hz MP2 mono in MPEG-TS, first PTS at 10 hours"}
    (FIXTURES / "sample_truth.json").write_text(json.dumps(truth, indent=1) + "\n")


if __name__ == "__main__":
    main()
