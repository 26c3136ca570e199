"""The two SQL dialects, SQLite and PostgreSQL: what differs between them, in one place.

Every store function is written once, in the SQL both engines accept (``?`` placeholders,
``INSERT ... ON CONFLICT``, ``RETURNING``, ``IS NOT DISTINCT FROM``), and runs on either
connection: a :class:`SQLiteConnection` (the standard ``sqlite3``) or a :class:`PgConnection`
(psycopg 3), both of which say which they are in ``conn.dialect``. This module makes the
second look like the first:

- :func:`to_psycopg` turns ``?`` and ``:name`` placeholders into psycopg's ``%s`` and
  ``%(name)s`` (and a literal ``%`` into ``%%``), once per statement text (cached);
- :class:`PgConnection` has ``execute`` and ``executemany`` as ``sqlite3`` has, with rows
  that answer both ``row[0]`` and ``row["name"]`` (as ``sqlite3.Row``) and ``numeric``
  (what PostgreSQL's ``SUM`` of integers returns) read back as ``int``;
- :func:`pg_ddl` turns a store's migration step (written for SQLite) into PostgreSQL's:
  64-bit ``INTEGER``, ``DOUBLE PRECISION`` for ``REAL``, ``BYTEA`` for ``BLOB``, text columns
  in the ``"C"`` collation (so that ``ORDER BY`` a text sorts by code point, as SQLite's
  ``BINARY`` does), an identity for ``AUTOINCREMENT``, no ``WITHOUT ROWID``.

What is left is a handful of statements that only one engine has (``json_each``,
``json_group_array``, ``SELECT ... FOR UPDATE``); each store keeps its twin of such a
statement beside the SQLite one, chosen by ``conn.dialect``.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["SQLiteConnection", "PgConnection", "to_psycopg", "pg_ddl", "is_postgres", "redact", "for_update",
           "lock_row", "insert_rows"]

SQLITE, POSTGRESQL = "sqlite", "postgresql"


class SQLiteConnection(sqlite3.Connection):
    """``sqlite3.Connection`` that says its dialect (``sqlite3.connect(..., factory=SQLiteConnection)``)."""

    dialect = SQLITE


def is_postgres(target: str) -> bool:
    """Whether a ``--db`` value names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return str(target).startswith(("postgresql://", "postgres://"))


