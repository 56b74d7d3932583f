"""Training: data checks, determinism, validation summary."""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import replace

import numpy as np
import pytest
import soundfile
import torch
from conftest import SPEECH, programme_clip, read_clip

import speakerspot
from speakerspot.augment import mask_spectra
from speakerspot.calibration import collapsed, covering_piece, decision_levels, separated, span_overlaps
from speakerspot.clips import Clip, clips_in, find_clips, labeled_folders, load_clips
from speakerspot.config import TrainingConfig
from speakerspot.encoder import EncoderConfig, SpeakerEncoder
from speakerspot.errors import TrainingDataError
from speakerspot.features import FrontEnd, clip_windows
from speakerspot.model import embed_windows
from speakerspot.sampling import WindowSampler, draw_for_epoch
from speakerspot.speech_activity import VAD_SAMPLE_RATE, speech_frames, speech_share
from speakerspot.training import base_path, training_precision, training_report

# A few steps: too few to make a model worth keeping, so the checks of one are off (see `health`).
TINY = TrainingConfig(epochs=1, steps_per_epoch=3, batch_size=8, negative_candidates=32, collapsed_spread=0.0,
                      collapsed_score_range=0.0, collapsed_loss_share=1.0, max_validation_eer=1.0)


def small_set():
    return find_clips(SPEECH / "train" / "rms")[:3], find_clips(SPEECH / "train" / "slt")[:3]


