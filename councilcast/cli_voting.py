"""CLI commands of the voting area: ``verify-round`` and ``export-round``.

``councilcast verify-round ID`` re-adds a published round from its audit record and checks
the hash chain; it reads the export from a server (``--url``), a file (``--file``, as
written by ``export-round`` or downloaded from ``/api/rounds/ID/audit``) or the local
database (``--db``, default ``COUNCILCAST_DB``). ``--receipt HASH`` also checks that an
assembly's count (the receipt its clerk got) is the one that stands in the published set.
Exit status: 0 when everything checks, 1 when anything does not, 2 when the round cannot
be read.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register", "load_export"]


def load_export(args: argparse.Namespace) -> dict:
    if getattr(args, "file", None):
        with open(args.file, encoding="utf-8") as f:
            return json.load(f)
    if getattr(args, "url", None):
        import urllib.error
        import urllib.request

        url = args.url.rstrip("/") + f"/api/rounds/{args.round}/audit"
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                return json.load(r)
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            raise SystemExit(f"{url}: {exc.code} {body}") from None
    from councilcast.config import Config
    from councilcast.storage import Database
    from voting.rules import VotingError
    from councilcast.stores.voting import VotingStore

    config = Config.from_env(db=getattr(args, "db", None))
    db = Database(config.db)
    db.open()
    try:
        return db.read_sync(lambda c: VotingStore().export(c, args.round))
    except VotingError as exc:
        raise SystemExit(f"round {args.round}: {exc.reason}") from None
    finally:
        db.close()


def cmd_verify(args: argparse.Namespace) -> int:
    from voting.audit import anchor_errors, find_receipt, verify_export

    try:
        export = load_export(args)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    report = verify_export(export)
    if args.kept:
        try:
            with open(args.kept, encoding="utf-8") as f:
                kept = json.load(f)
        except (OSError, ValueError) as exc:
            print(f"{args.kept}: {exc}", file=sys.stderr)
            return 2
        kept_errors = anchor_errors(export, kept)
        report["kept"] = {"anchors": len(kept.get("anchors", [])), "receipts": len(kept.get("receipts", [])),
                          "ok": not kept_errors}
        report["errors"] += kept_errors
        report["ok"] = report["ok"] and not kept_errors
    if args.receipt:
        report["receipt"] = find_receipt(export, args.receipt)
        if not report["receipt"]["counted"]:
            report["ok"] = False
            report["errors"].append("the receipt is not the standing count of its assembly"
                                    if report["receipt"]["found"] else "the receipt is not in the chain")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"round {args.round}: {report['records']} records, {report['assemblies']} assemblies, "
              f"final hash {report['final_hash']}")
        print("totals re-added: " + ", ".join(f"{k} {v}" for k, v in report["totals"].items())
              + f"; abstain {report['abstain']}; present {report['present']}; decision {report['decision']}"
              + (f" ({report['winner']})" if report["winner"] else ""))
        if args.receipt:
            rc = report["receipt"]
            print(f"receipt {args.receipt[:16]}…: " + ("counted" if rc["counted"] else
                                                      "superseded by a recount" if rc["found"] else "NOT FOUND"))
        for e in report["errors"]:
            print("ERROR: " + e)
        print("OK: the chain is intact and the published result re-adds" if report["ok"] else "FAILED")
    return 0 if report["ok"] else 1


def cmd_export(args: argparse.Namespace) -> int:
    try:
        export = load_export(args)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    text = json.dumps(export, indent=1, ensure_ascii=False)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        print(text)
    return 0


def _source_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("round", help="round id, e.g. r-1a2b3c4d5e")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--url", help="read the export from this server (e.g. http://127.0.0.1:8080)")
    g.add_argument("--file", help="read the export from this JSON file")
    g.add_argument("--db", help="read from this SQLite file or postgresql:// URL (env COUNCILCAST_DB, "
                                "default ./councilcast.db)")


def register(subparsers) -> None:
    p = subparsers.add_parser("verify-round", help="re-add a round's totals from its audit record and check the chain")
    _source_flags(p)
    p.add_argument("--receipt", help="a clerk's receipt (record hash): check that this count stands")
    p.add_argument("--kept", help='JSON file {"anchors": [...], "receipts": [...]}: anchors this assembly saw on '
                                  "/ws or the round page and receipts its clerk kept, checked against the chain")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_verify)
    p = subparsers.add_parser("export-round", help="write a published round's audit export (JSON)")
    _source_flags(p)
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_export)
