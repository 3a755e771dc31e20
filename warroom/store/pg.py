"""The decision log in PostgreSQL: many consoles on many hosts share one launch's log (see docs/store.md).

One database holds many launches. Each event is a row holding its exact JSON line (the bytes the file
log would hold) with its (seq, prev, hash); `UNIQUE (launch, prev)` and the primary key (launch, seq)
mean the chain can never fork. An append is one statement, so one transaction: it moves the launch's
head from the (seq, hash) it last saw to the new one and inserts the events only if the head was
still there; a writer that lost the race re-reads the head and tries again. It returns once the
statement has committed: durable means committed. A connection lost mid-append is checked on
reconnect (did our first event's hash commit?), so an event is never reported as not recorded when
it was, nor written twice.

Followers LISTEN on one channel and read `seq > last` when woken, with a slow poll in case a
notification was lost (a reconnect) and a catch-up on every reconnect. Leases (the recorder, the
rollback) are rows with an expiry kept on the server's clock and a term that increases on every
takeover; an append made under a lease checks, in the same statement, that the lease row still has
its term and token, and locks that row while it does, so a holder that was paused or cut off past
its expiry cannot append after another took over. The role the server authenticated
(`session_user`) is recorded with every event and lease by a trigger, not taken from the client.

Passwords come from libpq's own places (PGPASSWORD, ~/.pgpass, PGPASSFILE) or the `store:` config
key's password_env / password_file; a URI holding a password is refused, so it never reaches a log.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import select
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from warroom.core.bounds import ImplausibleTime, clock_problem, follow_tail
from warroom.core.events import GENESIS, Actor, BadLine, Event, decode
from warroom.store.base import Fenced, OutcomeUnknown, StoreUnavailable
from warroom.store.log import LogCorrupt, VerifyProblem, VerifyResult, chain_problem, encode_batch, verify_chunks
from warroom.store.paths import data_dir

DB_SCHEMA = 1  # the tables' version, in warroom_meta; bump with a migration
CHANNEL = "warroom_log"
LEASE_TTL = 3.0  # seconds a lease lives without renewal (recorder takeover after a SIGKILL is about this)
RENEW_EVERY = 1.0
POLL_FALLBACK = 2.0  # seconds between reads when no notification came (one could be lost across a reconnect)
RECONNECT_EVERY = 1.0  # a follower or lease that lost its connection tries again this often
APPEND_RETRY = 2.0  # seconds an append keeps trying to reach the database before it says it could not
APPEND_RETRY_FENCED = 0.5  # the recorder's (fenced) appends: it drops what it cannot write, and must not stall
CONNECT_TIMEOUT = 2
PAGE = 5000

SCHEMA_SQL = f"""
CREATE TABLE warroom_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE warroom_launch (
    launch text PRIMARY KEY,
    head_seq bigint NOT NULL DEFAULT 0,
    head_hash text NOT NULL DEFAULT '{GENESIS}',
    head_ts double precision NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    role text NOT NULL DEFAULT session_user
);
CREATE TABLE warroom_event (
    launch text NOT NULL REFERENCES warroom_launch (launch),
    seq bigint NOT NULL CHECK (seq > 0),
    prev text NOT NULL,
    hash text NOT NULL,
    line bytea NOT NULL,
    role text NOT NULL DEFAULT session_user,
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (launch, seq),
    UNIQUE (launch, prev)
);
CREATE TABLE warroom_lease (
    launch text NOT NULL,
    name text NOT NULL,
    term bigint NOT NULL,
    token text NOT NULL,
    holder text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    role text NOT NULL DEFAULT session_user,
    expires timestamptz NOT NULL,
    PRIMARY KEY (launch, name)
);
CREATE FUNCTION warroom_session_role() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.role := session_user;  -- what the server authenticated, whatever the client sent
    RETURN NEW;
END $$;
CREATE TRIGGER warroom_event_role BEFORE INSERT OR UPDATE ON warroom_event
    FOR EACH ROW EXECUTE FUNCTION warroom_session_role();
