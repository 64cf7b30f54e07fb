"""`lalm-infer`: transcribe audio with a trained checkpoint or export; JSONL hypotheses, WER if references.

Named sets (`clean=DIR other=DIR2`): one JSONL per set in the `--out` folder, and a table of
WER/CER (normalized and raw), utterances, hours and RTFx per set, scored as training scores them.

Light at import (argparse only): torch and the model load inside `main()`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

EPILOG = """inputs:
  a LibriSpeech-layout split folder (<split>/<spk>/<chapter>/*.flac + *.trans.txt: with references),
  a JSONL manifest (audio/audio_filepath/path + text: with references), any folder of audio
  files, or single audio files; sample:dev (sample:train, sample:test) is a split of the bundled set.

  NAME=INPUT names an evaluation set: --out is then a folder of <NAME>.jsonl files, results.json
  and results.md (the table printed at the end).

examples:
  lalm-infer outputs/train/.../checkpoints/last.ckpt sample:dev
  lalm-infer best.ckpt clean=/data/LibriSpeech/test-clean other=/data/LibriSpeech/test-other --out results/
  lalm-infer last.ckpt test.jsonl --out hyps.jsonl
  lalm-infer last.ckpt clip1.flac clip2.wav --adapter my_adapter/
  lalm-infer my_export/ clip1.flac          (a folder written by lalm-export)
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lalm-infer",
        description=__doc__.splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", help="a .ckpt written by lalm-train, or a folder written by lalm-export")
    p.add_argument("inputs", nargs="+", help="folders, JSONL manifests or audio files; NAME=INPUT: a named set")
    p.add_argument(
        "--out",
        help="JSONL file of hypotheses to create, or with named sets a folder (default: "
        "hypotheses-<time>.jsonl, or hypotheses-<time>/, in the current directory); never overwritten",
    )
    p.add_argument("--adapter", help="a peft LoRA adapter folder to load over the checkpoint's LoRA")
    p.add_argument("--batch-size", type=int, help="default: the validation batch size of training")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--text-key", default="text", help="manifest field holding references")
    p.add_argument("--prompt-template", help="default: the one used in training")
    p.add_argument("--task", help="prompt task (e.g. transcribe, caption); default: training's")
    p.add_argument("--max-new-tokens", type=int, help="default: model.generation.max_new_tokens")
    p.add_argument("--num-beams", type=int, help="beam search width (1: greedy); default: model.generation.num_beams")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--skip-bad-audio", action="store_true", help="skip unreadable files instead of stopping")
    p.add_argument(
        "--long-audio",
        choices=("cut", "chunk"),
        default="cut",
        help="audio longer than the model's window: decode its first window (cut) or every window, joined (chunk)",
    )
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `lalm-infer`."""
    args = build_parser().parse_args(argv)
    from lalm_framework.errors import UserError, exit_with

    try:
        return _run(args)
    except UserError as e:
        exit_with(e)


def _run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from lalm_framework.errors import UserError
    from lalm_framework.inference.inputs import named_inputs, read_inputs

    # cheap checks first: a typo should not wait for torch and the model to load
    sets = named_inputs(args.inputs)
    named = "" not in sets
    out = Path(args.out or f"hypotheses-{datetime.now():%Y%m%d-%H%M%S-%f}{'' if named else '.jsonl'}")
    if out.exists():
        raise UserError(f"{out} exists already; earlier results are never overwritten. Choose another --out.")
    if args.num_beams is not None and args.num_beams < 1:
        raise UserError(f"--num-beams {args.num_beams}: give 1 (greedy) or more beams.")
    if os.path.isdir(args.checkpoint):
        from lalm_framework.inference.pretrained import read_export_config

        read_export_config(Path(args.checkpoint))  # a folder must be an export
    elif not os.path.isfile(args.checkpoint):
        raise UserError(
            f"Checkpoint not found: {args.checkpoint}. Give the .ckpt file a training run "
            "wrote (e.g. <run dir>/checkpoints/last.ckpt), or a folder written by lalm-export."
        )
    utterances = {name: read_inputs(inputs, text_key=args.text_key) for name, inputs in sets.items()}

    from lalm_framework.inference.results import results_table, set_result, write_set_folder
    from lalm_framework.inference.trained_model import load_model
    from lalm_framework.inference.transcribe import scores_of, transcribe, write_jsonl

    module = load_model(args.checkpoint, adapter=args.adapter, device=args.device)
    if args.max_new_tokens:
        module.generation.max_new_tokens = args.max_new_tokens
    if args.num_beams:
        module.generation.num_beams = args.num_beams
    rows, results = {}, {}
    for name, utts in utterances.items():
        start = time.perf_counter()
        rows[name] = transcribe(
            module,
            utts,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            prompt_template=args.prompt_template,
            task=args.task,
            skip_bad_audio=args.skip_bad_audio,
            progress=not args.no_progress,
            long_audio=args.long_audio,
        )
        seconds = time.perf_counter() - start
        results[name] = set_result(rows[name], seconds, scores_of(rows[name], module.data_settings, args.task))
    if named:
        write_set_folder(out, rows, results)
        print(f"wrote {sum(len(r) for r in rows.values())} hypotheses of {len(rows)} sets to {out}")
    else:
        path = write_jsonl(rows[""], out)
        print(f"wrote {len(rows[''])} hypotheses to {path}")
        scored = sum(1 for r in rows[""] if r.get("reference") and r.get("hypothesis") is not None)
        if "wer" in results[""].scores:
            print(f"WER {100 * results[''].scores['wer']:.2f}% on {scored} utterances with references")
    print(results_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
