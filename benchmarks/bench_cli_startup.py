"""`lalm-train --cfg job` wall time against a bare Hydra app over a config tree of the same size.

The bare app composes a copy of our YAML tree with nothing else (no schema, plugins' work,
callbacks or error wrapper). A third column shows an app that imports pytorch_lightning at top,
which is what `--cfg job` would cost if the CLI imported the training stack eagerly.
Runs are interleaved and repeated; medians are compared. Not a test: prints ratios.

    OMP_NUM_THREADS=1 python benchmarks/bench_cli_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

BARE_APP = """
import hydra
{extra_import}

@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg):
    pass

if __name__ == "__main__":
    main()
"""


def make_bare_app(root: Path, extra_import: str = "") -> Path:
    conf = root / "conf"
    shutil.copytree(REPO / "lalm_framework" / "conf", conf, ignore=shutil.ignore_patterns("__init__.py", "hydra"))
    train = yaml.safe_load((conf / "train.yaml").read_text())
    train["defaults"] = [
        d
        for d in train["defaults"]
        if d not in ("train_schema", "train_hydra")
        and not (isinstance(d, dict) and any(str(k).startswith("override hydra") for k in d))
    ]
    # our Hydra settings (train_hydra.yaml) without the pre-launch callback and the help override
    train["hydra"] = yaml.safe_load((conf / "train_hydra.yaml").read_text())["hydra"]
    train["hydra"].pop("callbacks", None)
    (conf / "train_hydra.yaml").unlink()
    # the schema's values, as plain YAML, so both trees hold the same keys
    from omegaconf import OmegaConf

    from lalm_framework.config.schema import TrainConfig

    schema = OmegaConf.to_container(OmegaConf.structured(TrainConfig))
    schema.update({k: v for k, v in train.items() if k != "defaults"})
    schema["defaults"] = train["defaults"]
    schema["mode"] = "min"
    (conf / "train.yaml").write_text(yaml.safe_dump(schema))
    app = root / "app.py"
    app.write_text(BARE_APP.format(extra_import=extra_import))
    return app


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bare = make_bare_app(tmp / "bare")
        heavy = make_bare_app(tmp / "heavy", extra_import="import pytorch_lightning  # noqa: F401")
        cmds = {
            "bare hydra app": [sys.executable, str(bare), "experiment=digits", "--cfg", "job"],
            "lalm-train": [str(BIN / "lalm-train"), "experiment=digits", "--cfg", "job"],
            "app importing lightning": [sys.executable, str(heavy), "experiment=digits", "--cfg", "job"],
        }
        times: dict[str, list[float]] = {k: [] for k in cmds}
        for cmd in cmds.values():  # warm the file cache once
            timed(cmd, tmp)
        for _ in range(args.repeats):
            for name, cmd in cmds.items():
                times[name].append(timed(cmd, tmp))
    base = statistics.median(times["bare hydra app"])
    print(f"{'command':26s} {'median s':>9s} {'ratio':>7s}   (--cfg job, {args.repeats} runs interleaved)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:26s} {med:9.3f} {med / base:7.2f}x")
    print("target: lalm-train / bare <= 1.2")


if __name__ == "__main__":
    main()