CREATE TRIGGER warroom_lease_role BEFORE INSERT OR UPDATE ON warroom_lease
    FOR EACH ROW EXECUTE FUNCTION warroom_session_role();
CREATE TRIGGER warroom_launch_role BEFORE INSERT ON warroom_launch
    FOR EACH ROW EXECUTE FUNCTION warroom_session_role();
INSERT INTO warroom_meta VALUES ('schema', '{DB_SCHEMA}');
"""


def usable(conn: Any, opener: Callable[[], Any]) -> Any:
    """`conn` if it can still be used, else a new connection (the dead one closed first, quietly)."""
    if conn is not None and not conn.closed and not conn.broken:
        return conn
    with contextlib.suppress(Exception):
        if conn is not None:
            conn.close()
    return opener()


class Unreachable(StoreUnavailable):
    """The database could not be reached (refused, timed out, authentication failed): worth trying again."""


class PgSpecError(ValueError):
    """A --log URI or store: key that cannot be used, with what to do instead."""


def is_uri(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True)
class PgSpec:
    """Where a launch's log lives: a libpq URI (no password), the launch id, and where its password comes from."""

    uri: str
    launch: str
    password_env: str | None = None
    password_file: str | None = None

    @property
    def shown(self) -> str:
        return f"{self.uri}#{self.launch}"

    def __str__(self) -> str:
        return self.shown

    def password(self) -> str | None:
        if self.password_env:
            value = os.environ.get(self.password_env)
            if not value:
                raise StoreUnavailable(errno.EACCES, f"{self.uri}: environment variable {self.password_env} is not set")
            return value.strip()
        if self.password_file:
            try:
                with open(os.path.expanduser(self.password_file), encoding="utf-8") as f:
                    return f.read().strip()
            except OSError as e:
                raise StoreUnavailable(
                    errno.EACCES, f"{self.uri}: cannot read the password file {self.password_file}: {e.strerror or e}"
                ) from None
        return None


def parse_uri(
    text: str, launch_id: str | None = None, *, password_env: str | None = None, password_file: str | None = None
) -> PgSpec:
    """`postgresql://USER@HOST:PORT/DB#LAUNCH_ID`; the launch may come from the config instead of the `#` part."""
    parts = urlsplit(text)
    if parts.password is not None:
        raise PgSpecError(
            "the PostgreSQL URI holds a password; warroom never puts one on a command line or in a log: "
            "use PGPASSWORD, ~/.pgpass, or the store: key's password_env / password_file"
        )
    launch = unquote(parts.fragment) or launch_id
    if not launch:
        raise PgSpecError(
            f"{text}: which launch? add it after '#' (postgresql://USER@HOST:PORT/DB#LAUNCH_ID), or pass --config"
        )
    if not parts.path.strip("/"):
        raise PgSpecError(f"{text}: no database named; postgresql://USER@HOST:PORT/DB#LAUNCH_ID")
    uri = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
    return PgSpec(uri, launch, password_env, password_file)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreUnavailable(
            errno.ENOPKG,
            "the PostgreSQL store needs psycopg: pip install 'warroom[pg]' (the file log needs nothing more)",
        ) from None
    return psycopg


def connect(spec: PgSpec, *, autocommit: bool = True) -> Any:
    """A connection, or StoreUnavailable saying why (the message never holds a password)."""
    psycopg = _psycopg()
    kw: dict[str, Any] = {
        "autocommit": autocommit,
        "connect_timeout": CONNECT_TIMEOUT,
        "application_name": f"warroom pid {os.getpid()}",  # which console a DBA sees (and a test ends)
        # a server that vanished (cable, host down) is noticed in seconds, not at TCP's two hours
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
    }
    pw = spec.password()
    if pw is not None:
        kw["password"] = pw
    try:
        return psycopg.connect(spec.uri, **kw)
    except psycopg.Error as e:
        raise Unreachable(errno.ECONNREFUSED, f"{spec.uri}: the database cannot be reached: {_why(e)}") from None


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _broken(e: BaseException) -> bool:
    """A lost or unusable connection (try again on a new one), as against a statement the server refused."""
    psycopg = _psycopg()
    return isinstance(e, Unreachable | psycopg.OperationalError | psycopg.InterfaceError)


