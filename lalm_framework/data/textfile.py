"""Text files users hand us (manifests, transcripts, cut manifests): UTF-8, read line by line.

Every reader of such files goes through `text_lines`, so a byte that is not UTF-8 or a file that
cannot be opened ends in one message naming the file and line, never a UnicodeDecodeError.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

from lalm_framework.errors import UserError


def text_lines(path: str | Path, what: str = "file") -> Iterator[tuple[int, str]]:
    """(line number, line without its newline) of a UTF-8 text file; `.gz` files are decompressed.

    `what` names the kind of file in messages ("manifest", "transcript", ...).
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            for line_no, raw in enumerate(fh, 1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise UserError(
                        f"{path}:{line_no}: the {what} is not UTF-8 text (byte {raw[e.start]:#04x} at column "
                        f"{e.start + 1}).\nRe-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
                    ) from None
                if line_no == 1:
                    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
                yield line_no, text.rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as e:
        damaged = isinstance(e, (EOFError, zlib.error, gzip.BadGzipFile))
        fix = (
            "\nThe file is damaged or incomplete (cut short, or bytes changed): write it again"
            " (for Shar shards: re-run lalm-prepare-data into a new folder)."
            if damaged
            else ""
        )
        raise UserError(f"Cannot read the {what} {path}: {getattr(e, 'strerror', None) or e}.{fix}") from None
