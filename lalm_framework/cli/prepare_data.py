"""`lalm-prepare-data`: write a dataset's splits as Lhotse Shar shards, for `dataset=shar`.

Light at import (argparse only): Hydra, Lhotse and torch load inside `main()`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

EPILOG = """The dataset options are those of lalm-train (dataset=<option> dataset.<key>=<value>);
OUT_DIR gets one folder of shards per split (train, val, test) and lalm_shar.json.

examples:
  lalm-prepare-data dataset=librispeech dataset.root=/data/LibriSpeech shards/librispeech
  lalm-prepare-data dataset=jsonl dataset.train_manifest=train.jsonl dataset.val_manifest=dev.jsonl shards/mine
  lalm-train dataset=shar dataset.path=shards/librispeech
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lalm-prepare-data",
        usage="%(prog)s [-h] [--splits S] [--shard-size N] [--audio-format F] [DATASET OPTIONS ...] OUT_DIR",
        description="Write a dataset's splits as Lhotse Shar shards, for `lalm-train dataset=shar`.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("args", nargs="+", metavar="ARG", help="dataset options (key=value), then the output folder")
    p.add_argument("--splits", help="comma-separated subset of train,val,test (default: every configured split)")
    p.add_argument("--shard-size", type=int, default=1000, help="cuts per shard (default 1000)")
    p.add_argument("--audio-format", default="flac", help="flac (lossless, 16-bit), wav or original (default flac)")
    p.add_argument("--config-dir", help="your config folder, as for lalm-train --config-dir")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `lalm-prepare-data`."""
    # intermixed: options may come before, between or after the overrides and OUT_DIR
    args = build_parser().parse_intermixed_args(argv)
    from lalm_framework.errors import UserError, describe, exit_with, exit_with_message, full_error_requested

    try:
        _run(args)
    except UserError as e:
        exit_with(e)
    except Exception as e:
        message = None if full_error_requested() else describe(e)
        if message is None:
            raise
        exit_with_message(message)
    return 0


def _run(args: argparse.Namespace) -> None:
    from lalm_framework.errors import UserError

    *overrides, out_dir = args.args
    if "=" in out_dir:
        raise UserError(f"The last argument must be the output folder, got the option {out_dir!r}.")
    splits = [s.strip() for s in args.splits.split(",")] if args.splits else None
    for s in splits or []:
        if s not in ("train", "val", "test"):
            raise UserError(f"--splits {args.splits}: '{s}' is not one of train, val, test.")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from lalm_framework.api import compose
    from lalm_framework.compat.instantiate import instantiate
    from lalm_framework.config.signature import check_arguments, import_target
    from lalm_framework.data.datamodule import LalmDataModule
    from lalm_framework.data.shar import write_shar
    from lalm_framework.job_dir import check_writable
    from lalm_framework.utils.paths import resolve_path

    out = resolve_path(out_dir)
    check_writable(out, "output folder", "give lalm-prepare-data another OUT_DIR (its last argument)")
    # paths a lalm-train run would have (data paths resolve against the launch directory)
    paths = [f"paths.root_dir={os.getcwd()}", f"paths.output_dir={out}"]
    cfg = compose(overrides=paths + list(overrides), config_dir=args.config_dir)
    node = cfg.dataset
    cls = import_target(str(node.get("_target_", "")), "dataset._target_")
    if not (isinstance(cls, type) and issubclass(cls, LalmDataModule)):
        raise UserError(f"dataset._target_={node.get('_target_')}: lalm-prepare-data writes speech datasets only.")
    check_arguments(node, where="dataset")
    cls.validate_config(node)
    dm = instantiate(node)
    index = write_shar(dm, out, splits, shard_size=args.shard_size, audio_format=args.audio_format)
    for split, info in index.items():
        if splits is None or split in splits:
            print(f"{split}: {info['cuts']} cuts in {info['shards']} shard(s) -> {out / split}")
    print(f"train from them: lalm-train dataset=shar dataset.path={out}")


if __name__ == "__main__":
    sys.exit(main())
