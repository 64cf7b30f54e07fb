"""Where secrets are masked: every way text leaves a process of ours goes through one redactor.

`lalm_framework.redaction` says what a secret is; this module applies it, process-wide:

- `guard()` (idempotent) wraps `sys.stdout`/`sys.stderr` (prints, tracebacks, Hydra's console,
  rich tables) and installs a logging record factory (every handler: console, Hydra's job log
  files), so a secret inside an exception message, a launch line `#0 : ...` or Hydra's
  "Error executing job with overrides: [...]" is masked before any handler sees it;
- `learn(*sources)` adds the secrets named inside a config or override list (keyed values) to
  what this process masks; environment secrets and those on the command line are always known;
- `current()` is the redactor for text and data we write ourselves (run.json, Optuna trial
  attributes, trials.csv, exports): `mask_text` / `mask_data`, and `mask_tree` for a checkpoint
  (types kept, tensors untouched).

`LALM_SHOW_SECRETS=1` leaves this process's console unmasked (to read `lalm-train --cfg job`
as typed); files are masked regardless. Output written straight to file descriptors by other
programs (a compiler, a child process that is not Python) is beyond reach.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO, cast

from lalm_framework.redaction import MASK, MIN_LITERAL, Redactor, is_secret_key, secrets_in

SHOW_ENV = "LALM_SHOW_SECRETS"
# a stream's pending text is written out (masked) at this size even without a newline
_MAX_PENDING = 8192

_lock = threading.RLock()
_learned: set[str] = set()
_cached: tuple[tuple[Any, ...], Redactor] | None = None
_factory_installed = False


def show_secrets() -> bool:
    """Whether the user asked to see secrets on the console (`LALM_SHOW_SECRETS=1`)."""
    return os.environ.get(SHOW_ENV, "") not in ("", "0", "false", "False")


def learn(*sources: Any) -> None:
    """Mask, from now on in this process, the secrets that keys inside `sources` name."""
    found = {v for source in sources for v in secrets_in(source) if len(v) >= MIN_LITERAL and v != MASK}
    if found - _learned:
        with _lock:
            _learned.update(found)


def current() -> Redactor:
    """The redactor of this process: environment secrets, the command line, what `learn` saw."""
    global _cached
    env_key = tuple(sorted(os.environ.items()))
    key = (env_key, tuple(sys.argv[1:]), len(_learned))
    cached = _cached
    if cached is not None and cached[0] == key:
        return cached[1]
    with _lock:
        base = Redactor.create(list(sys.argv[1:]))
        redactor = Redactor(tuple(sorted(set(base.literals) | _learned, key=len, reverse=True)))
        _cached = (key, redactor)
    return redactor


def mask_text(text: str) -> str:
    """`text` with every secret this process knows of masked."""
    return current().text(text)


def mask_file_text(name: str, text: str) -> str:
    """`text` masked for a file called `name`: YAML stays loadable (a masked value is quoted)."""
    return current().yaml(text) if name.endswith((".yaml", ".yml")) else current().text(text)


def mask_data(obj: Any) -> Any:
    """A plain copy of `obj` (dicts, lists, strings) with secrets masked."""
    return current().data(obj)


def mask_tree(obj: Any) -> Any:
    """`obj` with secrets masked in every string inside it, types kept (a checkpoint dict).

    Containers are copied only where something changed; tensors and other objects are kept as
    they are. OmegaConf nodes (a module's hparams saved as DictConfig) stay OmegaConf nodes.
    """
    return _tree(obj, current())


def _tree(obj: Any, redactor: Redactor) -> Any:
    if isinstance(obj, str):
        return redactor.text(obj)
    if isinstance(obj, Mapping) or isinstance(obj, (list, tuple)):
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(obj, (DictConfig, ListConfig)):
            plain = OmegaConf.to_container(obj, resolve=False)
            masked = _tree(plain, redactor)
            return obj if masked == plain else OmegaConf.create(masked)
    if isinstance(obj, Mapping):
        items = {
            k: MASK if isinstance(v, str) and v and is_secret_key(str(k)) else _tree(v, redactor)
            for k, v in obj.items()
        }
        if all(items[k] is v for k, v in obj.items()):
            return obj
        try:
            return cast(Any, type(obj))(items)  # the same mapping type, for OmegaConf-free callers
        except TypeError:
            return items
    if isinstance(obj, (list, tuple)):
        values = [_tree(v, redactor) for v in obj]
        if all(a is b for a, b in zip(values, obj, strict=True)):
            return obj
        if isinstance(obj, list):
            return type(obj)(values) if type(obj) is not list else values
        try:
            return type(obj)(*values) if hasattr(obj, "_fields") else type(obj)(values)
        except TypeError:
            return tuple(values)
    return obj


class MaskedStream:
    """A text stream that masks secrets in what is written to it, one line at a time.

    Printed YAML (`--cfg job`) stays YAML: a value that now starts with *** is quoted.

    Lines are complete before they are masked (a secret split over two `write` calls is still
    found); `flush` writes out a pending partial line (progress bars end lines with `\\r`).
    """

    def __init__(self, raw: TextIO) -> None:
        self._raw = raw
        self._pending = ""
        self._lock = threading.RLock()

    @property
    def raw(self) -> TextIO:
        return self._raw

    def write(self, text: str) -> int:
        if show_secrets():
            return self._raw.write(text)
        with self._lock:
            self._pending += text
            cut = max(self._pending.rfind("\n"), self._pending.rfind("\r"))
            if cut >= 0 or len(self._pending) > _MAX_PENDING:
                end = len(self._pending) if cut < 0 else cut + 1
                head, self._pending = self._pending[:end], self._pending[end:]
                self._raw.write(current().yaml(head))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                head, self._pending = self._pending, ""
                self._raw.write(current().yaml(head))
        self._raw.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, buffer, ...
        return getattr(self._raw, name)


def _masked_record_factory(original: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = original(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format: logging reports it as it would without us
            return record
        redactor = current()
        masked = redactor.text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # handlers render exc_text when set: the traceback, masked once, for every handler
            record.exc_text = redactor.text(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redactor.text(record.stack_info)
        return record

    factory.lalm_masking = True  # type: ignore[attr-defined]
    return factory


def guard(*sources: Any) -> None:
    """Mask secrets in everything this process prints or logs from now on (idempotent).

    `sources` (a job's config, override lists) name further secrets, as for `learn`.
    """
    global _factory_installed
    learn(*sources)
    with _lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, MaskedStream):
                setattr(sys, name, MaskedStream(stream))
        factory = logging.getLogRecordFactory()
        if not getattr(factory, "lalm_masking", False):
            logging.setLogRecordFactory(_masked_record_factory(factory))
            _factory_installed = True
