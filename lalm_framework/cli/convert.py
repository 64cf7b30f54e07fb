"""`lalm-convert-config`: rewrite a legacy `target`/`params` YAML file to Hydra `_target_` form.

Every level is converted. `base_learning_rate`/`scale_lr` beside `target` become
`_base_learning_rate_`/`_scale_lr_` beside `_target_`, which lalm-train reads the same way. Other
keys beside `target`/`params` have no place in `_target_` form (they would become constructor
arguments): the command then writes nothing, names them and exits 1. `lalm-train` reads such
files as they are.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def convert_file(src: Path) -> str:
    """The `_target_` form of the legacy YAML file `src`, as YAML text."""
    from omegaconf import OmegaConf

    from lalm_framework.compat.legacy import to_target_form

    return OmegaConf.to_yaml(OmegaConf.create(to_target_form(OmegaConf.load(src), learning_rate=True)))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: print the converted file, or write it to -o (never over an existing file)."""
    parser = argparse.ArgumentParser(prog="lalm-convert-config", description=__doc__)
    parser.add_argument("src", type=Path, help="legacy YAML (target:/params: or class_name:)")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    if not args.src.is_file():
        parser.error(f"no such file: {args.src}")
    if args.output and args.output.exists():
        parser.error(f"{args.output} exists; choose another path (existing files are never overwritten)")
    from omegaconf import OmegaConf

    from lalm_framework.compat.legacy import legacy_siblings

    left = legacy_siblings(OmegaConf.load(args.src))
    if left:
        sys.stderr.write(
            f"Error: {args.src}: not converted; these keys sit beside target/params, where _target_ form "
            f"would pass them to the constructor: {', '.join(left)}.\n"
            "lalm-train and lalm_framework.instantiate read the file as it is (such keys are ignored)."
            " To convert, move or delete them first.\n"
        )
        return 1
    text = convert_file(args.src)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
