"""The application's stores: one module per area, each with its SQL and its schema.

A store module holds ``AREA``, ``MIGRATIONS`` (append-only steps applied by
:meth:`councilcast.storage.Database.open`) and the area's queries as synchronous functions
over a DB-API connection, run in the writer thread (``db.write(fn)``) or on a read
connection (``db.read(fn)``). The domain packages hold no SQL; a PostgreSQL store is a
second implementation of the same functions. No SQLite-only call lives outside this
package and :mod:`councilcast.storage`.
"""