def test_the_same_seed_gives_the_same_model_and_another_seed_another():
    positives, negatives = small_set()
    first = speakerspot.train(positives, negatives, config=TINY)
    second = speakerspot.train(positives, negatives, config=TINY)
    assert first.encoder.state_dict().keys() == second.encoder.state_dict().keys()
    for (name, a), (_, b) in zip(first.encoder.state_dict().items(), second.encoder.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    torch.testing.assert_close(first.memory_bank, second.memory_bank)
    torch.testing.assert_close(first.others, second.others)
    other = speakerspot.train(positives, negatives, config=replace(TINY, seed=1))
    assert not torch.equal(other.encoder.projection.weight, first.encoder.projection.weight)


def test_summary_reports_clips_validation_and_bank(freshly_trained_model):
    summary = freshly_trained_model.training_summary
    assert summary["positive_clips"] == 10 and summary["negative_clips"] == 30
    assert summary["validation"]["eer"] < 0.2
    assert summary["memory_bank_size"] == freshly_trained_model.memory_bank.shape[0] > 30
    assert freshly_trained_model.decision.threshold == summary["validation"]["threshold"]


def test_with_too_few_clips_to_hold_back_a_window_counts_when_nearer_the_target_than_the_others(caplog):
    positives, negatives = small_set()
    model = speakerspot.train(positives[:2], negatives[:2], config=TINY)
    assert model.training_summary["validation"] is None
    assert "too few clips to hold some back: the threshold stays at 0.00" in caplog.text
    assert (model.decision.threshold, model.decision.hysteresis) == (0.0, TINY.margin)
    report = training_report(model.training_summary)
    assert "held-back clips:" not in report and "no held-back windows of the target to judge by" in report


def test_held_back_target_clips_without_a_window_inside_them_set_no_levels_and_say_so(caplog):
    positives, negatives = small_set()
    # No window can lie more than wholly inside a clip: as with a held-back clip little longer than a window.
    model = speakerspot.train(positives, negatives, config=replace(TINY, inside_turn=1.01))
    assert model.training_summary["validation"] is None
    assert "no window of the held-back target clips (" in caplog.text and "threshold stays at 0.00" in caplog.text
    assert (model.decision.threshold, model.decision.hysteresis) == (0.0, TINY.margin)


def test_levels_resting_on_few_held_back_windows_come_with_a_warning(caplog):
    positives, negatives = small_set()  # one clip of each held back: a few windows of the target
    model = speakerspot.train(positives, negatives, config=TINY)
    assert model.training_summary["validation"]["positive_windows"] < 60
    assert "the levels rest on" in caplog.text and "speakerspot eval" in caplog.text


def test_held_back_windows_too_few_to_judge_separation_neither_refuse_the_model_nor_pass_it(caplog):
    positives, negatives = small_set()
    # A limit so strict that the held-back clip's windows cannot show it is met or missed: so too a
    # 2 s held-back clip's 2-3 windows against the recipe's 25%.
    model = speakerspot.train(positives, negatives, config=replace(TINY, max_validation_eer=0.001))
    windows = model.training_summary["validation"]["eer_target_windows"]
    assert 0 < windows < 1000 and model.training_summary["health"]["separated"] is None
    assert "whether the model separates the target from the others hangs on one window" in caplog.text
    assert f"counts {windows} windows of the target; the model is written" in caplog.text
    assert f"hangs on one of the {windows} windows of the target" in training_report(model.training_summary)


def test_decision_levels_leave_out_the_one_held_back_piece_most_like_the_target():
    positives = np.linspace(0.2, 1.0, 101)  # median 0.6
    negatives = np.concatenate([np.linspace(-1.0, -0.5, 99), [-0.4, 0.3, 0.35]])
    pieces = np.array([0] * 50 + [1] * 49 + [2, 3, 3])  # piece 3 scores like the target
    threshold, hysteresis, edge_hysteresis = decision_levels(positives, negatives, pieces, eer_threshold=-0.6)
    rest = negatives[:100]
    share = TrainingConfig().entry_share
    assert threshold == pytest.approx(-0.4 + share)  # a share of the way from the top of the rest to the median
    assert threshold - hysteresis == pytest.approx(np.percentile(rest, 99))  # stay above all but 1% of the rest
    assert threshold - edge_hysteresis == pytest.approx(-0.4)  # and end above all of it
    # Where the EER point is above the rest, the gap starts there.
    assert decision_levels(positives, negatives, pieces, eer_threshold=0.1)[0] == pytest.approx(0.1 + share * 0.5)
    # Windows on pauses (-1) are never left out.
    assert decision_levels(positives, negatives, np.where(pieces == 3, -1, pieces), eer_threshold=-0.6)[0] == \
        pytest.approx(0.35 + share * 0.25)
    # Only one piece is left out: the next one counts, but lifts the entry no higher than the target's median.
    assert decision_levels(positives, np.append(negatives, 0.95), np.append(pieces, 4), eer_threshold=-0.6)[0] == \
        pytest.approx(0.35 + share * 0.25)
    assert decision_levels(positives, np.append(negatives, [0.95, 0.9]), np.append(pieces, [4, 5]),
                           eer_threshold=-0.6)[0] == pytest.approx(0.6)


def test_decision_levels_keep_a_margin_above_the_others_when_few_target_windows_were_held_back():
    positives = np.linspace(0.2, 1.0, 21)  # 21 windows, median 0.6: fewer than FEW_CALIBRATION_WINDOWS
    negatives = np.linspace(-1.0, -0.4, 100)
    pieces = np.repeat(np.arange(10), 10)
    threshold, hysteresis, edge_hysteresis = decision_levels(positives, negatives, pieces, eer_threshold=-0.6)
    top_of_rest = negatives[pieces != 9].max()  # the piece with the highest window is left out
    assert threshold == pytest.approx(top_of_rest + TrainingConfig().entry_share * (0.6 - top_of_rest))
    # Stay and end halfway between the others' top and the entry, not at the others' top or below it.
    assert threshold - hysteresis == pytest.approx((top_of_rest + threshold) / 2)
    assert edge_hysteresis == pytest.approx(hysteresis)
    # With as many held-back windows as on the dev set, the same scores give the levels of the test above.
    many = np.linspace(0.2, 1.0, 101)
    threshold, hysteresis, edge_hysteresis = decision_levels(many, negatives, pieces, eer_threshold=-0.6)
    assert threshold - edge_hysteresis == pytest.approx(top_of_rest)
    assert threshold - hysteresis == pytest.approx(np.percentile(negatives[pieces != 9], 99))


def test_covering_piece_names_the_span_under_most_of_each_window():
    spans = [(0.0, 3.0), (3.5, 6.0)]
    centres = np.array([1.0, 3.2, 4.5, 7.5])  # 2 s windows: inside the first, mostly on it, on the second, on none
    overlaps = span_overlaps(centres, 2.0, spans)
    np.testing.assert_allclose(overlaps, [[2.0, 0.8, 0.0, 0.0], [0.0, 0.7, 2.0, 0.0]])  # seconds inside each span
    assert covering_piece(overlaps, np.array([10, 11])).tolist() == [10, 10, 11, -1]


def test_a_target_clips_sound_away_from_its_speech_trains_as_another_sound():
    samples, _ = programme_clip()  # silence, words, a music bed alone, words, silence
    front_end = FrontEnd(sample_rate=VAD_SAMPLE_RATE)
    target = Clip(path=None, samples=samples, speech=speech_frames([samples])[0])
    other = Clip(path=None, samples=read_clip(SPEECH / "train" / "slt" / "00.ogg")[0])
    config = TrainingConfig(non_speech_ratio=0.0, speed_shifted_negatives=False)  # negatives: the clips alone
    sampler = WindowSampler([target], [other], front_end, config, "cpu", np.random.default_rng(0))
    background = target.background(front_end.sample_rate, config.background_margin)
    assert len(sampler.backgrounds) == 1 and np.array_equal(sampler.backgrounds[0], background)
    positives, negatives = sampler.epoch(np.random.default_rng(1))
    step = config.train_step_frames
    assert len(positives) == int(target.speech_windows(front_end, step, config.min_speech_share).sum())
    assert len(negatives) == sum(len(clip_windows(s, front_end, step)) for s in (other.samples, background))


def test_an_epoch_renders_at_most_its_budget_of_clips_drawn_afresh_and_all_of_them_under_it():
    rate = 16000
    clips = [Clip(path=None, samples=read_clip(path)[0]) for path in find_clips(SPEECH / "train" / "slt")]
    total = sum(len(clip.samples) for clip in clips) / rate
    rng = np.random.default_rng(1)
    draws = [draw_for_epoch(clips, total / 3, rate, rng) for _ in range(4)]
    for drawn in draws:
        assert 0 < sum(len(clips[i].samples) for i in drawn) / rate <= total / 3 and drawn == sorted(set(drawn))
    assert len({tuple(drawn) for drawn in draws}) > 1  # another draw each epoch
    untouched = np.random.default_rng(1)
    assert draw_for_epoch(clips, total + 1, rate, untouched) == list(range(len(clips)))
    assert untouched.random() == np.random.default_rng(1).random()  # under the budget, nothing is drawn
    # The sampler's positives and their sped-up copies among the negatives come from the same draw.
    front_end = FrontEnd(sample_rate=rate)
    config = TrainingConfig(positive_seconds_per_epoch=total / 3, non_speech_ratio=0.0)
    sampler = WindowSampler(clips, clips[:1], front_end, config, "cpu", np.random.default_rng(0))
    positives, _ = sampler.epoch(np.random.default_rng(2))
    chosen = draw_for_epoch(clips, total / 3, rate, np.random.default_rng(2))
    step = config.train_step_frames
    assert len(positives) == sum(len(clip_windows(clips[i].samples, front_end, step)) for i in chosen)
    makers = sampler.negative_makers(chosen, np.random.default_rng(3))
    assert len(makers) == 1 + len(chosen)  # the one negative clip, and the epoch's positives sped up or slowed down


def test_one_long_recording_of_the_target_comes_in_pieces_and_one_is_held_back(tmp_path):
    clips = [read_clip(path) for path in find_clips(SPEECH / "train" / "rms")]
    rate = clips[0][1]
    long = tmp_path / "speech.wav"  # the target's clips one after the other, a second apart: 52 s
    soundfile.write(long, np.concatenate([np.concatenate([s, np.zeros(rate, np.float32)]) for s, _ in clips]), rate)
    front_end = FrontEnd(sample_rate=rate)
    whole = load_clips([long], front_end, "positive", find_speech=True, max_seconds=3600)[0]
    pieces = load_clips([long], front_end, "positive", find_speech=True, max_seconds=20)
    assert len(pieces) == 3 and all(len(p.samples) <= 20 * rate for p in pieces)
    assert np.array_equal(np.concatenate([p.samples for p in pieces]), whole.samples)
    assert np.array_equal(np.concatenate([p.speech for p in pieces]), whole.speech)
    offset = 0.0
    for piece in pieces:  # each piece's speech marks lie where the whole recording's do, within a frame
        starts = np.arange(0, len(piece.samples) / rate - 1, 0.25)
        difference = speech_share(piece.speech, starts, 1.0) - speech_share(whole.speech, offset + starts, 1.0)
        assert np.abs(difference).max() <= 0.07 and 0.2 < speech_share(piece.speech, starts, 1.0).mean() < 0.95
        offset += len(piece.samples) / rate
    model = speakerspot.train([long], [SPEECH / "train" / "slt"], config=replace(TINY, max_clip_seconds=20))  # a folder
    assert model.training_summary["positive_clips"] == 1 and model.training_summary["validation"] is not None
    assert model.training_summary["negative_clips"] == len(find_clips(SPEECH / "train" / "slt"))


def test_labeled_folder_splits_target_from_the_rest(tmp_path):
    positives, negatives = labeled_folders(SPEECH / "train", "rms")
    assert len(positives) == 10 and all(p.parent.name == "rms" for p in positives)
    assert len(negatives) == 30 and all(p.parent.name != "rms" for p in negatives)
    with pytest.raises(TrainingDataError, match="no subfolder 'nobody'"):
        labeled_folders(SPEECH / "train", "nobody")
    (tmp_path / "rms").symlink_to(SPEECH / "train" / "rms")
    (tmp_path / "slt").mkdir()
    with pytest.raises(TrainingDataError, match=f"{tmp_path}: no negative clips found: .* outside 'rms'"):
        labeled_folders(tmp_path, "rms")
    with pytest.raises(TrainingDataError, match=f"{tmp_path / 'slt'}: no positive clips found"):
        labeled_folders(tmp_path, "slt")


def write_noise(path, seconds: float, level: float = 0.1):
    soundfile.write(path, np.random.default_rng(0).normal(0, level, int(16000 * seconds)).astype(np.float32), 16000)
    return path


def test_clips_too_short_or_silent_are_left_out_with_one_warning_naming_them(tmp_path, caplog):
    positives, negatives = small_set()
    short = write_noise(tmp_path / "short.wav", 1.0)
    silent = write_noise(tmp_path / "silent.wav", 3.0, level=0.0)
    model = speakerspot.train([*positives, short], [*negatives, silent], config=TINY)
    assert "left out 1 of 4 positive clips" in caplog.text and "short.wav (1.00 s)" in caplog.text
    assert "left out 1 of 4 negative clips" in caplog.text and "silent.wav (silent)" in caplog.text
    assert model.training_summary["positive_clips"] == 3 and model.training_summary["negative_clips"] == 3



def test_clips_that_cannot_be_decoded_are_left_out_with_one_warning_naming_them(tmp_path, caplog):
    # A folder copied badly: a clip cut short in its headers, a text file with a media extension. Each is
    # named, with its problem, and training goes on without them; until 2026-12-07 the first stopped it,
    # and the second was found only by the next run.
    positives, negatives = small_set()
    cut = tmp_path / "cut.ogg"
    cut.write_bytes(positives[0].read_bytes()[:3000])
    notes = tmp_path / "notes.ogg"
    notes.write_text("not audio")
    model = speakerspot.train([*positives, cut], [*negatives, notes], config=TINY)
    # named by their paths: a clip folder may hold clips of one name in several subfolders
    assert f"left out 1 of 4 positive clips, that cannot be decoded: {cut} (ends before" in caplog.text
    assert re.search(f"left out 1 of 4 negative clips, that cannot be decoded: {re.escape(str(notes))} "
                     r"\(.*not a media file", caplog.text)
    assert model.training_summary["positive_clips"] == 3 and model.training_summary["negative_clips"] == 3
    # With none left, training stops, naming each and why.
    with pytest.raises(TrainingDataError, match=r"cut\.ogg: not a usable positive clip, that cannot be decoded: "
                                                r"cut\.ogg \(ends before"):
        speakerspot.train([cut], negatives, config=TINY)
    short = write_noise(tmp_path / "short.wav", 1.0)
    with pytest.raises(TrainingDataError, match=r"no usable negative clips among 2: 1 that cannot be decoded: "
                                                r".*notes\.ogg \(.*\); 1 shorter than one window .*: .*short\.wav"):
        speakerspot.train(positives, [notes, short], config=TINY)

def test_a_target_clip_the_speech_detector_hardly_hears_is_used_whole_with_a_warning(tmp_path, caplog):
    positives, negatives = small_set()
    noise = write_noise(tmp_path / "noise.wav", 3.0)
    speakerspot.train([*positives, noise], negatives, config=TINY)
    assert "so they are used whole" in caplog.text and "noise.wav (0%)" in caplog.text


def test_bad_training_data_is_named(tmp_path):
    positives, negatives = small_set()
    short = write_noise(tmp_path / "short.wav", 1.0)
    with pytest.raises(TrainingDataError, match=r"short\.wav: not a usable positive clip, .* short\.wav \(1\.00 s\)"):
        speakerspot.train([short], negatives, config=TINY)
    silent = write_noise(tmp_path / "silent.wav", 3.0, level=0.0)
    with pytest.raises(TrainingDataError, match=r"silent\.wav: not a usable negative clip, .* silent\.wav \(silent\)"):
        speakerspot.train(positives, [silent], config=TINY)
    with pytest.raises(TrainingDataError, match="both as a positive and as a negative"):
        speakerspot.train(positives, [positives[0]], config=TINY)
    with pytest.raises(TrainingDataError, match="no positive clips"):
        speakerspot.train([], negatives, config=TINY)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrainingDataError, match="empty: no positive clips found"):
        speakerspot.train([empty], negatives, config=TINY)
    assert find_clips(empty) == []


