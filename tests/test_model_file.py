"""The model file: round trip, and clear errors for damaged, truncated or newer files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import speakerspot
from speakerspot.errors import ModelFileError, OutputError
from speakerspot.model import FORMAT_VERSION
from speakerspot.segments import Decision


def test_round_trip_keeps_weights_bank_decision_and_settings(reference_model, model_file):
    loaded = speakerspot.load_model(model_file)
    assert loaded.front_end == reference_model.front_end
    assert loaded.decision == reference_model.decision
    assert loaded.training_summary == reference_model.training_summary
    torch.testing.assert_close(loaded.memory_bank, reference_model.memory_bank)
    torch.testing.assert_close(loaded.others, reference_model.others)
    windows = torch.randn(4, 128, 44)
    np.testing.assert_allclose(loaded.score(windows), reference_model.score(windows), atol=1e-6)


def test_the_file_holds_only_primitives_and_tensors(model_file):
    checkpoint = torch.load(model_file, weights_only=True)
    assert checkpoint["format_version"] == FORMAT_VERSION
    expected = {"front_end", "encoder_config", "encoder_state", "memory_bank", "decision", "training_summary"}
    assert expected <= set(checkpoint)


def test_a_version_2_file_without_edge_levels_still_loads_and_decides_as_before(model_file, tmp_path):
    checkpoint = torch.load(model_file, weights_only=True)
    checkpoint["format_version"] = 2
    checkpoint["decision"] = {key: value for key, value in checkpoint["decision"].items() if key != "edge_hysteresis"}
    older = tmp_path / "older.pt"
    torch.save(checkpoint, older)
    assert speakerspot.load_model(older).decision.edge_hysteresis is None  # segment ends at the stay level


def test_a_version_5_file_decides_as_it_did_without_growing_segments(model_file, tmp_path):
    checkpoint = torch.load(model_file, weights_only=True)
    del checkpoint["decision"]["growth_margin"]
    for version, growth_margin in ((5, None), (FORMAT_VERSION, Decision().growth_margin)):
        checkpoint["format_version"] = version
        torch.save(checkpoint, tmp_path / "model.pt")
        assert speakerspot.load_model(tmp_path / "model.pt").decision.growth_margin == growth_margin


def test_a_version_7_file_places_the_ends_of_segments_that_grow_on_the_raw_scores_too(model_file, tmp_path):
    checkpoint = torch.load(model_file, weights_only=True)
    del checkpoint["decision"]["raw_edges"]
    checkpoint["format_version"] = 7
    torch.save(checkpoint, tmp_path / "model.pt")
    assert speakerspot.load_model(tmp_path / "model.pt").decision.raw_edges


def test_a_version_1_file_without_others_still_loads_and_scores_by_the_bank_alone(model_file, tmp_path):
    checkpoint = torch.load(model_file, weights_only=True)
    checkpoint["format_version"] = 1
    del checkpoint["others"]
    older = tmp_path / "older.pt"
    torch.save(checkpoint, older)
    loaded = speakerspot.load_model(older)
    assert loaded.others is None
    windows = torch.randn(4, 128, 44)
    embeddings = loaded.embed(windows)
    bank_only = (embeddings @ loaded.memory_bank.T).topk(loaded.top_k, dim=-1).values.mean(dim=-1)
    np.testing.assert_allclose(loaded.score(windows), bank_only.numpy(), atol=1e-6)


@pytest.mark.parametrize("key", ["memory_bank", "others"])
def test_a_bank_that_is_not_a_tensor_is_a_damaged_file(model_file, tmp_path, key):
    checkpoint = torch.load(model_file, weights_only=True)
    checkpoint[key] = "not a tensor"
    damaged = tmp_path / "damaged.pt"
    torch.save(checkpoint, damaged)
    with pytest.raises(ModelFileError, match=r"damaged\.pt: model file is damaged"):
        speakerspot.load_model(damaged)


def test_a_truncated_file_fails_with_a_clear_message(model_file, tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(model_file.read_bytes()[:5000])
    with pytest.raises(ModelFileError, match="damaged"):
        speakerspot.load_model(truncated)


def test_a_file_that_is_not_a_model_fails_with_a_clear_message(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ModelFileError, match="not a speakerspot model"):
        speakerspot.load_model(other)
    noise = tmp_path / "noise.pt"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match=str(noise)):
        speakerspot.load_model(noise)


def test_a_newer_format_version_asks_for_an_upgrade(model_file, tmp_path):
    checkpoint = torch.load(model_file, weights_only=True)
    checkpoint["format_version"] = FORMAT_VERSION + 1
    newer = tmp_path / "newer.pt"
    torch.save(checkpoint, newer)
    with pytest.raises(ModelFileError, match="upgrade"):
        speakerspot.load_model(newer)


def test_saving_into_a_missing_directory_fails_cleanly_and_leaves_nothing(reference_model, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        reference_model.save(tmp_path / "missing" / "model.pt")
    assert list(tmp_path.iterdir()) == []
