"""Database access shared by every unit of work: one Store wraps encode/databases.

SQLite allows one writer: write transactions are serialised in-process, which is exact
and faster than letting deferred transactions collide ("database is locked"). PostgreSQL
runs them concurrently; the domain uses atomic UPDATE ... RETURNING so none is lost.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from databases import Database
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.ddl import DDLElement

NOTIFY_CHANNEL = "groundswell_journal"
T = TypeVar("T")
log = logging.getLogger("groundswell.store")

# Set when a unit of work appends to the journal, so only those commits wake the worker.
_journal_written: ContextVar[bool] = ContextVar("journal_written", default=False)


def mark_journal_written() -> None:
    _journal_written.set(True)


# The campaigns a unit of work changed (their counts, or anything it journals), so that
# what was rendered from them is dropped once it commits (Store.on_campaigns_changed).
_campaigns_changed: ContextVar[set[int] | None] = ContextVar("campaigns_changed", default=None)


# Every Store of this process by database: a commit through one tells the others' listeners.
_stores: weakref.WeakValueDictionary[int, Store] = weakref.WeakValueDictionary()


def mark_campaign_changed(campaign_id: int | None) -> None:
    """Inside Store.write(): the campaign's public state changes with this unit of work."""
    changed = _campaigns_changed.get()
    if changed is not None and campaign_id is not None:
        changed.add(campaign_id)


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; every stored time is UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def async_driver_url(url: str) -> str:
    """The SQLAlchemy async URL for the same database (used by Alembic)."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    if url.startswith(("postgresql:", "postgres:")):
        return "postgresql+asyncpg:" + url.split(":", 1)[1]
    return url


def databases_url(url: str) -> str:
    """encode/databases wants the plain scheme for its default drivers."""
    return (
        url.replace("sqlite+aiosqlite:", "sqlite:")
        .replace("postgresql+asyncpg:", "postgresql:")
        .replace("postgres://", "postgresql://")
    )


class _SQLiteConnectionReuse:
    """Keeps released SQLite connections open for the next unit of work.

    encode/databases has no pool for SQLite: every task's first query opens an aiosqlite
    connection (a new thread) and its last closes it, and closing the last connection to a
    WAL database checkpoints it. This stands in for its SQLitePool (acquire/release), keeps
    up to `size` idle connections and closes the rest. A connection still inside a
    transaction (a rollback that did not run) is closed, never reused; idle ones hold no
    lock, so transactions and their serialising are unchanged.
    """

    def __init__(self, pool: Any, size: int = 16) -> None:
        self._pool = pool  # databases' SQLitePool: acquire() opens, release() closes
        self._size = size
        self._idle: list[Any] = []
        self.open = True  # after disconnect, released connections are closed, not kept

    async def acquire(self) -> Any:
        if self._idle:
            return self._idle.pop()
        return await self._pool.acquire()

    async def release(self, connection: Any) -> None:
        try:
            reusable = self.open and len(self._idle) < self._size and not connection.in_transaction
        except ValueError:  # aiosqlite: the connection is closed already
            reusable = False
        if reusable:
            self._idle.append(connection)
        else:
            await self._pool.release(connection)

    async def close_idle(self) -> None:
        self.open = False
        while self._idle:
            await self._pool.release(self._idle.pop())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)  # what else the backend reads (_memref)


_NOT_CACHEABLE = object()


class Prepared:
    """A statement built once, with named `sa.bindparam`s for what changes per call, and
    compiled once per database: the hot write path's statements, which building and
    keying afresh each time cost more CPU than running them. Call it with the values to
    get what Store's database runs (fetch_one, fetch_val, execute)."""

    def __init__(self, statement: ClauseElement, name: str = "") -> None:
        self.statement = statement
        # What it does, for people reading counts of statements ("INSERT pledges, ...").
        self.name = name or type(statement).__name__
        self._compiled: dict[str, Any] = {}

    def __call__(self, **values: Any) -> _Bound:
        return _Bound(self, values)

    def compiled(
        self, dialect: Any, is_sqlite: bool
    ) -> tuple[Any, str, tuple[str, ...], dict[str, Any]]:
        found: Any = self._compiled.get(dialect.name)
        if found is None:
            compiled: Any = self.statement.compile(
                dialect=dialect, compile_kwargs={"render_postcompile": True}
            )
            # The values written into the statement itself (literals), by bind name.
            defaults = compiled.construct_params(_check=False)
            if is_sqlite:
                names, sql = tuple(compiled.positiontup or ()), compiled.string
            else:
                names = tuple(sorted(defaults))
                sql = compiled.string % {k: f"${i}" for i, k in enumerate(names, start=1)}
            found = (compiled, sql, names, defaults)
            self._compiled[dialect.name] = found
        return found