def test_clips_of_several_folders_come_once_each_and_an_empty_folder_is_named(tmp_path, caplog):
    rms = SPEECH / "train" / "rms"
    clips = clips_in([rms, rms / "00.ogg", SPEECH / "test" / "rms"], "positive")
    assert clips == find_clips(rms) + find_clips(SPEECH / "test" / "rms")  # 00.ogg once, in its folder's place
    # After a labeled folder's clips (`train LABELED --target … --pos …`): those first, a clip among them not again.
    first = find_clips(SPEECH / "test" / "rms")
    assert clips_in([*first, rms, first[0]], "positive") == first + find_clips(rms)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingDataError, match=f"{tmp_path / 'empty'}: no negative clips found"):
        clips_in([rms, tmp_path / "empty"], "negative")
    # A clip linked into another folder of clips, and another copied there: once each (before: trained
    # twice, and one copy could be held back while the other trained).
    (tmp_path / "by-date").mkdir()
    (tmp_path / "by-date" / "monday.ogg").symlink_to(rms / "00.ogg")
    shutil.copy(rms / "01.ogg", tmp_path / "by-date" / "01 (1).ogg")
    with caplog.at_level(logging.WARNING):
        assert clips_in([rms, tmp_path / "by-date"], "positive") == find_clips(rms)
    assert f"{tmp_path / 'by-date' / 'monday.ogg'}: the same file as {rms / '00.ogg'} (a copy or a link): used " \
        "once" in caplog.text
    assert f"{tmp_path / 'by-date' / '01 (1).ogg'}: the same file as {rms / '01.ogg'}" in caplog.text


