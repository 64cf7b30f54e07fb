"""One job dir, one job: claim it, check that an existing dir holds the same job, clean up.

- `claim(dir)`: create the dir (a short error when it cannot be written) and take its lock for
  the life of the job: a second process that wants the same dir gets a short error naming the
  holder. The lock is an OS file lock (`flock`), so a killed holder releases it at once.
- `check_same_job(dir, cfg)`: a dir that already holds a job's record may only be resumed by the
  same job, i.e. one that computes the same: the same task config RESOLVED (environment variables
  interpolated, `paths.root_dir` = the launch dir that relative paths resolve against; secrets
  masked; the job dir itself left out). Anything else is refused: resuming it would mix two
  jobs' checkpoints, logs and records. `job_key(cfg)` is the fingerprint stored in `run.json`.
- `check_same_data(attempts, fingerprint)`: once the job's data is set up (before a checkpoint
  is restored), its data fingerprint must equal the one the dir's earlier attempts recorded.
- `remove_leftover_temp_files(dirs)`: once the lock is held, temp files of interrupted atomic
  writes (`.last.ckpt.tmp-*`, `.run.json.tmp-*`) can only be leftovers of a killed writer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lalm_framework.errors import UserError
from lalm_framework.redaction import Redactor
from lalm_framework.run_record import load_record

LOCK_NAME = ".lalm.lock"
MAX_DIFFERENCES = 6


@dataclass
class _Held:
    fd: int
    count: int


# job dirs this process holds (re-entrant: `lalm-train` claims the run dir before Hydra writes to
# it, and the runner claims it again for the job)
_HELD: dict[Path, _Held] = {}


def check_writable(directory: Path, what: str = "run dir", fix: str = "hydra.run.dir=<dir>") -> None:
    """UserError unless `directory` is a writable dir or could be created as one; creates nothing."""
    path = Path(directory)
    existing = next((p for p in [path, *path.parents] if p.exists() or p.is_symlink()), Path("/"))
    if not existing.is_dir():
        raise UserError(
            f"Cannot create the {what} '{path}': '{existing}' is a file, not a directory.\nChoose another place: {fix}."
        )
    if not os.access(existing, os.W_OK | os.X_OK):  # also true of read-only mounts, even for root
        reason = "it is on a read-only file system" if _read_only_fs(existing) else "permission denied"
        raise UserError(f"Cannot write the {what} '{path}': {reason}.\nChoose a writable place: {fix}.")


def _read_only_fs(path: Path) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def prepare(directory: Path, what: str = "run dir", fix: str = "hydra.run.dir=<dir>") -> Path:
    """Create `directory` if needed and check that it can be written; UserError naming the problem."""
    path = Path(directory)
    check_writable(path, what, fix)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".lalm-probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise UserError(f"Cannot write the {what} '{path}': {reason}.\nChoose a writable place: {fix}.") from e
    return path


def claim(directory: Path, what: str = "run dir", fix: str = "hydra.run.dir=<dir>") -> None:
    """Take `directory`'s lock for this process (re-entrant); UserError when another process holds it.

    On file systems without `flock` support the lock is skipped (with no error): one process per
    dir then rests on the user.
    """
    import fcntl

    path = prepare(directory, what, fix).resolve()
    held = _HELD.get(path)
    if held is not None:
        held.count += 1
        return
    lock_file = path / LOCK_NAME
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise UserError(
            f"Another process is writing the {what} '{directory}' ({holder}).\n"
            f"Two jobs must never share a dir: wait for it to end, or choose another dir ({fix})."
        ) from None
    except OSError:  # no flock on this file system (some network mounts): run unlocked
        os.close(fd)
        return
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
    _HELD[path] = _Held(fd, 1)


def release(directory: Path) -> None:
    """Give back one claim of `directory`; the lock goes when the last claim does."""
    path = Path(directory).resolve()
    held = _HELD.get(path)
    if held is None:
        return
    held.count -= 1
    if held.count <= 0:
        del _HELD[path]
        os.close(held.fd)  # closing the descriptor releases the flock


@contextlib.contextmanager
def claimed(directory: Path, what: str = "run dir", fix: str = "hydra.run.dir=<dir>") -> Iterator[Path]:
    """`claim` for the duration of a `with` block."""
    claim(directory, what, fix)
    try:
        yield Path(directory)
    finally:
        release(directory)


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "holder unknown"


def task_config(cfg: Any) -> dict[str, Any]:
    """A job's task config as plain data, interpolations unresolved, without the `hydra` node."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        data = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    else:
        data = dict(cfg)
    assert isinstance(data, dict)
    data = {str(k): v for k, v in data.items() if k != "hydra"}
    masked = Redactor.create(data).data(data)
    assert isinstance(masked, dict)
    return masked


