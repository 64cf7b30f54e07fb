"""CPU time and peak memory to the first training steps as the corpus grows, side by side.

    OMP_NUM_THREADS=1 python benchmarks/bench_startup_scale.py [--sizes 2810,28100,281000]
        [--sources jsonl,lhotse,shar] [--baseline main] [--work DIR]

Synthetic corpora over the bundled set's 460 real FLAC files: N utterances with unique ids, the
audio repeated (utterance i reads file i mod 460), as
- `jsonl`: one JSONL manifest line per utterance (`dataset=jsonl`);
- `lhotse`: a Lhotse cut manifest, `cuts.jsonl.gz` (`dataset=lhotse`);
- `shar`: Lhotse Shar shards of 1000 cuts with the FLAC bytes in `recording.*.tar` (`dataset=shar`).
The dev split is always the bundled dev set (40 utterances).

Each run is a fresh `lalm-train model=tiny trainer.max_steps=3` pinned to one core
(OMP_NUM_THREADS=1, `dataset.num_workers=0`, no logger or callbacks). Measured: CPU seconds
(user + sys) and peak RSS of the process when its first training batch is about to run (data
ready, nothing trained: `first_step_probe.py`), and of the whole run (3 steps: with the
lhotse/shar configs' 200 s batches the steps alone cost ~20 CPU-s). Per source and size:
- `first`: the first run on a fresh cache (what checks the audio once and records it);
- `later`: the next run, which trusts the record after a stat of each file;
- `baseline`: the same run with the data layer of git ref `--baseline` (default `main`),
  extracted with `git archive` and run from there, as a later run: on its own cache, after an
  unmeasured first run (`baseline-first`, printed) that fills it.
Then the growth per 100k utterances (least-squares slope over the sizes) of CPU seconds and of
peak RSS, with the ratio to the baseline's. Goal (issue 20): <= 15 CPU-s at 281k for a prepared
(`later`) lhotse manifest or Shar, <= 30 s for a JSONL after its first run, RSS growth <= 0.5 GB
per 100k utterances.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLE = REPO / "lalm_framework" / "samples" / "speech"
SHARD = 1000  # cuts per Shar shard (lalm-prepare-data's default)


# --- synthetic corpora ----------------------------------------------------------------------
def sample_utterances(split: str) -> list[tuple[str, str, str]]:
    """(id, audio path, text) of the bundled split, in transcript order."""
    out = []
    for trans in sorted((SAMPLE / split).glob("*/*/*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            utt, _, text = line.strip().partition(" ")
            if text:
                out.append((utt, str(trans.parent / f"{utt}.flac"), text))
    return out


def write_jsonl(path: Path, n: int, utts: list[tuple[str, str, str]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            _, audio, text = utts[i % len(utts)]
            f.write(json.dumps({"id": f"u{i:07d}", "audio": audio, "text": text}) + "\n")


def base_cuts(utts: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """The Lhotse cut dict of each bundled utterance (recording read from its header)."""
    from lhotse import Recording, SupervisionSegment

    cuts = []
    for utt, audio, text in utts:
        rec = Recording.from_file(audio, recording_id=utt)
        cut = rec.to_cut()
        cut.supervisions = [SupervisionSegment(utt, utt, 0.0, rec.duration, channel=0, text=text)]
        cuts.append(cut.to_dict())
    return cuts


def renamed(cut: dict[str, Any], new_id: str) -> dict[str, Any]:
    c = json.loads(json.dumps(cut))
    c["id"] = new_id
    c["recording"]["id"] = new_id
    for s in c["supervisions"]:
        s["id"] = s["recording_id"] = new_id
    return c


def write_cuts(path: Path, n: int, cuts: list[dict[str, Any]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        for i in range(n):
            f.write(json.dumps(renamed(cuts[i % len(cuts)], f"u{i:07d}")) + "\n")


def write_shar(folder: Path, n: int, cuts: list[dict[str, Any]]) -> None:
    """Shar shards as `CutSet.to_shar(fields={"recording": "flac"})` writes them (FLAC bytes as is)."""
    folder.mkdir(parents=True)
    blobs = [Path(c["recording"]["sources"][0]["source"]).read_bytes() for c in cuts]
    for shard, start in enumerate(range(0, n, SHARD)):
        with (
            gzip.open(folder / f"cuts.{shard:06d}.jsonl.gz", "wt", encoding="utf-8", compresslevel=1) as cf,
            tarfile.open(folder / f"recording.{shard:06d}.tar", "w") as tf,
        ):
            for i in range(start, min(n, start + SHARD)):
                cut = renamed(cuts[i % len(cuts)], f"u{i:07d}")
                cut["recording"]["sources"] = [{"type": "shar", "channels": [0], "source": ""}]
                cf.write(json.dumps(cut) + "\n")
                for name, data in ((f"{cut['id']}.flac", blobs[i % len(cuts)]),):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
                meta = (json.dumps(cut["recording"]) + "\n").encode()
                info = tarfile.TarInfo(f"{cut['id']}.json")
                info.size = len(meta)
                tf.addfile(info, io.BytesIO(meta))


def corpus(work: Path, source: str, n: int) -> list[str]:
    """The dataset overrides of the synthetic corpus (written once into `work`)."""
    train = sample_utterances("train")
    dev = sample_utterances("dev")
    d = work / f"{source}_{n}"
    if source == "jsonl":
        if not d.is_dir():
            tmp = Path(tempfile.mkdtemp(dir=work))
            write_jsonl(tmp / "train.jsonl", n, train)
            write_jsonl(tmp / "dev.jsonl", len(dev), dev)
            tmp.rename(d)
        return ["dataset=jsonl", f"dataset.train_manifest={d}/train.jsonl", f"dataset.val_manifest={d}/dev.jsonl"]
    if source == "lhotse":
        if not d.is_dir():
            tmp = Path(tempfile.mkdtemp(dir=work))
            write_cuts(tmp / "train.jsonl.gz", n, base_cuts(train))
            write_cuts(tmp / "dev.jsonl.gz", len(dev), base_cuts(dev))
            tmp.rename(d)
        return ["dataset=lhotse", f"dataset.train_cuts={d}/train.jsonl.gz", f"dataset.val_cuts={d}/dev.jsonl.gz"]
    if not d.is_dir():
        tmp = Path(tempfile.mkdtemp(dir=work))
        write_shar(tmp / "train", n, base_cuts(train))
        write_shar(tmp / "val", len(dev), base_cuts(dev))
        tmp.rename(d)
    return ["dataset=shar", f"dataset.path={d}"]


# --- one measured run -----------------------------------------------------------------------
def baseline_tree(ref: str, work: Path) -> Path:
    """The source tree of git ref `ref`, extracted once into `work`."""
    sha = subprocess.run(["git", "rev-parse", ref], cwd=REPO, capture_output=True, text=True, check=True).stdout
    tree = work / f"baseline_{sha.strip()[:12]}"
    if not tree.is_dir():
        tmp = Path(tempfile.mkdtemp(dir=work))
        archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
            tf.extractall(tmp, filter="data")
        tmp.rename(tree)
    return tree


def measure(overrides: list[str], tree: Path, cache: Path, out: Path) -> dict[str, float]:
    """CPU seconds (user + sys) and peak RSS (GB) of one run: to its first step, and in all."""
    probe = out.parent / f"{out.name}.first_step.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env.update(TOKENIZERS_PARALLELISM="false", LALM_CACHE_DIR=str(cache), LALM_FIRST_STEP_OUT=str(probe))
    env["PYTHONPATH"] = f"{tree}{os.pathsep}{HERE}"
    cmd = [sys.executable, "-m", "lalm_framework.cli.train", "model=tiny", "logger=none", "callbacks=none"]
    cmd += ["+callbacks.first_step._target_=first_step_probe.FirstStepProbe"]
    cmd += ["trainer.max_steps=3", "dataset.num_workers=0", f"hydra.run.dir={out}", *overrides]
    proc = subprocess.Popen(
        cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_one_core
    )
    assert proc.stdout is not None
    log = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(log.decode(errors="replace")[-3000:])
        raise SystemExit(f"run failed ({proc.returncode}): {' '.join(cmd)}")
    first = json.loads(probe.read_text())
    return {**first, "run_cpu_s": usage.ru_utime + usage.ru_stime, "run_rss_gb": usage.ru_maxrss / 1024**2}


def _one_core() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def slope(xs: list[int], ys: list[float]) -> float:
    """Least-squares growth of y per 100k of x."""
    if len(xs) < 2:
        return float("nan")
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    den = sum((x - mx) ** 2 for x in xs)
    return num / den * 100_000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="2810,28100,281000")
    p.add_argument("--sources", default="jsonl,lhotse,shar")
    p.add_argument("--baseline", default="main", help="git ref of the baseline side ('' to skip it)")
    p.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "lalm_bench_startup_scale"))
    p.add_argument("--keep", action="store_true", help="keep the synthetic corpora for the next call")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    base = baseline_tree(args.baseline, work) if args.baseline else None
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    for source in args.sources.split(","):
        for n in sizes:
            data = corpus(work, source, n)
            cache = Path(tempfile.mkdtemp(dir=work, prefix="cache."))
            runs = Path(tempfile.mkdtemp(dir=work, prefix="runs."))
            sides = {"first": (REPO, cache), "later": (REPO, cache)}
            if base is not None:
                base_cache = Path(tempfile.mkdtemp(dir=work, prefix="cache."))
                sides["base-first"] = sides["baseline"] = (base, base_cache)
            for side, (tree, c) in sides.items():
                r = measure(data, tree, c, runs / side)
                rows.setdefault((source, side), []).append(r)
                print(
                    f"{source:7s} {n:>8,d} {side:9s} first step: {r['cpu_s']:6.1f} CPU-s {r['rss_gb']:5.2f} GB"
                    f"   whole run (3 steps): {r['run_cpu_s']:6.1f} CPU-s {r['run_rss_gb']:5.2f} GB",
                    flush=True,
                )
            shutil.rmtree(cache, ignore_errors=True)
            if base is not None:
                shutil.rmtree(base_cache, ignore_errors=True)
            shutil.rmtree(runs, ignore_errors=True)
            if not args.keep and n >= 100_000:
                shutil.rmtree(work / f"{source}_{n}", ignore_errors=True)
    print("\nper source: CPU-s and peak RSS at each size; growth per 100k utterances; ratio to the baseline")
    print(f"{'source':7s} {'side':9s} " + " ".join(f"{n:>14,d}" for n in sizes) + "   CPU-s/100k  GB/100k")
    for (source, side), rs in rows.items():
        cells = " ".join(f"{r['cpu_s']:6.1f}s {r['rss_gb']:4.2f}G" for r in rs)
        cpu, rss = slope(sizes, [r["cpu_s"] for r in rs]), slope(sizes, [r["rss_gb"] for r in rs])
        line = f"{source:7s} {side:9s} {cells}   {cpu:9.1f}  {rss:7.2f}"
        ref = rows.get((source, "baseline"))
        if ref is not None and side != "baseline":
            big = rs[-1]["cpu_s"] / ref[-1]["cpu_s"]
            line += f"   x{big:.2f} CPU of baseline at {sizes[-1]:,d}"
        print(line)


if __name__ == "__main__":
    main()