def test_hidden_files_in_a_clip_folder_are_passed_over(tmp_path):
    # A folder copied from a Mac: beside each clip a "._" file of its metadata, with the same extension.
    clip = SPEECH / "train" / "rms" / sorted(p.name for p in (SPEECH / "train" / "rms").iterdir())[0]
    (tmp_path / "2026").mkdir()
    (tmp_path / "2026" / clip.name).write_bytes(clip.read_bytes())
    (tmp_path / "2026" / f"._{clip.name}").write_bytes(b"\x00\x05\x16\x07Mac OS X        " + bytes(4000))
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / clip.name).write_bytes(clip.read_bytes())
    assert find_clips(tmp_path) == [tmp_path / "2026" / clip.name]
    assert find_clips(tmp_path / "2026" / f"._{clip.name}") == [tmp_path / "2026" / f"._{clip.name}"]  # named: taken


def test_an_encoder_that_collapses_twice_is_not_returned_and_says_so(caplog):
    # A learning rate a hundred times the recipe's, the hardest negatives from the first step: every
    # window ends up embedded alike (seen: spread 0.000, held-back scores all near 0).
    positives, negatives = small_set()
    collapse_prone = TrainingConfig(epochs=2, steps_per_epoch=4, batch_size=16, negative_candidates=64,
                                    learning_rate=0.3, semi_hard_epochs=0)
    with pytest.raises(TrainingDataError, match=r"the embedding collapsed twice.*no model written"):
        speakerspot.train(positives, negatives, config=collapse_prone)
    assert "training again with a gentler schedule" in caplog.text


