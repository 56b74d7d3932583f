"""Memory-bank scoring, the triplet loss, negative mining, the EER."""

from __future__ import annotations

import numpy as np
import torch

from speakerspot.calibration import identifying_entries
from speakerspot.encoder import EncoderConfig, SpeakerEncoder
from speakerspot.features import FrontEnd
from speakerspot.memory_bank import enroll, top_k_mean_scores
from speakerspot.metrics import equal_error_rate
from speakerspot.model import SpeakerModel
from speakerspot.training import hardest_negatives, parameter_groups, triplet_loss


def unit(*rows):
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


def test_score_is_the_mean_of_the_top_five_cosines():
    bank = unit(*[[np.cos(a), np.sin(a)] for a in np.linspace(0, np.pi, 10)])
    query = unit([1.0, 0.0])
    cosines = np.cos(np.linspace(0, np.pi, 10))
    expected = np.sort(cosines)[-5:].mean()
    assert abs(float(top_k_mean_scores(query, bank)[0]) - expected) < 1e-6


def test_a_bank_smaller_than_five_uses_all_entries():
    bank = unit([1.0, 0.0], [0.0, 1.0])
    assert abs(float(top_k_mean_scores(unit([1.0, 0.0]), bank)[0]) - 0.5) < 1e-6


def test_with_others_a_window_scores_how_much_nearer_the_target_it_is_than_the_others():
    with torch.random.fork_rng():  # the weights, not whatever the tests before left in torch's generator
        torch.manual_seed(0)
        encoder = SpeakerEncoder(EncoderConfig(n_mels=8, channels=4, blocks=1, embedding_dim=3)).eval()
    windows = torch.randn(5, 8, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        embeddings = encoder(windows)
    bank, others = embeddings[:2], embeddings[2:4]  # fewer than five entries each: all of them count
    model = SpeakerModel(encoder, bank, FrontEnd(n_mels=8), others=others)
    expected = (embeddings @ bank.T).mean(dim=1) - (embeddings @ others.T).mean(dim=1)
    np.testing.assert_allclose(model.score(windows), expected.numpy(), atol=1e-6)
    assert model.score(windows[:1])[0] > 0 > model.score(windows[2:3])[0]  # a bank entry vs one of the others


def test_triplet_loss_is_margin_plus_negative_minus_positive_cosine_clipped_at_zero():
    anchors = unit([1.0, 0.0], [1.0, 0.0])
    positives = unit([1.0, 0.0], [0.0, 1.0])
    negatives = unit([0.0, 1.0], [1.0, 0.0])
    # first: 0.3 + 0 - 1 < 0 → 0; second: 0.3 + 1 - 0 = 1.3
    assert abs(float(triplet_loss(anchors, positives, negatives, 0.3)) - 1.3 / 2) < 1e-6


def test_mining_picks_the_candidate_most_similar_to_each_anchor():
    anchors = unit([1.0, 0.0], [0.0, 1.0])
    candidates = unit([-1.0, 0.0], [0.9, 0.1], [0.1, 0.9], [0.0, -1.0])
    assert hardest_negatives(anchors, candidates).tolist() == [1, 2]


def test_weight_decay_skips_biases_and_norm_parameters():
    encoder = SpeakerEncoder(EncoderConfig(channels=8, embedding_dim=4))
    decayed, plain = parameter_groups(encoder, 0.01)
    assert decayed["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decayed["params"])
    batch_norm = next(m for m in encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert any(p is batch_norm.weight for p in plain["params"])


def test_encoder_outputs_unit_vectors_and_ignores_a_constant_per_band_offset():
    encoder = SpeakerEncoder(EncoderConfig()).eval()
    windows = torch.randn(3, 128, 44)
    embeddings = encoder(windows)
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(3))
    offset = torch.randn(1, 128, 1) * 5  # a fixed EQ in the recording chain
    torch.testing.assert_close(encoder(windows + offset), embeddings, atol=1e-5, rtol=1e-4)


def test_encoder_computes_the_conv1d_network_its_parameters_describe():
    """The channels-last 2-D layout is a speed-up only: a plain conv1d stack gives the same embeddings."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        encoder = SpeakerEncoder(EncoderConfig()).eval()
        for module in encoder.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
        windows = torch.randn(5, 128, 44)
    functional = torch.nn.functional
    hidden = windows - windows.mean(dim=-1, keepdim=True)
    layers = list(encoder.blocks)
    for conv, norm in zip(layers[0::4], layers[1::4], strict=True):
        hidden = functional.conv1d(hidden, conv.weight, conv.bias, padding=conv.padding)
        hidden = functional.batch_norm(hidden, norm.running_mean, norm.running_var, norm.weight, norm.bias)
        hidden = functional.max_pool1d(functional.relu(hidden), 2)
    expected = functional.normalize(encoder.projection(hidden.mean(dim=-1)), dim=-1)
    torch.testing.assert_close(encoder(windows), expected, atol=1e-5, rtol=1e-4)


def test_equal_error_rate_on_hand_computed_cases():
    assert equal_error_rate(np.array([0.9, 0.8]), np.array([0.1, 0.2]))[0] == 0.0
    eer, threshold = equal_error_rate(np.array([0.9, 0.8]), np.array([0.1, 0.2]))
    assert 0.2 < threshold < 0.8
    eer, _ = equal_error_rate(np.array([0.9, 0.3, 0.8, 0.7]), np.array([0.1, 0.2, 0.85, 0.4]))
    assert eer == 0.25


def test_bank_curation_drops_entries_that_sit_nearer_the_negatives_than_the_target():
    target = [[1.0, 0.05 * i, 0.0] for i in range(8)]
    outliers = [[0.0, 0.1, 1.0], [0.05, 0.0, 1.0]]  # near the negatives, and near each other
    candidates = unit(*target, *outliers)
    owners = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 1, 2])
    negatives = unit([0.0, 0.0, 1.0], [0.0, 0.2, 1.0], [0.1, 0.0, 1.0], [0.0, -0.1, 1.0], [0.0, 0.3, 1.0])
    keep = identifying_entries(candidates, owners, negatives, margin=0.3, top_k=5)
    assert keep.tolist() == [True] * 8 + [False] * 2


def test_bank_curation_never_drops_more_than_half():
    candidates = unit(*[[0.0, 0.1 * i, 1.0] for i in range(6)])
    negatives = unit([0.0, 0.0, 1.0])
    keep = identifying_entries(candidates, torch.arange(6), negatives, margin=0.3, top_k=5)
    assert keep.sum() == 3


def test_enrolling_merges_near_duplicates_and_adds_new_conditions():
    bank = unit([1.0, 0.0, 0.0])
    grown = enroll(bank, unit([0.99, 0.05, 0.0], [0.0, 1.0, 0.0], [0.05, 0.99, 0.0]), merge_similarity=0.95)
    assert grown.shape == (2, 3)
    torch.testing.assert_close(grown.norm(dim=-1), torch.ones(2))
    assert float(grown[0] @ unit([1.0, 0.0, 0.0])[0]) > 0.99  # the first slot moved only slightly
    assert float(grown[1] @ unit([0.0, 1.0, 0.0])[0]) > 0.99  # a new condition took a slot of its own
