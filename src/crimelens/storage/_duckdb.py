"""The embedded DuckDB store: one file, nothing to start.

One writing connection; reader threads get ``con.cursor()``. Schema changes are
numbered SQL files in ``storage/migrations`` applied in order on open and
recorded in ``schema_version``. ``transaction()`` nests: only the outermost
block commits, and any exception rolls the whole block back, so a failed ingest
or a failed service call leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import duckdb
import pandas as pd

from crimelens.domain import CANONICAL_COLUMNS, Area, IncidentTable, TimeWindow
from crimelens.errors import NotFoundError, StoreError, StoreFullError

__all__ = ["DuckDBStore", "IngestRecord", "damage_error", "full_disk_error", "newer_schema_error"]

_INCIDENT_COLUMNS = [*CANONICAL_COLUMNS, "ingest_id", "line"]


@dataclass(frozen=True, slots=True)
class IngestRecord:
    """Provenance of one ingested file."""

    ingest_id: str
    dataset: str
    file: str
    file_sha256: str
    file_bytes: int
    reader: str
    mapping: str | None
    crs_from: str | None
    crs_to: str | None
    transform: str | None
    transform_accuracy_m: float | None
    n_read: int
    n_landed: int
    n_quarantined: int
    started_at: datetime
    finished_at: datetime
    user_name: str
    notes: str | None = None
    #: SHA-256 of the content: the decompressed bytes of a .gz, else the file's own (migration 0014)
    content_sha256: str | None = None
    #: smallest and largest scale factor of crs_to over the landed points (migration 0015; None before)
    crs_scale_min: float | None = None
    crs_scale_max: float | None = None


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    folder = resources.files("crimelens.storage") / "migrations"
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


#: What DuckDB says of a file whose blocks fail their checksums, or that is not a DuckDB file at all.
_DAMAGE = ("Corrupt database file", "not a valid DuckDB database file")


def _damage(exc: BaseException | None) -> duckdb.Error | None:
    """The DuckDB error saying the file is damaged, in ``exc`` or the errors it was raised from."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, duckdb.Error) and any(mark in str(exc) for mark in _DAMAGE):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


_RESTORE = ("restore the latest backup (`crimelens store verify-backup FOLDER`, then `crimelens store restore "
            "FOLDER --to NEW.duckdb`) and check its ledger against an export or a head published earlier "
            "(`crimelens ledger verify --export FILE --public-key HEX`)")


def _damaged(where: str, exc: duckdb.Error) -> StoreError:
    """What a damaged store file (see :data:`_DAMAGE`) is told as: what DuckDB found, and what to do."""
    if _DAMAGE[1] in str(exc):
        return StoreError(
            f"store {where!r} is not a readable DuckDB store: its first bytes are not a DuckDB header ({exc}). "
            "Expected a store file made by crimelens: check the path (--db, CRIMELENS_DB); if it is the store, "
            f"it is damaged: {_RESTORE}"
        )
    return StoreError(
        f"store {where!r} is damaged: DuckDB found a block whose checksum does not match its contents ({exc}). "
        "The file was changed outside DuckDB (a disk or copy fault, or an edit) and the command stopped. "
        f"Expected an undamaged store: do not go on using this file; {_RESTORE}"
    )


def damage_error(where: str, exc: BaseException) -> StoreError | None:
    """The :class:`StoreError` for damage DuckDB found in the store at ``where``, if ``exc`` (or an error
    it was raised from) is DuckDB saying so; ``None`` for any other error.

    For a shell that holds a store open across many requests (the API), where damage surfaces as the
    DuckDB error of whichever query first reads the bad block.
    """
    damage = _damage(exc)
    return _damaged(where, damage) if damage is not None else None


#: What the operating system says (through DuckDB, or Python's own writes) when a disk is full.
_FULL = "No space left on device"