def test_training_precision_auto_is_bfloat16_only_on_a_cpu_with_amx(monkeypatch):
    for has_amx, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda has_amx=has_amx: has_amx, raising=False)
        assert training_precision("auto", "cpu") == expected
        assert training_precision("auto", "cuda") == "float32"
        assert training_precision("float32", "cpu") == "float32"
        assert training_precision("bfloat16", "cpu") == "bfloat16"
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        training_precision("half", "cpu")


def test_a_model_trained_in_bfloat16_is_stored_and_scans_in_float32_near_its_float32_twin():
    positives, negatives = small_set()
    models = {precision: speakerspot.train(positives, negatives, config=replace(TINY, precision=precision))
              for precision in ("float32", "bfloat16")}
    assert {p: m.training_summary["config"]["precision"] for p, m in models.items()} == {
        "float32": "float32", "bfloat16": "bfloat16"}
    assert all(t.dtype == torch.float32 for m in models.values() for t in m.encoder.state_dict().values()
               if t.is_floating_point())
    # the same seed and steps: bfloat16 forward passes move the weights a little otherwise, not far
    weights = [m.encoder.projection.weight for m in models.values()]
    assert not torch.equal(*weights)
    front_end = models["float32"].front_end
    windows = clip_windows(load_clips(positives[:1], front_end, "positive")[0].samples, front_end)
    embedded = [m.embed(windows) for m in models.values()]
    assert embedded[1].dtype == torch.float32
    assert (embedded[0] * embedded[1]).sum(-1).min() > 0.99