def _unanswered(e: BaseException) -> bool:
    """A statement sent and no answer: the connection was lost, not refused (Unreachable) nor answered with an
    error by the server (a SQLSTATE: a shutdown's "terminating connection" is one; its transaction did not
    commit). Only then may it have committed unseen."""
    return not isinstance(e, Unreachable) and getattr(e, "sqlstate", None) is None


def ensure_schema(conn: Any, spec: PgSpec, *, create: bool) -> None:
    """Create the tables on first use (one process at a time); refuse a schema of another version, saying so."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('warroom schema'))")
        exists = conn.execute("SELECT to_regclass('warroom_meta') IS NOT NULL").fetchone()[0]
        if not exists:
            if not create:
                raise StoreUnavailable(errno.ENOENT, f"{spec.uri}: no warroom log in this database (nothing recorded)")
            conn.execute(SCHEMA_SQL)
            return
        row = conn.execute("SELECT value FROM warroom_meta WHERE key = 'schema'").fetchone()
    version = int(row[0]) if row else 0
    if version != DB_SCHEMA:
        older = version < DB_SCHEMA
        raise StoreUnavailable(
            errno.EPROTO,
            f"{spec.uri}: this database holds warroom's log schema version {version}, and this warroom uses "
            f"version {DB_SCHEMA}: "
            + (
                "it was made by an older warroom; copy each launch out with that version's 'warroom log copy' "
                "and into a new database"
                if older
                else "it was made by a newer warroom; use that version"
            ),
        )


class PgReader:
    """A launch's log in PostgreSQL, for reading (nothing is created)."""

    def __init__(self, spec: PgSpec, *, create: bool = False):
        self.spec = spec
        self.launch = spec.launch
        self._conn: Any = None
        self._create = create
        self._conn = self._connect()
        self.role: str = self._conn.execute("SELECT session_user").fetchone()[0]

    def _connect(self) -> Any:
        conn = connect(self.spec)
        try:
            ensure_schema(conn, self.spec, create=self._create)
        except BaseException:
            conn.close()
            raise
        return conn

    def _db(self) -> Any:
        self._conn = usable(self._conn, self._connect)
        return self._conn

    @property
    def name(self) -> str:
        return self.spec.shown

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> PgReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def exists(self) -> bool:
        return (
            self._db().execute("SELECT 1 FROM warroom_launch WHERE launch = %s", (self.launch,)).fetchone() is not None
        )

    def rows(self, after: int = 0) -> Iterator[tuple[int, bytes]]:
        """(seq column, exact line) in seq order, a page at a time (no long transaction)."""
        last = after
        while True:
            try:
                page = (
                    self._db()
                    .execute(
                        "SELECT seq, line FROM warroom_event WHERE launch = %s AND seq > %s ORDER BY seq LIMIT %s",
                        (self.launch, last, PAGE),
                    )
                    .fetchall()
                )
            except Exception as e:
                if _broken(e):
                    raise StoreUnavailable(errno.ECONNRESET, f"{self.name}: lost the database: {_why(e)}") from None
                raise
            for seq, line in page:
                yield int(seq), bytes(line)
            if len(page) < PAGE:
                return
            last = int(page[-1][0])

    def lines(self) -> Iterator[bytes]:
        for _seq, line in self.rows():
            yield line

    def events(self, after: int = 0) -> Iterator[Event]:
        """Chain-checked from the top (or from `after`, trusting the event there): LogCorrupt at the first break."""
        seq, prev = after, GENESIS
        if after:
            row = (
                self._db()
                .execute("SELECT hash FROM warroom_event WHERE launch = %s AND seq = %s", (self.launch, after))
                .fetchone()
            )
            prev = row[0] if row else GENESIS
        for n, (col, line) in enumerate(self.rows(after), after + 1):
            try:
                ev = decode(line)
            except BadLine as e:
                problem = VerifyProblem(seq + 1, n, str(e))
                raise LogCorrupt(str(problem), problem) from None
            if ev.seq != seq + 1 or ev.prev != prev or col != ev.seq:
                problem = chain_problem(ev.seq, seq + 1, n)
                raise LogCorrupt(str(problem), problem)
            seq, prev = ev.seq, ev.hash
            yield ev

    def head(self) -> tuple[int, str]:
        row = (
            self._db()
            .execute("SELECT head_seq, head_hash FROM warroom_launch WHERE launch = %s", (self.launch,))
            .fetchone()
        )
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def verify(self) -> VerifyResult:
        """The file's check over the stored lines; then the head and the seq column must agree with them."""

        def chunks() -> Iterator[bytes]:
            buf: list[bytes] = []
            for line in self.lines():
                buf.append(line)
                if len(buf) >= PAGE:
                    yield b"\n".join(buf) + b"\n"
                    buf = []
            if buf:
                yield b"\n".join(buf) + b"\n"

        res = verify_chunks(chunks())
        if res.problem is None:
            seq, digest = self.head()
            bad = (
                self._db()
                .execute(
                    "SELECT count(*) FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM warroom_event "
                    "WHERE launch = %s) s WHERE seq <> n",
                    (self.launch,),
                )
                .fetchone()[0]
            )
            if bad:
                res.problem = VerifyProblem(res.count, res.count, "the stored seq numbers have gaps")
            elif (seq, digest) != (res.count, res.last_hash):
                res.problem = VerifyProblem(
                    res.count, res.count, f"the launch's recorded head (seq {seq}) is not its last event"
                )
        return res

    def roles(self) -> dict[int, str]:
        """The role the server authenticated for each event (by seq)."""
        return {
            int(s): str(r)
            for s, r in self._db()
            .execute("SELECT seq, role FROM warroom_event WHERE launch = %s ORDER BY seq", (self.launch,))
            .fetchall()
        }


