"""Detection metrics shared by training (validation) and evaluation."""

from __future__ import annotations

import numpy as np


def equal_error_rate(target_scores: np.ndarray, other_scores: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): the rate where misses of the target equal false alarms, and a threshold there.

    Scores are swept from high to low. The threshold lies halfway between the lowest score accepted
    at the equal-error point and the next score below it, so a score above it is a detection.
    """
    scores = np.concatenate([target_scores, other_scores])
    is_target = np.concatenate([np.ones(len(target_scores), bool), np.zeros(len(other_scores), bool)])
    if not len(target_scores) or not len(other_scores):
        raise ValueError("the EER needs scores of both classes")
    order = np.argsort(-scores, kind="stable")
    scores, is_target = scores[order], is_target[order]
    miss_rate = 1 - np.cumsum(is_target) / len(target_scores)
    false_alarm_rate = np.cumsum(~is_target) / len(other_scores)
    best = int(np.argmin(np.abs(miss_rate - false_alarm_rate)))
    below = scores[best + 1] if best + 1 < len(scores) else scores[best] - 1e-3
    return float((miss_rate[best] + false_alarm_rate[best]) / 2), float((scores[best] + below) / 2)