def test_health_flags_a_collapsed_encoder_and_clips_that_do_not_separate():
    config = TrainingConfig()
    healthy = dict(spread=0.2, loss_at_margin=0.0, score_range=[-1.2, 0.3], eer=0.02, eer_target_windows=40)
    assert not collapsed(healthy, config) and separated(healthy, config)
    assert collapsed({**healthy, "spread": 0.001}, config)  # every window embedded alike
    assert collapsed({**healthy, "loss_at_margin": 0.9}, config)  # every negative as near as every positive
    assert collapsed({**healthy, "score_range": [-0.04, 0.01]}, config)  # every window scored alike
    assert separated({**healthy, "eer": 0.4}, config) is False
    # one of 3 held-back windows of the target moves the EER by a third: too few to tell, either way
    assert separated({**healthy, "eer": 0.4, "eer_target_windows": 3}, config) is None
    assert separated({**healthy, "eer_target_windows": 3}, config) is None
    # with more, an EER above the limit by no more than one window's 1/n is that window's doing too
    assert separated({**healthy, "eer": 0.4, "eer_target_windows": 4}, config) is None
    assert separated({**healthy, "eer": 0.3, "eer_target_windows": 6}, config) is None
    assert separated({**healthy, "eer": 0.45, "eer_target_windows": 6}, config) is False
    assert separated({**healthy, "eer": 0.3, "eer_target_windows": 40}, config) is False
    assert separated({**healthy, "eer": None, "eer_target_windows": None}, config)  # none held back


def test_spectrum_masks_blank_at_most_the_given_runs_of_bands_and_frames_with_band_means():
    windows = torch.randn(200, 128, 44)
    masked = mask_spectra(windows, np.random.default_rng(0), max_bands=16, max_frames=6)
    means = windows.mean(dim=-1, keepdim=True).expand_as(windows)
    changed = masked != windows
    torch.testing.assert_close(masked[changed], means[changed])
    whole_frames = changed.all(dim=1).sum(dim=-1)  # frames blanked in every band
    whole_bands = changed.all(dim=2).sum(dim=-1)  # bands blanked in every frame
    assert whole_frames.max() <= 6 and whole_bands.max() <= 16
    assert (whole_frames > 0).float().mean() > 0.5 and (whole_bands > 0).float().mean() > 0.5
    assert not changed.all(dim=(1, 2)).any()


def test_the_encoders_standard_deviation_is_torchs_in_value_and_gradient_silent_channels_included():
    from speakerspot.encoder import standard_deviation

    features = torch.randn(8, 16, 5, generator=torch.Generator().manual_seed(0)) * 3 + 1
    features[0, :4] = 0.0  # channels a ReLU silenced over the whole window
    ours, theirs = features.clone().requires_grad_(), features.clone().requires_grad_()
    value = standard_deviation(ours, ours.mean(dim=-1))
    torch.testing.assert_close(value, theirs.std(dim=-1), rtol=1e-5, atol=1e-6)
    (value * torch.arange(16.0)).sum().backward()
    (theirs.std(dim=-1) * torch.arange(16.0)).sum().backward()
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-4, atol=1e-6)
    assert torch.isfinite(ours.grad).all() and (ours.grad[0, :4] == 0).all()