def redact(target: str) -> str:
    """``target`` fit to show: a PostgreSQL URL without its password (in the netloc or a
    ``password=`` parameter); a file path unchanged.

    >>> redact("postgresql://cc:s3cret@db.example:5432/councilcast?password=x&sslmode=require")
    'postgresql://cc:***@db.example:5432/councilcast?password=***&sslmode=require'
    """
    target = str(target)
    if not is_postgres(target):
        return target
    try:
        parts = urlsplit(target)
    except ValueError:
        return "postgresql://***"
    netloc = parts.netloc
    if "@" in netloc:
        cred, host = netloc.rsplit("@", 1)
        if ":" in cred:
            cred = cred.split(":", 1)[0] + ":***"
        netloc = f"{cred}@{host}"
    query = urlencode([(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)],
                      safe="/*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def for_update(conn, share: bool = False) -> str:
    """``" FOR UPDATE"`` (``" FOR SHARE"``) on PostgreSQL, ``""`` on SQLite, whose writer holds the
    database's only write lock from ``BEGIN IMMEDIATE`` on: appended to a SELECT whose rows a
    transaction reads in order to change them (or to rely on them staying as read), so that
    another process's writer waits for this COMMIT instead of acting on what it read before."""
    if conn.dialect != POSTGRESQL:
        return ""
    return " FOR SHARE" if share else " FOR UPDATE"


def lock_row(conn, table: str, key_column: str, key, share: bool = False) -> None:
    """Lock one row (``table``, ``key_column`` are the store's constants) until this transaction
    ends, on PostgreSQL; nothing on SQLite (see :func:`for_update`)."""
    if conn.dialect == POSTGRESQL:
        conn.execute(f"SELECT 1 FROM {table} WHERE {key_column}=?{for_update(conn, share)}", (key,))


def insert_rows(conn, table: str, columns: list[tuple[str, str]], rows: list[tuple], on_conflict: str = "") -> None:
    """Insert ``rows`` into ``table`` (``columns``: ``(name, PostgreSQL type)``; ``on_conflict``:
    what follows ``ON CONFLICT``, for both engines) in one statement on PostgreSQL, where
    ``executemany`` runs one statement per row, each with its share of psycopg's Python: the
    rows go as one array per column, ``INSERT ... SELECT * FROM unnest(...)``. On SQLite,
    ``executemany`` (in process, no round trips). The rows must not repeat a key that
    ``on_conflict`` updates (one statement may not update a row twice)."""
    if not rows:
        return
    names = ", ".join(name for name, _ in columns)
    tail = f" ON CONFLICT {on_conflict}" if on_conflict else ""
    if conn.dialect != POSTGRESQL:
        conn.executemany(f"INSERT INTO {table}({names}) VALUES ({','.join('?' * len(columns))}){tail}", rows)
        return
    # %b: the arrays in binary, where the text format quotes and escapes every element (JSON
    # text is all quotes: psycopg's escaping took more than the rest of the batch)
    arrays = ", ".join(f"CAST(%b AS {kind}[])" for _, kind in columns)
    conn.raw.execute(f"INSERT INTO {table}({names}) SELECT * FROM unnest({arrays}){tail}",
                     [list(c) for c in zip(*rows)])


# -- placeholders -----------------------------------------------------------------------------
_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|::|\?|:[A-Za-z_]\w*|%""")


@functools.lru_cache(maxsize=4096)
def to_psycopg(sql: str) -> str:
    """SQLite's placeholders as psycopg's, outside quotes and comments.

    >>> to_psycopg("SELECT * FROM t WHERE a=? AND b LIKE '%?' AND c = :r AND d::text = '%'")
    "SELECT * FROM t WHERE a=%s AND b LIKE '%%?' AND c = %(r)s AND d::text = '%%'"
    """
    def sub(m: re.Match) -> str:
        tok = m.group(0)
        if tok == "?":
            return "%s"
        if tok == "%":
            return "%%"
        if tok[0] == ":" and tok != "::":
            return f"%({tok[1:]})s"
        if tok[0] in "'\"":
            return tok.replace("%", "%%")
        return tok
    return _TOKEN.sub(sub, sql)


# -- schema ---------------------------------------------------------------------------------
_DDL = [
    (re.compile(r"--[^\n]*"), ""),
    (re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b", re.I), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"'),
    (re.compile(r"\)\s*WITHOUT\s+ROWID", re.I), ")"),
    (re.compile(re.escape("(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))")),
     "(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"),
]


def pg_ddl(statement: str) -> str:
    """One migration statement written for SQLite, as PostgreSQL's.

    >>> pg_ddl("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, s BLOB) WITHOUT ROWID")
    'CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, at DOUBLE PRECISION, s BYTEA)'
    """
    for pattern, repl in _DDL:
        statement = pattern.sub(repl, statement)
    return statement.strip()


# -- the PostgreSQL connection, shaped as sqlite3's ------------------------------------------
@functools.lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type:
    index = {n: i for i, n in enumerate(names)}

    class Row(tuple):
        """A row as ``sqlite3.Row`` is read: ``row[0]``, ``row["id"]``, ``dict(row)``."""

        __slots__ = ()

        def __getitem__(self, key):
            if isinstance(key, str):
                return tuple.__getitem__(self, index[key])
            return tuple.__getitem__(self, key)

        def keys(self) -> list[str]:
            return list(names)

    return Row


def _row_factory(cursor):
    desc = cursor.description
    if desc is None:
        return tuple
    return _row_class(tuple(c.name for c in desc))


def _numeric_loader():
    from psycopg.types.numeric import NumericLoader

    class IntOrFloat(NumericLoader):
        """``numeric`` as ``int`` when whole (``SUM`` of integers), else ``float`` (as SQLite returns)."""

        def load(self, data):
            d = super().load(data)
            return int(d) if d.is_finite() and d == d.to_integral_value() else float(d)

    return IntOrFloat


class PgConnection:
    """A psycopg 3 connection (autocommit: the writer issues ``BEGIN`` and ``COMMIT`` itself, as on
    SQLite) with ``sqlite3``'s ``execute`` and ``executemany``."""

    dialect = POSTGRESQL

    def __init__(self, url: str, *, readonly: bool = False, application_name: str = "councilcast"):
        import psycopg

        options = "-c default_transaction_read_only=on" if readonly else None
        try:
            self.raw = psycopg.connect(url, autocommit=True, row_factory=_row_factory, options=options,
                                       application_name=application_name, connect_timeout=30)
        except psycopg.Error as exc:  # the driver's message may quote the URL: say it without the password
            raise ConnectionError(f"cannot connect to {redact(url)}: {_scrub(str(exc), url)}") from None
        self.raw.adapters.register_loader("numeric", _numeric_loader())

    def execute(self, sql: str, params=()):
        return self.raw.execute(to_psycopg(sql), params)

    def executemany(self, sql: str, seq):
        cur = self.raw.cursor()
        cur.executemany(to_psycopg(sql), list(seq))
        return cur

    def execute_script(self, sql: str):
        """A statement with no parameters, as written (DDL, ``VACUUM``)."""
        return self.raw.execute(sql)

    @property
    def broken(self) -> bool:
        return self.raw.closed or self.raw.broken

    def close(self) -> None:
        self.raw.close()


def _scrub(message: str, url: str) -> str:
    """A driver's message with the URL's password taken out, wherever it is quoted."""
    try:
        parts = urlsplit(url)
        secrets_ = [parts.password] if parts.password else []
        secrets_ += [v for k, v in parse_qsl(parts.query) if k == "password"]
    except ValueError:
        secrets_ = []
    message = message.replace(url, redact(url))
    for s in secrets_:
        if s:
            message = message.replace(s, "***")
    return message