class _Bound:
    """A Prepared statement with one call's values (not a ClauseElement: encode/databases
    passes it through to the Store's compiler untouched)."""

    __slots__ = ("prepared", "values")

    def __init__(self, prepared: Prepared, values: dict[str, Any]) -> None:
        self.prepared = prepared
        self.values = values

    def __str__(self) -> str:
        return self.prepared.name


class _CompiledStatements:
    """Compiled SQL reused for statements of the same shape.

    encode/databases compiles every SQLAlchemy Core statement afresh, which was about a
    quarter of the pledge path's CPU. This keys compiled statements by SQLAlchemy's own
    cache key (the shape, not the values), as SQLAlchemy's engine does, and binds each
    call's values from the key's extracted parameters. Statements whose SQL text depends
    on their values (expanding IN lists, literal-rendered binds) are compiled every time.
    """

    def __init__(self, is_sqlite: bool, dialect: Any, size: int = 2000) -> None:
        self.is_sqlite = is_sqlite
        self.dialect = dialect
        self.size = size
        self._compiled: dict[Any, Any] = {}

    def install(self, backend: Any) -> None:
        make_connection = backend.connection

        def connection() -> Any:
            conn = make_connection()
            fallback = conn._compile

            def compile_cached(query: Any) -> Any:
                found = self.compile(query)
                return fallback(query) if found is None else found

            conn._compile = compile_cached
            return conn

        backend.connection = connection

    def _lookup(self, query: Any) -> tuple[Any, Any] | None:
        if not isinstance(query, ClauseElement) or isinstance(query, DDLElement):
            return None
        key = query._generate_cache_key()
        if key is None:
            return None
        compiled: Any = self._compiled.get(key.key)
        if compiled is None:
            compiled = query._compiler(
                self.dialect, cache_key=key, compile_kwargs={"render_postcompile": True}
            )
            if any(b.expanding or b.literal_execute for b in compiled.binds.values()):
                compiled = _NOT_CACHEABLE
            if len(self._compiled) >= self.size:
                self._compiled.clear()
            self._compiled[key.key] = compiled
        if compiled is _NOT_CACHEABLE:
            return None
        return compiled, compiled.construct_params(extracted_parameters=key[1])

    def compile(self, query: Any) -> Any:
        if isinstance(query, _Bound):
            return self._compile_bound(query)
        found = self._lookup(query)
        if found is None:
            return None
        compiled, params = found
        processors = compiled._bind_processors
        result_map = compiled._result_columns
        if self.is_sqlite:
            args = [
                processors[k](params[k]) if k in processors else params[k]
                for k in compiled.positiontup
            ]
            return compiled.string, args, result_map, self._sqlite_context(compiled)
        ordered = sorted(params.items())
        mapping = {k: "$" + str(i) for i, (k, _) in enumerate(ordered, start=1)}
        args = [processors[k](v) if k in processors else v for k, v in ordered]
        return compiled.string % mapping, args, result_map

    def _sqlite_context(self, compiled: Any) -> Any:
        """What databases' SQLite backend reads a result's columns by."""
        from databases.backends.sqlite import CompilationContext

        context = self.dialect.execution_ctx_cls()
        context.dialect = self.dialect
        context.result_column_struct = (
            compiled._result_columns,
            compiled._ordered_columns,
            compiled._textual_ordered_columns,
            compiled._ad_hoc_textual,
            compiled._loose_column_name_matching,
        )
        return CompilationContext(context)

    def _compile_bound(self, bound: _Bound) -> Any:
        compiled, sql, names, defaults = bound.prepared.compiled(self.dialect, self.is_sqlite)
        values = bound.values
        processors = compiled._bind_processors
        args = []
        for name in names:
            value = values[name] if name in values else defaults[name]
            args.append(processors[name](value) if name in processors else value)
        if self.is_sqlite:
            return sql, args, compiled._result_columns, self._sqlite_context(compiled)
        return sql, args, compiled._result_columns


