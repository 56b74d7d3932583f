"""The pretrained peer on a development set: CAM++ (3D-Speaker) enrolled on the set's training clips.

    python benchmarks/peer_campplus.py --teacher .../campplus_cn_en_common.pt --set ../shared/bench/real-1998

Development only (the teacher of models/make_base.py; see there how to get it). Windows of the
speakerspot front end's size every 0.5 s; a window's score is the mean of its 5 highest cosines to
the enrolled target windows less the same against the negative clips' windows (speakerspot's
score, with CAM++'s embeddings), smoothed over 7 windows; the threshold is the equal-error point of
leave-one-clip-out scores of the training clips. Prints the benchmark scorer's figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))
from make_base import Teacher

from speakerspot.audio import load_audio
from speakerspot.clips import find_clips
from speakerspot.features import FrontEnd
from speakerspot.memory_bank import top_k_mean_scores
from speakerspot.metrics import equal_error_rate
from speakerspot.segments import segments_from_scores, smooth_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--set", type=Path, required=True)
    parser.add_argument("--positives", default="pos", help="the train/ subfolder of the target's clips")
    parser.add_argument("--scorer", type=Path, default=Path("../shared/bench/score.py"))
    arguments = parser.parse_args()
    front_end, teacher = FrontEnd(), Teacher(arguments.teacher)

    def embed(path: Path) -> torch.Tensor:
        samples = load_audio(path, front_end.sample_rate)
        return torch.from_numpy(teacher.embed(samples, front_end)) if len(samples) >= front_end.min_samples else \
            torch.zeros(0, 192)

    positives = [e for e in (embed(p) for p in find_clips(arguments.set / "train" / arguments.positives)) if len(e)]
    negatives = [e for e in (embed(p) for p in find_clips(arguments.set / "train" / "neg")) if len(e)]

    def left_out(clips: list[torch.Tensor], index: int) -> torch.Tensor:
        return torch.cat([clip for j, clip in enumerate(clips) if j != index])

    bank, others = torch.cat(positives), torch.cat(negatives)
    target_scores = [top_k_mean_scores(clip, left_out(positives, i)) - top_k_mean_scores(clip, others)
                     for i, clip in enumerate(positives)]
    other_scores = [top_k_mean_scores(clip, bank) - top_k_mean_scores(clip, left_out(negatives, i))
                    for i, clip in enumerate(negatives)]
    _, threshold = equal_error_rate(torch.cat(target_scores).numpy(), torch.cat(other_scores).numpy())
    recording = load_audio(arguments.set / "test" / "broadcast.ts", front_end.sample_rate)
    embeddings = torch.from_numpy(teacher.embed(recording, front_end))
    scores = (top_k_mean_scores(embeddings, bank) - top_k_mean_scores(embeddings, others)).numpy()
    centres = np.arange(len(scores)) * front_end.step_seconds + front_end.window_seconds / 2
    smoothed = smooth_scores(scores, 7)
    segments = segments_from_scores(centres, smoothed, threshold, front_end.step_seconds)
    detections = {"segments": [{"start": s.start, "end": s.end} for s in segments],
                  "windows": [{"time": float(t), "score": float(x)} for t, x in zip(centres, smoothed, strict=True)]}
    output = Path("benchmarks/cache") / f"campplus-{arguments.set.name}-{arguments.positives}.json"
    output.write_text(json.dumps(detections))
    scored = subprocess.run([sys.executable, str(arguments.scorer),
                             str(arguments.set / "test" / "truth.json"), str(output)],
                            capture_output=True, text=True, check=True)
    print(arguments.set.name, arguments.positives, f"threshold {threshold:.3f}", scored.stdout.strip())


if __name__ == "__main__":
    main()
