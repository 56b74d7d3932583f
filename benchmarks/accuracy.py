"""Accuracy on a development benchmark: train on its clips, scan its broadcast, score it.

    python benchmarks/accuracy.py --bench ../shared/bench [--model models/dev.pt] [--retrain] [--seed N]

Prints the figures of `speakerspot eval` and those of the benchmark's own scorer (score.py), when
the benchmark ships one, on the same detections.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import speakerspot
from speakerspot.evaluation import evaluate, read_truth
from speakerspot.training import find_clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, default=Path("../shared/bench"))
    parser.add_argument("--model", type=Path, default=Path("models/dev.pt"))
    parser.add_argument("--retrain", action="store_true", help="train even if the model file exists")
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--seed", type=int, default=0, help="training seed (run several to see the spread)")
    parser.add_argument("--epochs", type=int, default=speakerspot.TrainingConfig.epochs)
    parser.add_argument("--semi-hard-epochs", type=int, default=speakerspot.TrainingConfig.semi_hard_epochs)
    parser.add_argument("--negative-candidates", type=int, default=speakerspot.TrainingConfig.negative_candidates,
                        help="negatives embedded per training step, among which the hardest are mined")
    arguments = parser.parse_args()
    dev = arguments.bench / "dev"
    if arguments.retrain or not arguments.model.exists():
        started = time.monotonic()
        config = speakerspot.TrainingConfig(seed=arguments.seed, epochs=arguments.epochs,
                                            semi_hard_epochs=arguments.semi_hard_epochs,
                                            negative_candidates=arguments.negative_candidates)
        model = speakerspot.train(find_clips(dev / "train" / "pos"), find_clips(dev / "train" / "neg"),
                                  config=config, name=arguments.model.stem, progress=True)
        model.save(arguments.model)
        print(f"trained in {time.monotonic() - started:.1f} s; validation {model.training_summary['validation']}")
    model = speakerspot.load_model(arguments.model)
    started = time.monotonic()
    result = speakerspot.scan(model, dev / "test" / "broadcast.ts", threshold=arguments.threshold, progress=True)
    print(f"scanned {result.duration:.0f} s in {time.monotonic() - started:.1f} s, threshold {result.threshold:.3f}")
    report = evaluate([(s.start, s.end) for s in result.segments], read_truth(dev / "test" / "truth.json"),
                      result.duration, result.window_times, result.smoothed_scores)
    print("speakerspot eval:", json.dumps(report.to_dict()))
    detections = arguments.model.with_suffix(".detections.json")
    detections.write_text(json.dumps(result.to_dict(windows=True)))
    scorer = arguments.bench / "score.py"
    if scorer.exists():
        scored = subprocess.run([sys.executable, str(scorer), str(dev / "test" / "truth.json"), str(detections)],
                                capture_output=True, text=True, check=True)
        print("score.py:", scored.stdout.strip())


if __name__ == "__main__":
    main()
