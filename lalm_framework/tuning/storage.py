"""Where a study lives: SQLite in the sweep dir (default), any RDB URL, or a journal file.

Storage specs (`hydra.sweeper.storage`):
  null                      -> sqlite:///<sweep dir>/optuna.db
  journal                   -> journal file <sweep dir>/optuna.journal (shared filesystems, SLURM)
  journal:///abs/path.log   -> that journal file
  sqlite:///x.db, postgresql://..., mysql://...  -> that database (SQLAlchemy URL)
The resolved URL travels to every job (`trial.storage=<url>`), which opens it with `open_storage`.
Open the result with `optuna-dashboard <url>` (SQLite / RDB) or
`optuna-dashboard <path of the journal file>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lalm_framework.errors import UserError

JOURNAL_SCHEME = "journal://"
SQLITE_FILE = "optuna.db"
JOURNAL_FILE = "optuna.journal"
# jobs report intermediate values while the sweeper asks/tells: wait for SQLite's lock, do not fail
SQLITE_TIMEOUT_S = 60


def storage_url(spec: str | None, sweep_dir: str | Path) -> str:
    """The absolute storage URL of a `hydra.sweeper.storage` spec (see module doc)."""
    sweep_dir = Path(sweep_dir).absolute()
    if spec is None or str(spec).strip() in ("", "sqlite"):
        return f"sqlite:///{sweep_dir / SQLITE_FILE}"
    spec = str(spec).strip()
    if spec == "journal":
        return f"{JOURNAL_SCHEME}{sweep_dir / JOURNAL_FILE}"
    if spec.startswith(JOURNAL_SCHEME):
        path = Path(spec[len(JOURNAL_SCHEME) :])
        return f"{JOURNAL_SCHEME}{path.absolute()}"
    if spec.startswith("sqlite:///") and not spec.startswith("sqlite:////") and spec != "sqlite:///:memory:":
        return f"sqlite:///{Path(spec[len('sqlite:///') :]).absolute()}"  # relative: pin to launch dir
    if "://" not in spec:
        raise UserError(
            f"hydra.sweeper.storage='{spec}' is not a storage URL.\n"
            "Use null (SQLite in the sweep dir), journal, journal:///abs/file.log, "
            "or a database URL such as sqlite:///optuna.db or postgresql://user@host/db."
        )
    return spec


def check_storage(url: str) -> None:
    """UserError when a database URL names an unknown database or a driver that is not installed."""
    if storage_path(url) is not None:  # SQLite / journal file: always available
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url).get_dialect().import_dbapi()
    except ArgumentError as e:
        raise UserError(
            f"hydra.sweeper.storage={url}: {e}.\nUse null (SQLite in the sweep dir), journal, "
            "journal:///abs/file.log, or a database URL such as postgresql://user@host/db."
        ) from e
    except ImportError as e:
        raise UserError(
            f"hydra.sweeper.storage={url}: its database driver is not installed ({e}).\n"
            "Install the driver it names, or use the default SQLite storage (hydra.sweeper.storage=null)."
        ) from e


def storage_path(url: str) -> Path | None:
    """The file behind a SQLite / journal URL (None for a database server)."""
    if url.startswith(JOURNAL_SCHEME):
        return Path(url[len(JOURNAL_SCHEME) :])
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url[len("sqlite:///") :])
    return None


def open_storage(url: str) -> Any:
    """An Optuna storage for `url` (as produced by `storage_url`)."""
    import optuna

    path = storage_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith(JOURNAL_SCHEME):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(path)))
    engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else None
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    except SQLAlchemyError as e:  # a server that is down, refuses the login or lacks the database
        from lalm_framework.redaction import Redactor

        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        mask = Redactor.create().text
        raise UserError(
            f"hydra.sweeper.storage={mask(url)}: cannot open the study's database: {mask(reason)}.\n"
            "Start the database server (or fix host, port, user and database in the URL), "
            "or use the default SQLite storage (hydra.sweeper.storage=null)."
        ) from None


def dashboard_command(url: str) -> str:
    """The command that opens this storage in optuna-dashboard (`pip install optuna-dashboard`)."""
    path = storage_path(url)
    if url.startswith(JOURNAL_SCHEME):
        return f"optuna-dashboard {path}"
    return f"optuna-dashboard {url}"