def test_a_fine_tuned_encoder_scores_beside_its_frozen_base(tmp_path):
    base_model = speakerspot.load_model(base_path("default"))
    base = base_model.encoder
    positives, negatives = small_set()
    fine_tuned = speakerspot.train(positives, negatives, config=TINY).encoder
    paired = SpeakerEncoder.beside(fine_tuned, base)
    windows = torch.cat([clip_windows(soundfile.read(path, dtype="float32")[0], FrontEnd()) for path in positives])

    def cosines(encoder: SpeakerEncoder) -> torch.Tensor:
        embeddings = embed_windows(encoder, windows)
        return embeddings @ embeddings.T

    # A cosine of the pair is the mean of the fine-tuned encoder's and the base's.
    torch.testing.assert_close(cosines(paired), (cosines(fine_tuned) + cosines(base)) / 2, atol=1e-5, rtol=0)
    assert not torch.allclose(cosines(fine_tuned), cosines(base), atol=1e-3)  # the two differ, so the test can fail
    # A model file keeps both, and a fine-tuned model given as a base is fine-tuned further from its own half.
    model = speakerspot.SpeakerModel(paired, embed_windows(paired, windows[:4]), FrontEnd())
    loaded = speakerspot.load_model(model.save(tmp_path / "paired.pt"))
    np.testing.assert_allclose(loaded.score(windows), model.score(windows), atol=1e-6)
    torch.testing.assert_close(cosines(loaded.encoder.without_base()), cosines(fine_tuned))
    # Training moves the fine-tuned half only: the base gets no gradient and keeps its batch-norm statistics.
    base_state = {key: value.clone() for key, value in paired.base.state_dict().items()}
    paired.train()
    assert not paired.base.training
    paired(windows[:8]).sum().backward()
    assert all(p.grad is None for p in paired.base.parameters())
    assert any(p.grad is not None for p in paired.parameters())
    for key, value in paired.base.state_dict().items():
        torch.testing.assert_close(value, base_state[key])


def test_a_base_of_other_features_is_fine_tuned_in_its_own(tmp_path):
    # A base computes its own features (here twice the frames a second, as `make_base.py --front-end` makes
    # one): training fine-tunes it in them, and the model scans with them.
    front_end = replace(FrontEnd(), hop_length=500, window_frames=87, step_frames=22)
    encoder = SpeakerEncoder(EncoderConfig(embedding_dim=192, pooling="mean+std")).eval()
    base = speakerspot.SpeakerModel(encoder, torch.zeros(1, 192), front_end, name="base",
                                    training_summary={"base_encoder": True}).save(tmp_path / "base.pt")
    positives, negatives = small_set()
    model = speakerspot.train(positives, negatives, config=TINY, base=base)
    assert model.front_end == front_end
    assert speakerspot.load_model(model.save(tmp_path / "tuned.pt")).front_end == front_end
    with pytest.raises(speakerspot.ModelFileError, match="computes other features"):
        speakerspot.train(positives, negatives, config=TINY, base=base, front_end=FrontEnd())


def test_a_model_fine_tuned_from_the_base_scores_beside_it_when_asked():
    positives, negatives = small_set()
    paired = speakerspot.train(positives, negatives, config=replace(TINY, score_with_base=True))
    assert paired.encoder.config.with_base
    base_state = speakerspot.load_model(base_path("default")).encoder.state_dict()
    for key, value in base_state.items():
        torch.testing.assert_close(paired.encoder.state_dict()[f"base.{key}"], value)
    alone = speakerspot.train(positives, negatives, config=TINY)  # the same training, scored alone
    assert not alone.encoder.config.with_base
    torch.testing.assert_close(paired.encoder.without_base().state_dict(), alone.encoder.state_dict())


def test_the_levels_rest_on_the_held_back_programme_as_recorded_or_on_both_when_asked():
    positives, negatives = find_clips(SPEECH / "train" / "rms"), find_clips(SPEECH / "train" / "slt")[:6]
    recorded = speakerspot.train(positives, negatives, config=TINY).training_summary["validation"]
    both = speakerspot.train(positives, negatives, config=replace(TINY, chained_levels=True)).training_summary[
        "validation"]
    # The same training and held-back programmes: the same EER over both, but levels from one of them.
    assert recorded["eer"] == both["eer"]
    assert 0 < recorded["positive_windows"] < both["positive_windows"]
    assert 0 < recorded["negative_windows"] < both["negative_windows"]