class PgLog(PgReader):
    """A launch's log in PostgreSQL, open for appending: the writer side of base.py."""

    def __init__(self, spec: PgSpec, actor: Actor, clock: Callable[[], float] = time.time):
        try:
            super().__init__(spec, create=True)
            self._db().execute("INSERT INTO warroom_launch (launch) VALUES (%s) ON CONFLICT DO NOTHING", (self.launch,))
        except _psycopg().errors.InsufficientPrivilege as e:  # a role that may read but not write: say so
            self.close()
            raise StoreUnavailable(
                errno.EACCES, f"{spec.shown}: this database role may not write the log: {_why(e)}"
            ) from None
        self.actor = actor
        self.clock = clock
        self._lock = threading.Lock()
        self._head = self._read_head()
        self.retries = 0  # lost races, for tests and the bench
        self._down = False  # the last append found the database unreachable: the next tries once, not for seconds
        self.recovered_torn = 0  # nothing to recover: a statement commits whole or not at all

    def _read_head(self) -> tuple[int, str, float]:
        row = (
            self._db()
            .execute("SELECT head_seq, head_hash, head_ts FROM warroom_launch WHERE launch = %s", (self.launch,))
            .fetchone()
        )
        return int(row[0]), str(row[1]), float(row[2])

    def append(self, kind: str, data: dict[str, Any] | None = None, actor: Actor | None = None) -> Event:
        return self.append_many([(kind, data)], actor)[0]

    def append_many(
        self, items: Sequence[tuple[str, dict[str, Any] | None]], actor: Actor | None = None, *, fence: Any = None
    ) -> list[Event]:
        """Append in one transaction; returns once committed. Fenced if `fence` (a PgLease) was taken over;
        StoreUnavailable if the database cannot be reached within APPEND_RETRY (then nothing was recorded);
        OutcomeUnknown if it went away after the statement was sent and was not back to say whether it committed."""
        if not items:
            return []
        now = self.clock()
        why = clock_problem(now)
        if why is not None:
            raise ImplausibleTime(errno.ERANGE, f"{self.name}: not recorded: {why}")
        who = actor or self.actor
        batch = [(kind, data, who) for kind, data in items]
        if fence is not None and not isinstance(fence, PgLease):
            raise TypeError("a PostgreSQL log is fenced by a PgLease")
        with self._lock:
            return self._append(batch, now, fence)

    def _append(
        self, batch: list[tuple[str, dict[str, Any] | None, Actor]], now: float, fence: PgLease | None
    ) -> list[Event]:
        # the recorder (fenced) drops what it cannot write and says so later: it need not wait as long as a person
        deadline = time.monotonic() + (APPEND_RETRY_FENCED if fence is not None else APPEND_RETRY)
        while True:
            seq, prev, head_ts = self._head
            out, lines = encode_batch(batch, seq, prev, follow_tail(now, head_ts))
            try:
                moved, fenced = self._try(out, lines, seq, prev, fence)
            except Exception as e:
                if not _broken(e):
                    raise
                gone = StoreUnavailable(
                    errno.ECONNRESET, f"{self.name}: not recorded: the database cannot be reached ({_why(e)})"
                )
                if isinstance(e, Unreachable) and self._down:  # still down, and nothing was sent: say so at once
                    raise gone from None
                sent = _unanswered(e)  # the statement may have reached the server and committed
                landed = self._landed(out[0], deadline)
                if landed:
                    self._down = False
                    return out
                if time.monotonic() >= deadline:
                    self._down = True
                    if sent and landed is None:  # nobody can tell whether it committed: never "not recorded"
                        raise OutcomeUnknown(
                            errno.ECONNRESET,
                            f"{self.name}: not confirmed: the database went away before it said whether this was "
                            f"recorded ({_why(e)}); it may be: the log tells, once the database is back",
                            out,
                        ) from None
                    raise gone from None
                time.sleep(0.1)
                continue
            self._down = False
            if fenced:
                assert fence is not None
                fence.lost()
                raise Fenced(
                    errno.EPERM,
                    f"{self.name}: not recorded: the {fence.lease_name} lease (term {fence.term}) was taken over",
                )
            if moved:
                last = out[-1]
                self._head = (last.seq, last.hash, last.ts)
                return out
            self.retries += 1  # another writer appended first: continue from its head
            self._head = self._read_head()

    def _try(
        self, out: list[Event], lines: list[bytes], seq: int, prev: str, fence: PgLease | None
    ) -> tuple[bool, bool]:
        """One statement, so one transaction: move the head if it is still (seq, prev), insert, notify."""
        last = out[-1]
        fence_cte = ""
        fence_cond = ""
        params: dict[str, Any] = {
            "l": self.launch,
            "seq": last.seq,
            "hash": last.hash,
            "ts": last.ts,
            "old_seq": seq,
            "old_hash": prev,
            "seqs": [e.seq for e in out],
            "prevs": [e.prev for e in out],
            "hashes": [e.hash for e in out],
            "lines": [ln[:-1] for ln in lines],  # stored without the newline, as the file's reader yields them
        }
        if fence is not None:
            fence_cte = (
                "fence AS (SELECT 1 FROM warroom_lease WHERE launch = %(l)s AND name = %(fname)s "
                "AND term = %(term)s AND token = %(token)s FOR SHARE), "
            )
            fence_cond = " AND EXISTS (SELECT 1 FROM fence)"
            params.update(fname=fence.lease_name, term=fence.term, token=fence.token)
        sql = (
            "WITH "
            + fence_cte
            + "upd AS (UPDATE warroom_launch SET head_seq = %(seq)s, head_hash = %(hash)s, head_ts = %(ts)s "
            "WHERE launch = %(l)s AND head_seq = %(old_seq)s AND head_hash = %(old_hash)s"
            + fence_cond
            + " RETURNING 1), "
            "ins AS (INSERT INTO warroom_event (launch, seq, prev, hash, line) "
            "SELECT %(l)s, s, p, h, ln FROM unnest(%(seqs)s::bigint[], %(prevs)s::text[], %(hashes)s::text[], "
            "%(lines)s::bytea[]) AS t(s, p, h, ln) WHERE EXISTS (SELECT 1 FROM upd) RETURNING 1) "
            "SELECT (SELECT count(*) FROM upd), "
            + ("(SELECT count(*) FROM fence), " if fence is not None else "1, ")
            + "(SELECT count(*) FROM ins), "
            "CASE WHEN EXISTS (SELECT 1 FROM upd) THEN pg_notify(%(chan)s, %(l)s) END"
        )
        params["chan"] = CHANNEL
        row = self._db().execute(sql, params).fetchone()
        moved, fence_ok = bool(row[0]), bool(row[1])
        return moved, (not fence_ok and not moved)

    def _landed(self, first: Event, deadline: float) -> bool | None:
        """After a lost connection: did our statement commit before it went? (Then it is recorded: say so.)
        None if the database could not be asked before `deadline`."""
        while time.monotonic() < deadline:
            try:
                row = (
                    self._db()
                    .execute(
                        "SELECT 1 FROM warroom_event WHERE launch = %s AND seq = %s AND hash = %s",
                        (self.launch, first.seq, first.hash),
                    )
                    .fetchone()
                )
            except Exception as e:
                if not _broken(e):
                    raise
                time.sleep(0.1)
                continue
            self._head = self._read_head()
            return row is not None
        return None

    @property
    def side_base(self) -> Path:
        """`$XDG_DATA_HOME/warroom/pg/<launch>-<digest of the URI>`: this host's crash marker for the launch."""
        digest = hashlib.sha256(self.spec.shown.encode()).hexdigest()[:12]
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.launch)[:64]
        where = data_dir() / "pg"
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        return where / f"{safe}-{digest}"

    def follower(self) -> PgFollower:
        return PgFollower(self.spec)

    def lease(self, name: str, holder: Actor | None = None) -> PgLease:
        return PgLease(self.spec, name, holder or self.actor)

    def import_lines(self, lines: Iterator[bytes]) -> int:
        """Copy a verified log's exact lines into this (empty) launch, in one transaction; returns the count."""
        conn = connect(self.spec, autocommit=False)
        n = 0
        try:
            with conn.transaction():
                row = conn.execute(
                    "SELECT head_seq FROM warroom_launch WHERE launch = %s FOR UPDATE", (self.launch,)
                ).fetchone()
                if row is None or int(row[0]) != 0:
                    raise StoreUnavailable(
                        errno.EEXIST, f"{self.name}: this launch already holds events; copy into a new launch id"
                    )
                seq, prev, ts = 0, GENESIS, 0.0
                buf: list[tuple[str, int, str, str, bytes]] = []
                with conn.cursor() as cur:
                    for line in lines:
                        ev = decode(line)
                        if ev.seq != seq + 1 or ev.prev != prev:
                            problem = chain_problem(ev.seq, seq + 1, seq + 1)
                            raise LogCorrupt(str(problem), problem)
                        seq, prev, ts = ev.seq, ev.hash, ev.ts
                        buf.append((self.launch, ev.seq, ev.prev, ev.hash, line))
                        if len(buf) >= PAGE:
                            cur.executemany(
                                "INSERT INTO warroom_event (launch, seq, prev, hash, line) VALUES (%s, %s, %s, %s, %s)",
                                buf,
                            )
                            buf = []
                    if buf:
                        cur.executemany(
                            "INSERT INTO warroom_event (launch, seq, prev, hash, line) VALUES (%s, %s, %s, %s, %s)", buf
                        )
                    n = seq
                conn.execute(
                    "UPDATE warroom_launch SET head_seq = %s, head_hash = %s, head_ts = %s WHERE launch = %s",
                    (seq, prev, ts, self.launch),
                )
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.launch))
        finally:
            conn.close()
        self._head = self._read_head()
        return n