class Store:
    def __init__(self, url: str, *, group_commit: bool | None = None) -> None:
        self.url = databases_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        # Confirmations written in batches (pledges.group_commit). By default on SQLite,
        # whose one writer serialises them anyway; on PostgreSQL, measured on one machine,
        # concurrent one-statement confirmations served more (README: Measurements).
        self.group_commit = self.is_sqlite if group_commit is None else group_commit
        options: dict[str, Any] = {"timeout": 30} if self.is_sqlite else {}
        self.database = Database(self.url, **options)
        self._reuse: _SQLiteConnectionReuse | None = None
        if self.is_sqlite:
            backend: Any = self.database._backend
            self._reuse = _SQLiteConnectionReuse(backend._pool)
            backend._pool = self._reuse
        backend_any: Any = self.database._backend
        _CompiledStatements(self.is_sqlite, backend_any._dialect).install(backend_any)
        self._write_lock = asyncio.Lock()
        self._after_commit: list[Callable[[], None]] = []
        self._on_change: list[Callable[[set[int]], None]] = []
        _stores[id(self)] = self
        self._notify_task: asyncio.Task[None] | None = None
        self._notify_again = False
        self._tasks: set[asyncio.Task[Any]] = set()

    async def connect(self) -> None:
        if self._reuse is not None:
            self._reuse.open = True
        await self.database.connect()

    async def disconnect(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._notify_task is not None:
            await self._notify_task
        await self.database.disconnect()
        if self._reuse is not None:
            await self._reuse.close_idle()

    def spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `work` beside the caller (a unit of work it writes for others); disconnect()
        waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each commit that appended events (the worker's wake-up)."""
        self._after_commit.append(callback)

    def on_campaigns_changed(self, callback: Callable[[set[int]], None]) -> None:
        """Call `callback` with the campaigns a unit of work changed, once it has committed
        through any Store of this process on the same database (what this process rendered
        from them is then stale)."""
        self._on_change.append(callback)

    def _campaigns_changed(self, changed: set[int]) -> None:
        for store in list(_stores.values()):
            if store.url == self.url:
                for on_change in store._on_change:
                    on_change(changed)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Database]:
        """One unit of work: a transaction in which a change and its events are written."""
        _journal_written.set(False)
        changed: set[int] = set()
        _campaigns_changed.set(changed)
        if self.is_sqlite:
            # The connection is taken before the lock, so the lock covers the transaction only.
            async with self.database.connection(), self._write_lock, self.database.transaction():
                yield self.database
        else:
            async with self.database.transaction():
                yield self.database
        if changed:
            self._campaigns_changed(changed)
        if _journal_written.get():
            if not self.is_sqlite:
                self._notify_soon()
            for callback in self._after_commit:
                callback()

    def _notify_soon(self) -> None:
        """Wake workers in other processes (LISTEN/NOTIFY). Sent after commit, not inside the
        transaction: a NOTIFY there would hold the campaign's row lock through PostgreSQL's
        serialised notify queue. Commits that land while one is in flight share the next."""
        if self._notify_task is not None and not self._notify_task.done():
            self._notify_again = True
            return
        self._notify_task = asyncio.get_running_loop().create_task(self._send_notifications())

    async def _send_notifications(self) -> None:
        while True:
            self._notify_again = False
            try:
                await self.database.execute(f"NOTIFY {NOTIFY_CHANNEL}")
            except Exception as exc:  # the workers' polling still finds the work
                log.warning("NOTIFY failed: %s", type(exc).__name__)
                return
            if not self._notify_again:
                return

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Database]:
        """Several reads on one connection (SQLite opens one per standalone query)."""
        async with self.database.connection():
            yield self.database

    async def lock_until_commit(self, db: Database, key: str) -> None:
        """Inside write(): hold `key` until the transaction ends, so a read-then-write on it
        is exact. PostgreSQL: a transaction-level advisory lock; SQLite: its single writer."""
        if not self.is_sqlite:
            await db.fetch_val(
                sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0)))
            )

    def insert_or_ignore(self, table: sa.Table) -> Any:
        """INSERT that does nothing on a unique conflict, on either database."""
        if self.is_sqlite:
            return sqlite.insert(table).on_conflict_do_nothing()
        return postgresql.insert(table).on_conflict_do_nothing()

    async def claimable(self, due: sa.Select[Any], *, of: Any = None) -> sa.Select[Any] | None:
        """`due`, ready to take its rows inside a write transaction: on PostgreSQL FOR UPDATE
        SKIP LOCKED (of the table `of` when `due` joins), so concurrent claimers get
        disjoint rows; on SQLite, which has one writer, `due` as it is, or None when a
        cheap look outside the write lock finds nothing (an idle queue never takes it)."""
        if not self.is_sqlite:
            return due.with_for_update(skip_locked=True, of=of)
        if await self.database.fetch_val(due) is None:
            return None
        return due

    async def claim(
        self,
        table: sa.Table,
        due: sa.Select[Any],
        values: dict[str, Any],
        *,
        returning: Sequence[Any] = (),
        of: Any = None,
        then: Callable[[Database, list[Any]], Awaitable[list[Any]]] | None = None,
    ) -> list[Any]:
        """Claim the rows of a lease queue: set `values` (a status and a lease) on the rows
        of `table` whose ids `due` selects, in one write transaction, and return them (the
        `returning` columns, or whole rows). `due` keeps its own order and limit; see
        claimable() for the locking. `then` runs in the same transaction on the claimed
        rows and returns what the claimer gets (it may hand some back)."""
        locked = await self.claimable(due, of=of)
        if locked is None:
            return []
        async with self.write() as db:
            rows = list(
                await db.fetch_all(
                    sa.update(table)
                    .where(table.c.id.in_(locked.scalar_subquery()))
                    .values(**values)
                    .returning(*(returning or [table]))
                )
            )
            return await then(db, rows) if then is not None else rows