def _full(exc: BaseException | None) -> BaseException | None:
    """The error saying a disk is full, in ``exc`` or the errors it was raised from: DuckDB's
    ``IOException`` of a write, or the ``TransactionException`` of a commit whose log write failed."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or (
                isinstance(exc, duckdb.Error) and _FULL in str(exc)):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def full_disk_error(where: str, exc: BaseException) -> StoreFullError | None:
    """The :class:`StoreFullError` for the store at ``where`` if ``exc`` (or an error it was raised
    from) says the disk is full (``No space left on device``); ``None`` for any other error.

    DuckDB writes a change to the store's write-ahead log (``<store>.wal``) at commit and rolls the
    transaction back when that write fails, so the store holds what it held before the command;
    while the disk stays full, even commands that read fail (each logs its use in the ledger).

    >>> import duckdb
    >>> err = duckdb.IOException('IO Error: Could not write file "/srv/c.duckdb.wal": No space left on device')
    >>> print(full_disk_error("/srv/c.duckdb", err))  # doctest: +ELLIPSIS
    store '/srv/c.duckdb': the disk holding the store is full (IO Error: Could not write file ...). Nothing was lost: ...
    """
    found = _full(exc)
    if found is None:
        return None
    said = str(found).strip() or found.__class__.__name__
    if isinstance(found, OSError) and found.filename:
        said = f"{found.strerror or said}: {found.filename}"
    match = re.search(r'file "([^"]+)"', said)
    named = match.group(1) if match else getattr(found, "filename", None)
    disk = ("the disk holding the store is full" if not named or Path(str(named)).name.startswith(Path(where).name)
            else "a disk this command writes to is full")
    return StoreFullError(
        f"store {where!r}: {disk} ({said}). Nothing was lost: DuckDB "
        "rolled back the unfinished change, so the store holds what it held before this command, and this "
        "command's own work (and its ledger entry) was not saved. Expected free space on that disk: free some "
        "(or move the store, with its .wal, .keys and .evidence beside it, to a bigger disk), then run the "
        "command again; `crimelens ledger verify` checks the store afterwards")


def newer_schema_error(where: str, version: int) -> StoreError | None:
    """The :class:`StoreError` for a store at schema ``version`` when that is newer than this code's
    last migration; ``None`` when this code knows the schema.

    >>> print(newer_schema_error("/srv/c.duckdb", 10_000))  # doctest: +ELLIPSIS
    cannot open store '/srv/c.duckdb': its schema is version 10000, newer than this crimelens (...) knows (its last migration is ...
    """
    from crimelens import __version__

    migrations = _migrations()
    known = migrations[-1][0] if migrations else 0
    if version <= known:
        return None
    return StoreError(
        f"cannot open store {where!r}: its schema is version {version}, newer than this crimelens ({__version__}) "
        f"knows (its last migration is {known}). A newer crimelens made or migrated this store, and this one "
        "could misread it or write rows in a layout it does not expect, so it opens nothing. Expected a store "
        f"at schema {known} or older: upgrade crimelens to the version that wrote the store "
        "(`pip install --upgrade crimelens`), or open a backup made before the upgrade")


def _open_error(where: str, exc: duckdb.Error, *, doing: str = "open") -> StoreError:
    """The :class:`StoreError` for a store that cannot be opened (or migrated), with what to do."""
    if _damage(exc) is not None:
        return _damaged(where, exc)
    full = full_disk_error(where, exc)
    if full is not None:
        return full
    hint = ""
    text = str(exc).lower()
    if "could not set lock" in text or "conflicting lock" in text:
        hint = ("; expected no other process on it: DuckDB lets one process write a store. If "
                "`crimelens serve` runs on it, use the service (the API or the dashboard; backups: "
                "POST /api/store/backup), or stop it first")
    return StoreError(f"cannot {doing} store {where!r}: {exc}{hint}")


class DuckDBStore:
    """The embedded store. Use :meth:`open` as a context manager.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with DuckDBStore.open(pathlib.Path(tempfile.mkdtemp()) / "t.duckdb") as s:
    ...     s.schema_version() >= 1
    True
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str) -> None:
        self.con = con
        self.path = path
        self._depth = 0
        self._owner: int | None = None  # thread that holds the open transaction
        self._lock = threading.RLock()

    # lifecycle --------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> Self:
        """Open (and unless ``read_only``, migrate) the store at ``path``; a :class:`StoreError` when it
        cannot be: held by another process, not a DuckDB file, or damaged (see :meth:`__exit__`)."""
        where = str(path)
        if where != ":memory:":
            Path(where).parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(where, read_only=read_only)
        except duckdb.Error as exc:
            raise _open_error(where, exc) from exc
        store = cls(con, where)
        try:
            newer = store._newer_schema()
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.Error):
                con.close()
            raise _open_error(where, exc) from exc
        if newer is not None:
            with contextlib.suppress(duckdb.Error):
                con.close()
            raise newer
        if not read_only:
            try:
                store._migrate()
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    con.close()
                raise _open_error(where, exc, doing="migrate") from exc
        return store

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Close the store. DuckDB reads most of a file only when a query needs it, so damage it finds
        by checksum can surface in any command, long after :meth:`open`: an error of the block that
        says so becomes the same :class:`StoreError` an open of a damaged file raises."""
        self.close()
        damage = _damage(exc)
        if damage is not None:
            raise _damaged(self.path, damage) from exc
        full = None if exc is None or isinstance(exc, StoreError) else full_disk_error(self.path, exc)
        if full is not None:
            raise full from exc

    def _newer_schema(self) -> StoreError | None:
        """The refusal of a store whose schema is newer than this code's last migration (None if not).

        A newer crimelens may have renamed or dropped columns this one reads: opening such a store
        would fail later with a missing column, or write rows in a layout the newer code does not
        expect. Nothing is read or written before this check.
        """
        has_table = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND table_name = 'schema_version'").fetchall()[0][0]
        if not has_table:
            return None
        found = self.con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]
        return newer_schema_error(self.path, int(found))

    def _migrate(self) -> None:
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        done = {int(r[0]) for r in self.con.execute("SELECT version FROM schema_version").fetchall()}
        for version, name, sql in _migrations():
            if version in done:
                continue
            with self.transaction():
                self.con.execute(sql)
                self.con.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)", [version, name, datetime.now(UTC)]
                )

    def schema_version(self) -> int:
        rows = self.con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()
        return int(rows[0][0]) if rows else 0

    # transactions and raw access ---------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing block; nested blocks join the outermost one."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self.con.execute("BEGIN TRANSACTION")
                self._owner = threading.get_ident()
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._owner = None
                    self.con.execute("ROLLBACK")
                raise
            else:
                self._depth -= 1
                if outer:
                    self._owner = None
                    self.con.execute("COMMIT")

    def in_transaction(self) -> bool:
        """True when the calling thread is inside :meth:`transaction` (its writes would join it)."""
        return self._depth > 0 and self._owner == threading.get_ident()

    def copy_to(self, target: str | Path) -> dict[str, int]:
        """Copy the whole store, consistently, into a new DuckDB file; each table's rows as copied.

        Runs under the store's lock (no write of this process lands half-way) after a
        checkpoint, with DuckDB's ``COPY FROM DATABASE`` (tables, views, sequences at their
        current values). ``target`` must not exist: nothing is ever overwritten.
        """
        dest = Path(target)
        if dest.exists():
            raise StoreError(f"copy of store {self.path!r} to {str(dest)!r}: the file exists; expected a new path "
                             "(a copy never overwrites)")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if self._depth:
                raise StoreError(f"copy of store {self.path!r}: a transaction is open; expected none")
            self.con.execute("CHECKPOINT")
            source = self.con.execute("SELECT current_database()").fetchall()[0][0]
            literal = str(dest).replace("'", "''")
            self.con.execute(f"ATTACH '{literal}' AS crimelens_copy")
            try:
                self.con.execute(f'COPY FROM DATABASE "{source}" TO crimelens_copy')
                tables = [str(r[0]) for r in self.con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = 'crimelens_copy' "
                    "ORDER BY table_name").fetchall()]
                counts = {t: int(self.con.execute(f'SELECT count(*) FROM crimelens_copy."{t}"').fetchall()[0][0])
                          for t in tables}
            finally:
                self.con.execute("DETACH crimelens_copy")
        return counts

    def table_counts(self) -> dict[str, int]:
        """Every table of the store with its row count."""
        with self._lock:
            tables = [str(r[0]) for r in self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "ORDER BY table_name").fetchall()]
            return {t: int(self.con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0]) for t in tables}

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for a reader thread."""
        return self.con.cursor()

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        with self._lock:
            self.con.execute(sql, params or [])

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        with self._lock:
            return self.con.execute(sql, params or []).df()

    def iter_rows(self, sql: str, params: list[Any] | None = None) -> Iterator[tuple[Any, ...]]:
        with self._lock:
            rows = self.con.execute(sql, params or []).fetchall()
        yield from rows

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        with self._lock:
            rows = self.con.execute(sql, params or []).fetchall()  # fetchall: never leave a result half-read
        return rows[0][0] if rows else None

    def insert_frame(self, table: str, frame: Any, columns: list[str] | None = None) -> int:
        """Insert a pandas DataFrame or Arrow table into ``table`` (columns by name)."""
        cols = list(columns if columns is not None else frame.columns if hasattr(frame, "columns") else frame.column_names)
        if len(frame) == 0:
            return 0
        quoted = ", ".join(f'"{c}"' for c in cols)
        with self._lock:
            self.con.register("_crimelens_insert", frame)
            try:
                self.con.execute(f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM _crimelens_insert")
            finally:
                with contextlib.suppress(duckdb.Error):
                    self.con.unregister("_crimelens_insert")
        return len(frame)

    # incidents -------------------------------------------------------------------
    def insert_incidents(self, frame: Any, *, ingest_id: str) -> int:
        """Insert rows in the canonical layout (plus ``line``); ``ingest_id`` is set here."""
        if hasattr(frame, "assign"):
            frame = frame.assign(ingest_id=ingest_id)
        return self.insert_frame("incidents", frame, _INCIDENT_COLUMNS)

    def incidents(
        self,
        *,
        dataset: str | None = None,
        offense: str | list[str] | None = None,
        period: TimeWindow | None = None,
    ) -> IncidentTable:
        where, params = self._incident_filter(dataset, offense, period)
        cols = ", ".join(CANONICAL_COLUMNS)
        frame = self.query(
            f"SELECT {cols} FROM incidents {where} ORDER BY occurred_from, incident_id", params
        )
        return IncidentTable(frame)

    @staticmethod
    def _incident_filter(
        dataset: str | None, offense: str | list[str] | None, period: TimeWindow | None
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if dataset is not None:
            clauses.append("dataset = ?")
            params.append(dataset)
        if offense is not None:
            wanted = [offense] if isinstance(offense, str) else list(offense)
            clauses.append("offense IN (" + ", ".join("?" for _ in wanted) + ")")
            params.extend(wanted)
        if period is not None:
            clauses.append("occurred_from >= ? AND occurred_from < ?")
            params.extend([period.start, period.end])
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    def count_incidents(self, *, dataset: str | None = None) -> int:
        where, params = self._incident_filter(dataset, None, None)
        return int(self.scalar(f"SELECT count(*) FROM incidents {where}", params))

    def existing_ids(self, dataset: str) -> pd.DataFrame:
        return self.query("SELECT incident_id FROM incidents WHERE dataset = ?", [dataset])

    def datasets(self) -> list[str]:
        return [str(r[0]) for r in self.iter_rows("SELECT DISTINCT dataset FROM incidents ORDER BY 1")]

    def dataset_crs(self, dataset: str) -> str:
        crs = self.scalar("SELECT any_value(crs) FROM incidents WHERE dataset = ?", [dataset])
        if crs is None:
            raise NotFoundError(f"dataset {dataset!r}: no incidents in the store {self.path!r}")
        return str(crs)

    # provenance and quarantine ---------------------------------------------------
    def record_ingest(self, record: IngestRecord) -> None:
        row = asdict(record)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self.execute(f"INSERT INTO ingests ({cols}) VALUES ({marks})", list(row.values()))

    def has_ingest_of_size(self, *, dataset: str, file_bytes: int) -> bool:
        """Whether a file of exactly ``file_bytes`` bytes was stored for ``dataset`` (a cheap pre-check)."""
        return bool(self.scalar("SELECT count(*) FROM ingests WHERE dataset = ? AND file_bytes = ?",
                                [dataset, int(file_bytes)]))

    def find_ingest(self, *, file_sha256: str, dataset: str, content_sha256: str | None = None) -> IngestRecord | None:
        """The first ingest into ``dataset`` of this file, or (``content_sha256``) of a file with the
        same content in another packing (a .gz and its unpacked CSV)."""
        frame = self.query(
            "SELECT * FROM ingests WHERE (file_sha256 = ? OR content_sha256 = ?) AND dataset = ? "
            "ORDER BY file_sha256 = ? DESC, started_at LIMIT 1",
            [file_sha256, content_sha256, dataset, file_sha256],
        )
        if frame.empty:
            return None
        row: dict[str, Any] = {str(k): v for k, v in frame.iloc[0].to_dict().items()}
        clean: Any = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        return IngestRecord(**clean)

    def ingests(self) -> pd.DataFrame:
        return self.query("SELECT * FROM ingests ORDER BY started_at")

    def insert_quarantine(self, frame: pd.DataFrame) -> int:
        return self.insert_frame(
            "quarantine", frame, ["ingest_id", "file", "line", "column", "value", "reason", "raw"]
        )

    def quarantine(self, *, ingest_id: str | None = None, limit: int | None = None) -> pd.DataFrame:
        sql = "SELECT * FROM quarantine"
        params: list[Any] = []
        if ingest_id is not None:
            sql += " WHERE ingest_id = ?"
            params.append(ingest_id)
        sql += " ORDER BY ingest_id, line"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.query(sql, params)

    # audit attributes and areas --------------------------------------------------
    def insert_audit_attributes(self, frame: pd.DataFrame) -> int:
        return self.insert_frame(
            "audit_attributes", frame, ["dataset", "incident_id", "name", "value", "ingest_id"]
        )

    def audit_attributes(self, *, dataset: str) -> pd.DataFrame:
        """Audit-only attributes in long form; never pass these to a model."""
        return self.query(
            "SELECT incident_id, name, value FROM audit_attributes WHERE dataset = ? ORDER BY 1, 2",
            [dataset],
        )

    def save_areas(self, dataset: str, areas: list[Area], *, ingest_id: str | None = None) -> int:
        frame = pd.DataFrame(
            {
                "dataset": dataset,
                "area_id": [a.area_id for a in areas],
                "name": [a.name for a in areas],
                "population": pd.array([a.population for a in areas], dtype="Int64"),
                "crs": [a.crs or "" for a in areas],
                "wkt": [a.wkt for a in areas],
                "audit": [json.dumps(dict(a.audit), sort_keys=True) for a in areas],
                "ingest_id": ingest_id,
            }
        )
        with self.transaction():
            self.execute("DELETE FROM areas WHERE dataset = ?", [dataset])
            return self.insert_frame("areas", frame)

    def areas(self, *, dataset: str | None = None) -> list[Area]:
        sql = "SELECT * FROM areas"
        params: list[Any] = []
        if dataset is not None:
            sql += " WHERE dataset = ?"
            params.append(dataset)
        frame = self.query(sql + " ORDER BY dataset, area_id", params)
        out = []
        for r in frame.to_dict("records"):
            pop: Any = r["population"]
            out.append(Area(area_id=str(r["area_id"]), name=str(r["name"]), wkt=str(r["wkt"]),
                            population=None if pd.isna(pop) else int(pop), crs=str(r["crs"]) or None,
                            audit=json.loads(r["audit"]) if isinstance(r["audit"], str) else {}))
        return out