# how to run a job, not which job: `trainer.ckpt_path=last` resumes the same job
NOT_THE_JOB = (("trainer", "ckpt_path"),)


# keys of this form hash the resolved config; older records hold a bare hash of the unresolved one
KEY_VERSION = "r2:"
JOB_DIR_MARK = "<job dir>"


def job_key(cfg: Any) -> str | None:
    """The fingerprint of a job: its task config resolved, secrets masked, minus `NOT_THE_JOB`;
    the job dir's own path is left out (a resumed job's dir may be named relatively or not).

    None when the config cannot be resolved here (no job context yet): the job checks itself.
    """
    resolved = resolved_task(cfg)
    if resolved is None:
        return None
    output_dir = (resolved.get("paths") or {}).get("output_dir") if isinstance(resolved.get("paths"), dict) else None
    data = _without_job_dir(_minus_not_the_job(resolved), str(output_dir) if output_dir else None)
    return KEY_VERSION + _hash(data)


def _legacy_key(cfg: Any) -> str:
    """The key of records written before resolved keys (`KEY_VERSION`): the unresolved config."""
    return _hash(_minus_not_the_job(task_config(cfg)))


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _minus_not_the_job(data: dict[str, Any]) -> dict[str, Any]:
    for section, key in NOT_THE_JOB:
        node = data.get(section)
        if isinstance(node, dict):
            node.pop(key, None)
    return data


def _without_job_dir(obj: Any, output_dir: str | None) -> Any:
    if not output_dir:
        return obj
    if isinstance(obj, dict):
        return {k: _without_job_dir(v, output_dir) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_without_job_dir(v, output_dir) for v in obj]
    return obj.replace(output_dir, JOB_DIR_MARK) if isinstance(obj, str) else obj


def resolved_task(cfg: Any) -> dict[str, Any] | None:
    """The task config with every interpolation resolved, secrets masked; None when it cannot be.

    A config that still holds its `hydra` node (before launch) resolves as its job will: Hydra's
    runtime output dir set, `hydra.job.env_set` applied (`job_context`).
    """
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(cfg, DictConfig):
        return task_config(cfg)
    with job_context(cfg) as job:
        try:
            data = {
                str(k): OmegaConf.to_container(v, resolve=True, enum_to_str=True) if OmegaConf.is_config(v) else v
                for k, v in ((k, job[k]) for k in job if k != "hydra")
            }
        except (OmegaConfBaseException, ValueError, KeyError):
            return None
    masked = Redactor.create(data).data(data)
    assert isinstance(masked, dict)
    return masked


@contextlib.contextmanager
def job_context(config: Any) -> Iterator[Any]:
    """A copy of `config` for resolving it as its job will, before the job runs.

    With a `hydra` node: the copy's runtime output dir set (run mode: `hydra.run.dir`), Hydra's
    config pointing at it, and `hydra.job.env_set` in the environment, all undone after.
    """
    import copy

    from omegaconf import DictConfig, OmegaConf, open_dict, read_write

    if not isinstance(config, DictConfig) or "hydra" not in config:
        yield config
        return
    from hydra.core.hydra_config import HydraConfig

    job = copy.deepcopy(config)
    if OmegaConf.is_missing(job.hydra.runtime, "output_dir"):
        with read_write(job.hydra), open_dict(job.hydra):
            job.hydra.runtime.output_dir = os.path.abspath(str(job.hydra.run.dir))
    env_set = {str(k): str(v) for k, v in (job.hydra.job.get("env_set") or {}).items()}
    saved_env = {k: os.environ.get(k) for k in env_set}
    hydra_config = HydraConfig.instance()
    previous = hydra_config.cfg
    hydra_config.set_config(job)
    os.environ.update(env_set)  # as run_job will set them for the job
    try:
        yield job
    finally:
        hydra_config.cfg = previous
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_same_job(directory: Path, cfg: Any, checkpoint_dir: Path | None = None) -> None:
    """Raise UserError unless `directory` is new, or holds a record of this same job (`cfg`).

    A dir with checkpoints but no record cannot be told apart from another job's: refused too.
    """
    directory = Path(directory)
    record = load_record(directory)
    if record is None:
        checkpoints = checkpoint_dir if checkpoint_dir is not None else directory / "checkpoints"
        if list(checkpoints.glob("*.ckpt")) if checkpoints.is_dir() else False:
            raise UserError(
                f"'{directory}' holds checkpoints ({checkpoints}) but no run.json, so it cannot tell which job"
                " wrote them.\nChoose a new dir, or start from one of them in a new dir: trainer.ckpt_path=<ckpt>."
            )
        return
    saved_key = record.get("job_key")
    if saved_key is None:
        return  # a record from before job keys existed resumes as before
    if str(saved_key).startswith(KEY_VERSION):
        key = job_key(cfg)
        if key is None or key == saved_key:
            return  # None: not resolvable here (before launch); the job checks again
    elif saved_key == _legacy_key(cfg):
        return
    # Hydra's saved config of the last attempt is still in place when `lalm-train` checks before
    # launching; inside a job it was rewritten already, and the record's resolved config tells
    changes = _differences(_saved_task_config(directory), task_config(cfg)) or _differences(
        record.get("config") or {}, resolved_task(cfg) or {}
    )
    listing = "; ".join(changes[:MAX_DIFFERENCES]) + (" ..." if len(changes) > MAX_DIFFERENCES else "")
    raise UserError(
        f"'{directory}' holds another job, so this run may not resume it"
        f" (changed: {listing or 'the config'}).\n"
        "Drop hydra.run.dir to get a fresh dir, rerun with the same overrides and config to resume, or start"
        f" from its checkpoint in a new dir: trainer.ckpt_path={directory}/checkpoints/last.ckpt."
    )


