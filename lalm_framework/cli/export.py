"""`lalm-export`: a trained checkpoint -> a folder to share: safetensors, peft adapter, tokenizer, model card.

Light at import (argparse only): torch and the model load inside `main()`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

EPILOG = """the folder:
  lalm_config.json, README.md (model card from the run's run.json), tokenizer/,
  projector.safetensors, encoder.safetensors / llm.safetensors (weights not in a pretrained base),
  adapter/ (the LoRA adapter in peft's format), or llm/ with --merge (a plain transformers model).
  model=tiny exports every weight: the folder needs nothing else.

examples:
  lalm-export outputs/train/.../checkpoints/last.ckpt my_model
  lalm-export last.ckpt my_model_merged --merge
  lalm-infer my_model clip.flac                 # transcribe with the export
  python -c 'import lalm_framework; print(lalm_framework.load_pretrained("my_model").transcribe(["clip.flac"]))'
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lalm-export",
        description=__doc__.splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", help="a .ckpt written by lalm-train")
    p.add_argument("out_dir", help="the folder to create (must not exist or be empty)")
    p.add_argument("--merge", action="store_true", help="merge LoRA into the LLM: a plain AutoModelForCausalLM in llm/")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty out_dir")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `lalm-export`."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from pathlib import Path

    from lalm_framework.errors import UserError, exit_with

    try:
        from lalm_framework.inference.export import check_out_dir

        # cheap checks first: a typo should not wait for torch and the model to load
        check_out_dir(Path(args.out_dir).resolve(), Path(args.checkpoint).resolve(), args.overwrite)
        from lalm_framework.inference.export import export_checkpoint

        result = export_checkpoint(args.checkpoint, args.out_dir, merge=args.merge, overwrite=args.overwrite)
    except UserError as e:
        exit_with(e)
    for note in result.notes:
        print(f"Note: {note}")
    print(f"exported {len(result.files)} files to {result.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