class PgFollower:
    """New events of one launch: woken by NOTIFY, read as `seq > last`, chain-checked, reconnecting on its own.

    `poll()` never blocks (the console calls it on a timer); `wait(timeout)` blocks until woken.
    `problem` says why the database cannot be read just now (None when it can).
    """

    def __init__(self, spec: PgSpec, seq: int = 0, prev: str = GENESIS):
        self.spec = spec
        self.seq = seq
        self.prev = prev
        self.problem: str | None = None
        self.torn = b""  # a database has no torn lines; here so a follower reads the same as a file's
        self._conn: Any = None
        self._next_try = 0.0
        self._last_read = 0.0
        self._woken = True
        self.connects = 0  # connections made so far (a loop waiting on `fileno` re-registers after a reconnect)

    def _ensure(self) -> Any:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        if time.monotonic() < self._next_try:
            return None
        self._next_try = time.monotonic() + RECONNECT_EVERY
        try:
            conn = connect(self.spec)
            conn.add_notify_handler(self._on_notify)  # also sees notifications that arrive during a query
            conn.execute(f"LISTEN {CHANNEL}")
        except Exception as e:
            self.problem = _why(e)
            return None
        self._conn = conn
        self.connects += 1
        self._woken = True  # catch up on whatever was appended while we were away
        return conn

    def _drop(self, e: BaseException) -> None:
        self.problem = f"lost the database: {_why(e)}"
        with contextlib.suppress(Exception):
            self._conn.close()
        self._conn = None

    def poll(self) -> list[Event]:
        conn = self._ensure()
        if conn is None:
            return []
        try:
            self._pump(conn, 0.0)
            if not self._woken and time.monotonic() - self._last_read < POLL_FALLBACK:
                return []
            return self._read(conn)
        except Exception as e:
            if not _broken(e):
                raise
            self._drop(e)
            return []

    def wait(self, timeout: float) -> list[Event]:
        """Block up to `timeout` for new events (returns as soon as there are some)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.poll()
            left = deadline - time.monotonic()
            if got or left <= 0:
                return got
            conn = self._ensure()
            if conn is None:
                time.sleep(min(left, 0.1))
                continue
            try:
                self._pump(conn, min(left, POLL_FALLBACK))
            except Exception as e:
                if not _broken(e):
                    raise
                self._drop(e)

    def _on_notify(self, n: Any) -> None:
        if n.payload == self.spec.launch:
            self._woken = True

    def _pump(self, conn: Any, timeout: float) -> None:
        """Take in what the server sent (waiting up to `timeout` for something): notifications reach
        `_on_notify`. A lost connection raises here, so it is noticed without a query."""
        if timeout > 0:
            select.select([conn.fileno()], [], [], timeout)
        pg = conn.pgconn
        pg.consume_input()
        while (n := pg.notifies()) is not None:
            if n.extra.decode(errors="replace") == self.spec.launch:
                self._woken = True
        if pg.status != 0:  # CONNECTION_OK
            raise _psycopg().OperationalError("the connection to the database was lost")

    def _read(self, conn: Any) -> list[Event]:
        self._woken = False
        self._last_read = time.monotonic()
        rows = conn.execute(
            "SELECT seq, line FROM warroom_event WHERE launch = %s AND seq > %s ORDER BY seq",
            (self.spec.launch, self.seq),
        ).fetchall()
        self.problem = None
        out: list[Event] = []
        for col, line in rows:
            n = self.seq + 1
            try:
                ev = decode(bytes(line))
            except BadLine as e:
                problem = VerifyProblem(n, n, str(e))
                raise LogCorrupt(str(problem), problem) from None
            if ev.seq != n or ev.prev != self.prev or int(col) != ev.seq:
                problem = chain_problem(ev.seq, n, n)
                raise LogCorrupt(str(problem), problem)
            self.seq, self.prev = ev.seq, ev.hash
            out.append(ev)
        return out

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def fileno(self) -> int | None:
        """The socket this follower's notifications arrive on (a loop may wait on it), or None while it has none."""
        conn = self._conn
        if conn is None or conn.closed:
            return None
        return int(conn.fileno())