def check_same_data(directory: Path, attempts: list[dict[str, Any]], fingerprint: dict[str, Any]) -> None:
    """UserError when `fingerprint` (this attempt's data) differs from the data of the dir's
    earlier attempts: the same config may name other data (a changed folder, a relative path
    from another launch dir), and resuming would continue a model on other data."""
    previous = next((a["data"] for a in reversed(attempts) if isinstance(a.get("data"), dict)), None)
    if previous is None or _comparable(previous) == _comparable(fingerprint):
        return
    changes = _differences(_comparable(previous), _comparable(fingerprint))
    listing = "; ".join(changes[:MAX_DIFFERENCES]) + (" ..." if len(changes) > MAX_DIFFERENCES else "")
    raise UserError(
        f"'{directory}' holds a job trained on other data, so this run may not resume it"
        f" (data changed: {listing}).\n"
        "Drop hydra.run.dir to get a fresh dir, point the config back at the data it used, or start from its"
        f" checkpoint in a new dir: trainer.ckpt_path={directory}/checkpoints/last.ckpt."
    )


def _comparable(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint as run.json holds it (JSON types: tuples are lists), without the `drawn_*`
    counts: they say what one attempt drew from the data, so each attempt's differ on the same data."""
    loaded: dict[str, Any] = json.loads(json.dumps(fingerprint, default=str), object_hook=_without_draws)
    return loaded


def _without_draws(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if not k.startswith("drawn_")}


def _saved_task_config(directory: Path) -> dict[str, Any]:
    """The task config Hydra saved for the dir's last attempt (`.hydra/config.yaml`), or {}."""
    from omegaconf import OmegaConf

    path = directory / ".hydra" / "config.yaml"
    try:
        return task_config(OmegaConf.load(path))
    except Exception:  # unreadable or absent: the differences are then not listed, the refusal stands
        return {}


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """`key: old -> new` for every leaf that differs between two nested configs."""
    out: list[str] = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += _differences(a, b, f"{name}.")
        elif a != b:
            out.append(f"{name}: {_short(a)} -> {_short(b)}")
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    if len(text) <= 40:
        return text
    return "..." + text[-37:] if "/" in text else text[:37] + "..."  # a path differs at its end


def remove_leftover_temp_files(directories: list[Path]) -> list[Path]:
    """Delete temp files that killed atomic writes left in `directories` (lock held); return them."""
    from lalm_framework.utils.files import leftover_temp_files

    removed = []
    for directory in directories:
        for path in leftover_temp_files(Path(directory)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def owned(directory: Path, cfg: Any, checkpoint_dir: Path | None = None) -> Iterator[None]:
    """Hold `directory` for one job: its lock, the same-job check, leftovers of killed writes removed."""
    import logging

    checkpoints = checkpoint_dir if checkpoint_dir is not None else Path(directory) / "checkpoints"
    with claimed(directory):
        check_same_job(directory, cfg, checkpoints)
        for path in remove_leftover_temp_files([Path(directory), checkpoints]):
            logging.getLogger(__name__).info("removed %s, left by an interrupted write", path)
        yield
