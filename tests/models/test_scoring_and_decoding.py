"""Per-task metrics (whisper-normalizer, torchmetrics, sacrebleu glue), the default monitor, beam search."""

from __future__ import annotations

import pytest
from tiny_lalm import speech_batch

from lalm_framework.errors import UserError
from lalm_framework.scoring import score


def test_normalizers_change_what_counts_as_an_error():
    hyp, ref = ["hello, world!"], ["Hello world"]
    assert score(hyp, ref, normalizer_name="none")["wer"] == pytest.approx(1.0)
    assert score(hyp, ref, normalizer_name="basic")["wer"] == 0.0
    # the English normalizer also reads numbers and spellings alike
    assert score(["I have 2 colours"], ["i have two colors"], normalizer_name="english")["wer"] == 0.0
    assert score(["I have 2 colours"], ["i have two colors"], normalizer_name="basic")["wer"] > 0


def test_each_task_gets_its_metric():
    tasks = ["transcribe", "caption", "caption", "answer"]
    out = score(
        ["one two", "a calm voice", "a quick low voice", "Yes."],
        ["one three", "a calm voice", "a quick voice", "yes"],
        tasks,
        metrics={"caption": ["bleu", "chrf"]},
    )
    assert out["wer"] == pytest.approx(0.5)
    assert 0 < out["bleu"] < 100 and 0 < out["chrf"] < 100
    assert out["exact_match"] == 1.0
    # a transcript without spaces between words: CER as well
    assert "cer" in score(["今日は"], ["今日わ"])


def test_unknown_normalizer_or_metric_is_one_clear_error():
    from lalm_framework.data.datamodule import LalmDataModule

    with pytest.raises(UserError, match="normalizer='lower'.*none, basic, english"):
        LalmDataModule(normalizer="lower")
    with pytest.raises(UserError, match="unknown metric 'rouge'"):
        LalmDataModule(metrics={"caption": ["rouge"]})


@pytest.mark.parametrize(
    ("overrides", "monitor"),
    [
        ([], "val/wer"),
        (["experiment=digits"], "val/acc"),
        (["model.wer_every_n_val=0"], "val/loss"),
        (["dataset=mix", "+dataset.val={clean: {source: librispeech, split: dev}}"], "val/clean/wer"),
    ],
)
def test_an_lalm_run_selects_its_checkpoint_on_the_first_val_sets_wer(overrides, monitor):
    import lalm_framework

    cfg = lalm_framework.compose(overrides)
    assert cfg.monitor == monitor
    assert cfg.callbacks.model_checkpoint.monitor == monitor


def test_beam_search_is_real_and_differs_from_greedy(tiny_module):
    batch = speech_batch(tiny_module, "dev", 8)
    gen = tiny_module.generation
    greedy = tiny_module.transcribe_batch(batch)
    try:
        gen.num_beams = 4
        beams = tiny_module.transcribe_batch(batch)
    finally:
        gen.num_beams = 1
    assert len(beams) == len(greedy) == 8
    assert beams != greedy  # some input decodes otherwise
    assert tiny_module.transcribe_batch(batch) == greedy  # num_beams=1 is greedy again


def test_the_card_of_a_non_last_checkpoint_shows_its_own_metrics(tmp_path):
    """Two epochs, a checkpoint each: the export of epoch 0 shows epoch 0's dev metrics, not the last."""
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import Callback, ModelCheckpoint
    from tiny_lalm import tiny_kwargs

    from lalm_framework.data.datamodule import LalmDataModule
    from lalm_framework.inference.export import export_checkpoint
    from lalm_framework.models.lalm_module import LalmModule
    from lalm_framework.trainer_addons.checkpoint_io import AtomicCheckpointIO

    seen: list[dict[str, float]] = []

    class Keep(Callback):
        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking:
                seen.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")})

    torch.manual_seed(0)
    module = LalmModule(**tiny_kwargs())
    dm = LalmDataModule(train_split="train", val_split="dev", max_utterances=8, batch_size=4, num_workers=0)
    trainer = pl.Trainer(
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        plugins=[AtomicCheckpointIO()],
        callbacks=[
            ModelCheckpoint(
                dirpath=tmp_path, filename="e{epoch}", auto_insert_metric_name=False, save_top_k=-1, monitor=None
            ),
            Keep(),
        ],
    )
    trainer.fit(module, datamodule=dm)
    assert len(seen) == 2 and seen[0]["val/loss"] != seen[1]["val/loss"]
    first, last = sorted(tmp_path.glob("*.ckpt"))
    export_checkpoint(first, tmp_path / "x")
    card = (tmp_path / "x" / "README.md").read_text()
    assert f"| dev | WER | {100 * seen[0]['val/wer']:.2f}% |" in card
    assert f"| dev | loss | {seen[0]['val/loss']:.4f} |" in card
    assert f"{seen[1]['val/loss']:.4f}" not in card
    assert "at the validation of epoch 0" in card