class PgLease:
    """A lease row (launch, name): one holder at a time across hosts, kept on the server's clock.

    Taking it over from an expired holder increases its term; the holder renews it every RENEW_EVERY
    from a thread, and stops counting itself the holder once a renewal finds the row no longer its own
    or it could not renew before the expiry it was last granted. An append with `fence=` this lease is
    refused by the database once the term moved on, whatever this process believes.
    """

    def __init__(self, spec: PgSpec, name: str, holder: Actor, ttl: float = LEASE_TTL):
        self.spec = spec
        self.lease_name = name
        self.holder = holder
        self.ttl = ttl
        self.token = uuid.uuid4().hex
        self.term = 0
        self._held = False
        self._valid_until = 0.0  # monotonic: past this, we cannot be sure it is still ours
        self._conn: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mu = threading.Lock()

    def _db(self) -> Any:
        self._conn = usable(self._conn, lambda: connect(self.spec))
        return self._conn

    def try_acquire(self) -> bool:
        if self.held:
            return True
        started = time.monotonic()
        try:
            with self._mu:
                row = (
                    self._db()
                    .execute(
                        "INSERT INTO warroom_lease (launch, name, term, token, holder, host, pid, expires) "
                        "VALUES (%s, %s, 1, %s, %s, %s, %s, clock_timestamp() + make_interval(secs => %s)) "
                        "ON CONFLICT (launch, name) DO UPDATE SET term = warroom_lease.term + 1, "
                        "token = EXCLUDED.token, holder = EXCLUDED.holder, host = EXCLUDED.host, pid = EXCLUDED.pid, "
                        "expires = EXCLUDED.expires "
                        "WHERE warroom_lease.expires < clock_timestamp() RETURNING term",
                        (
                            self.spec.launch,
                            self.lease_name,
                            self.token,
                            self.holder.name or self.holder.user,
                            self.holder.host + (f" (ssh from {self.holder.ssh})" if self.holder.ssh else ""),
                            os.getpid(),
                            self.ttl,
                        ),
                    )
                    .fetchone()
                )
        except Exception as e:
            if isinstance(e, StoreUnavailable) or _broken(e):
                self._conn = None
                return False
            raise
        if row is None:
            return False
        self.term = int(row[0])
        self._held = True
        self._valid_until = started + self.ttl
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease {self.lease_name}", daemon=True)
        self._thread.start()
        return True

    def _renew_loop(self) -> None:
        while not self._stop.wait(RENEW_EVERY):
            started = time.monotonic()
            try:
                with self._mu:
                    row = (
                        self._db()
                        .execute(
                            "UPDATE warroom_lease SET expires = clock_timestamp() + make_interval(secs => %s) "
                            "WHERE launch = %s AND name = %s AND term = %s AND token = %s RETURNING term",
                            (self.ttl, self.spec.launch, self.lease_name, self.term, self.token),
                        )
                        .fetchone()
                    )
            except Exception:
                self._conn = None
                if time.monotonic() >= self._valid_until:
                    self._held = False
                    return
                continue
            if row is None:
                self.lost()
                return
            self._valid_until = started + self.ttl

    def lost(self) -> None:
        """The lease is no longer ours (a renewal or a fenced append found it taken over)."""
        self._held = False
        self._stop.set()

    @property
    def held(self) -> bool:
        return self._held and time.monotonic() < self._valid_until

    def holder_text(self) -> str:
        """Who holds it: name, host, pid, the role the server authenticated and the term."""
        if self.held:
            return f"this process (pid {os.getpid()}, term {self.term})"
        try:
            with self._mu:
                row = (
                    self._db()
                    .execute(
                        "SELECT holder, host, pid, role, term, expires > clock_timestamp() FROM warroom_lease "
                        "WHERE launch = %s AND name = %s",
                        (self.spec.launch, self.lease_name),
                    )
                    .fetchone()
                )
        except Exception as e:
            return f"the database cannot be asked who holds it ({_why(e)})"
        if row is None or not row[5]:
            return "its holder let go a moment ago or is just starting; try again"
        holder, host, pid, role, term, _live = row
        return f"{holder} on {host} (pid {pid}, database role {role}, term {term})"

    def release(self) -> None:
        was = self._held
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        self._held = False
        if was:
            with contextlib.suppress(Exception), self._mu:
                self._db().execute(
                    "UPDATE warroom_lease SET expires = clock_timestamp() - interval '1 second' "
                    "WHERE launch = %s AND name = %s AND token = %s",
                    (self.spec.launch, self.lease_name, self.token),
                )
        with contextlib.suppress(Exception):
            if self._conn is not None:
                self._conn.close()
        self._conn = None
