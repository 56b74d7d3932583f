"""Train the reference model the tests scan with, on the fixture clips, and write it beside them.

Training rounds differently on every CPU, and on 40 s of the target the resulting models differ
more than rounding: across seeds, 3 to 5 of the sample's 5 turns are found (BENCHMARKS.md,
2026-11-30, third session). Tests of scanning therefore use this one committed model everywhere;
tests of training train their own. Re-run after a change to the front end, the encoder or the
model file format (the tests fail on a stale model), then commit the file:

    python tests/make_reference_model.py    # writes tests/fixtures/reference_model.pt

The committed file says how it was made: its training summary holds the whole configuration, the
base it was fine-tuned from (file name and hash) and the figures of its held-back clips. This
script prints its figures on the sample (the committed file, 2026-12-03, third session: 5 of 5
turns, frame F1 1.000, no false alarm): check them before committing a new file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import DEFAULT_TRAINING, FIXTURES, REFERENCE_MODEL, SPEECH, TARGET

import speakerspot
from speakerspot.clips import labeled_folders
from speakerspot.evaluation import evaluate_scan, read_truth


def main() -> None:
    positives, negatives = labeled_folders(SPEECH / "train", TARGET)
    model = speakerspot.train(positives, negatives, config=DEFAULT_TRAINING, name="fixture", progress=True)
    model.save(REFERENCE_MODEL)
    result = speakerspot.scan(model, FIXTURES / "sample.ts")
    truth = read_truth(FIXTURES / "sample_truth.json")
    report = evaluate_scan(result, truth)
    print(f"wrote {REFERENCE_MODEL}; sample.ts: {json.dumps(report.to_dict())}")


if __name__ == "__main__":
    main()
