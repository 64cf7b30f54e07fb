"""Before training: every audio file is checked (header + tail) and utterances filtered by duration.

A source's first check is recorded (`audio_record`): later checks stat each file and probe only
the changed ones.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lalm_framework.data.audio_record import check_files
from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError

if TYPE_CHECKING:
    from lhotse.cut import Cut

log = logging.getLogger(__name__)
_SHOWN = 5  # bad files named in one message
_THREADS = 8  # header reads wait on the disk, not the CPU: threads overlap them on network filesystems


def check_audio_files(
    utterances: list[Utterance],
    split: str,
    skip_bad_audio: bool = False,
    threads: int = _THREADS,
    record: str | None = None,
) -> list[Utterance]:
    """Utterances whose audio is readable; fills in `duration` from the file header.

    A missing or unreadable file raises UserError naming it (the default), or is skipped and
    counted in the log with `skip_bad_audio`. `record`: the source whose check record to trust
    for unchanged files (see `audio_record`); each file is checked once however many
    utterances read it.
    """
    checks = check_files((u.audio for u in utterances), record, threads)
    good: list[Utterance] = []
    bad: list[str] = []
    for utt in utterances:
        check = checks[utt.audio]
        problem = check if isinstance(check, str) else check.problem
        if problem is None and not isinstance(check, str):
            utt.duration = check.duration
            good.append(utt)
        else:
            bad.append(f"{utt.audio}: {problem}")
    report_bad_audio(bad, len(utterances), split, skip_bad_audio)
    return good


def bad_audio_files(paths: Sequence[str], threads: int = _THREADS, record: str | None = None) -> dict[str, str]:
    """{path: problem} of the files in `paths` that are missing, unreadable or empty.

    `record`: as for `check_audio_files`.
    """
    checks = check_files(sorted(set(paths)), record, threads)
    problems = {p: c if isinstance(c, str) else c.problem for p, c in checks.items()}
    return {p: problem for p, problem in problems.items() if problem is not None}


def report_bad_audio(bad: list[str], total: int, split: str, skip_bad_audio: bool) -> None:
    """Stop on bad audio (naming the files and the fix), or count the skipped ones in the log."""
    if bad and not skip_bad_audio:
        more = f"\n  ... and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
        raise UserError(
            f"{len(bad)} bad audio file(s) in the {split} split:\n  "
            + "\n  ".join(bad[:_SHOWN])
            + more
            + "\nFix or remove them, or set dataset.skip_bad_audio=true to skip them."
        )
    if bad:
        log.warning(
            "%s: skipped %d bad audio file(s) of %d (skip_bad_audio=true); first: %s", split, len(bad), total, bad[0]
        )
    if len(bad) == total:
        raise UserError(f"The {split} split has no readable audio ({total} files checked).")


def duration_filter_message(split: str, dropped: int, total: int, lo: float, hi: float) -> None:
    """Log (or, when nothing is left, raise) the outcome of the utterance-duration filter."""
    if dropped:
        log.info("%s: %d of %d utterances outside %.2f-%.2f s dropped", split, dropped, total, lo, hi)
    if dropped == total:
        raise UserError(
            f"No {split} utterance is between {lo} and {hi} s long.\n"
            "Widen dataset.min_utterance_duration / dataset.max_utterance_duration."
        )


@dataclass(frozen=True)
class DurationRange:
    """Keep the cuts lasting `lo` to `hi` seconds: the utterance-duration filter.

    A class, not a closure: lazy filters must survive a fork, and a split with a catalog
    applies it to the catalog's durations without reading a cut.
    """

    lo: float
    hi: float

    def __call__(self, cut: Cut) -> bool:
        return self.keeps(cut.duration)

    def keeps(self, duration: float) -> bool:
        return bool(self.lo <= duration <= self.hi)
