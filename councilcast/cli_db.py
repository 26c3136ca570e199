"""CLI commands of the store of record: ``councilcast db copy``.

``councilcast db copy --from councilcast.db --to postgresql://cc:PASSWORD@db/councilcast``
moves a region's data from its SQLite file to PostgreSQL (the federation's store): every
table, in the order of its foreign keys, with its ids, hashes and audit chains as they are, in
one transaction of the target. The target's tables are created first (its migrations, under
their lock); a target that already holds rows is refused unless ``--replace`` (which deletes
them in the same transaction). After the copy the counts of every table are compared, and
every published round's audit chain is verified on the target (``verify-round``'s check). Run
it with the servers stopped, so that nothing is written to the source meanwhile.
Exit status: 0 when copied and verified, 1 when a check failed, 2 when nothing was copied.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def cmd_copy(args: argparse.Namespace) -> int:
    from councilcast.storage import Database, copy_database
    from councilcast.stores.voting import VotingStore
    from voting.audit import verify_export

    src, dst = Database(args.source), Database(args.target)
    if src.engine == "sqlite":
        from pathlib import Path

        if not Path(args.source).is_file():
            print(f"{args.source}: no such SQLite file", file=sys.stderr)
            return 2
    try:
        src.open()
        dst.open()
    except (ConnectionError, OSError) as exc:
        print(f"cannot open the databases: {exc}", file=sys.stderr)
        src.close()
        return 2
    try:
        try:
            copied = copy_database(src, dst, replace=args.replace)
        except ValueError as exc:
            print(f"nothing copied: {exc}", file=sys.stderr)
            return 2
        for table, n in copied.items():
            print(f"{table}: {n} rows")
        store = VotingStore()
        rounds = dst.read_sync(lambda c: [r["id"] for r in store.list_rounds(c, limit=10**9, breakdown=False)
                                          if r["published_at"]])
        bad = []
        for rid in rounds:
            report = verify_export(dst.read_sync(lambda c, rid=rid: store.export(c, rid)))
            if not report["ok"]:
                bad.append((rid, report["errors"]))
        print(f"copied {sum(copied.values())} rows of {len(copied)} tables from {src.path} to {dst.path}; "
              f"counts equal; {len(rounds) - len(bad)} of {len(rounds)} published rounds verify on the target")
        for rid, errors in bad:
            print(f"ERROR: round {rid}: {'; '.join(errors)}")
        return 1 if bad else 0
    finally:
        dst.close()
        src.close()


def register(subparsers) -> None:
    p = subparsers.add_parser("db", help="the store of record: copy a region's SQLite file to PostgreSQL",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="db_command", metavar="DB_COMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    c = sub.add_parser("copy", help="copy every table of one database into another (SQLite to PostgreSQL)")
    c.add_argument("--from", dest="source", required=True, help="the source: a SQLite file (or a postgresql:// URL)")
    c.add_argument("--to", dest="target", required=True,
                   help="the target: postgresql://user:password@host/dbname (or a SQLite file)")
    c.add_argument("--replace", action="store_true", help="delete the target's rows first (default: refuse a "
                                                          "target that holds any)")
    c.set_defaults(func=cmd_copy)
