"""Write a dataset's splits as Lhotse Shar shards (what `lalm-prepare-data` does).

`<out_dir>/<split>/cuts.NNNNNN.jsonl.gz` + `recording.NNNNNN.tar` per split (train/val/test), in
the source's order, plus `<out_dir>/lalm_shar.json` (counts, formats, the source's fingerprint).
`dataset=shar dataset.path=<out_dir>` trains from them. Existing split folders are never
overwritten; each split is written to a temporary folder and renamed when complete.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lalm_framework.errors import UserError, describe
from lalm_framework.utils.files import atomic_write, follow_umask

if TYPE_CHECKING:
    from lalm_framework.data.datamodule import LalmDataModule

log = logging.getLogger(__name__)

AUDIO_FORMATS = ("flac", "wav", "original")
INDEX = "lalm_shar.json"


def write_shar(
    dm: LalmDataModule,
    out_dir: str | Path,
    splits: list[str] | None = None,
    shard_size: int = 1000,
    audio_format: str = "flac",
) -> dict[str, Any]:
    """Write the configured splits of `dm` (default: all that have data) as Shar; return the index."""
    out = Path(out_dir)
    if audio_format not in AUDIO_FORMATS:
        raise UserError(f"--audio-format {audio_format}: use one of {', '.join(AUDIO_FORMATS)}.")
    if shard_size < 1:
        raise UserError(f"--shard-size {shard_size}: must be >= 1 (cuts per shard).")
    wanted = splits or [s for s in ("train", "val", "test") if dm.source(s) is not None]
    for split in wanted:
        if dm.source(split) is None:
            raise UserError(f"The dataset has no {split} split configured; choose from the configured ones.")
        if (out / split).exists():
            raise UserError(f"{out / split} exists already; Shar shards are never overwritten. Choose another out dir.")
    out.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = json.loads((out / INDEX).read_text()) if (out / INDEX).is_file() else {}
    fingerprint = dm.data_fingerprint()
    for split in wanted:
        cuts = dm.load_split(split)
        tmp = Path(tempfile.mkdtemp(prefix=f".{split}.", suffix=".tmp", dir=out))
        try:
            paths = cuts.ordered(None, metadata=False).to_shar(
                tmp,
                fields={"recording": audio_format},
                shard_size=shard_size,
                fault_tolerant=dm.skip_bad_audio,
                warn_unused_fields=False,
            )
        except UserError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        except Exception as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise UserError(
                f"Writing the {split} shards failed: {describe(e) or f'{type(e).__name__}: {e}'}\n"
                "Fix the audio it names (or set dataset.skip_bad_audio=true to leave it out)."
            ) from None
        follow_umask(tmp)  # mkdtemp's folder is owner-only; Shar is for shared file systems
        tmp.rename(out / split)
        index[split] = {
            "cuts": cuts.size,
            "shards": len(paths.get("cuts", [])),
            "audio_format": audio_format,
            "source": fingerprint.get(split, {}),
        }
        atomic_write(out / INDEX, json.dumps(index, indent=2))
        log.info("%s: %d cuts in %d shard(s) -> %s", split, cuts.size, index[split]["shards"], out / split)
    return index
