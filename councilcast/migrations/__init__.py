"""Schema migrations, one module per area (core, voting, broadcast, plan).

Each module defines ``AREA`` (defaults to its name) and ``STEPS``: an append-only list
of SQL scripts or callables ``step(conn)``. :meth:`councilcast.storage.Database.open`
applies the ones not yet recorded in ``schema_migrations``, each in its own transaction.
"""
