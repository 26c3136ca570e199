"""``councilcast plan variants|summary|proposals ...`` and ``councilcast verify PATH|URL``.

- ``plan variants ECONOMY [--proposals FILE] [--parameters FILE] [--previous DOC] [--revise DOC] [--json] [--out FILE]``:
  produce a variant set (the published document); ``--revise DOC`` recomputes DOC's
  variants with ECONOMY's data and says what changed and for whom.
- ``plan summary DOC [--variant A] [--workplace ID] [--format text|json|html]``: cards from a
  document (a file or a URL), without recomputing.
- ``plan proposals ECONOMY FILE [--json]``: check proposals together: minimal incompatible
  sets and unintended effects.
- ``verify PATH|URL``: recompute a published document or card from its inputs; exit 0 when
  every number agrees, 1 otherwise (the differences are printed).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def register(plan_subparsers) -> None:
    p = plan_subparsers.add_parser("variants", help="mass-produce plan variants; pick a few; publish as JSON")
    p.add_argument("economy", help="economy: JSON file or sparse folder ('demo' for the bundled one)")
    p.add_argument("--proposals", help="JSON file: a list of proposals (or {\"proposals\": [...]})")
    p.add_argument("--parameters", help="JSON file: parameters (hours, shares, estimates, processes...)")
    p.add_argument("--previous", help="the last published document (file or URL): cards show changes since it")
    p.add_argument("--revise", help="a published document (file or URL) whose variants to recompute with ECONOMY")
    p.add_argument("--json", action="store_true", help="print the whole document as JSON")
    p.add_argument("--out", help="write the document to this file")
    p.set_defaults(func=cmd_variants)

    p = plan_subparsers.add_parser("summary", help="cards of a published variant set as text, JSON or HTML")
    p.add_argument("document", help="a published document (file or URL)")
    p.add_argument("--variant", help="variant name (A, B, ...)")
    p.add_argument("--workplace", help="workplace id")
    p.add_argument("--format", choices=["text", "json", "html"], default="text")
    p.set_defaults(func=cmd_summary)

    p = plan_subparsers.add_parser("proposals", help="check proposals together: incompatible sets, unintended effects")
    p.add_argument("economy", help="economy: JSON file or sparse folder ('demo' for the bundled one)")
    p.add_argument("file", help="JSON file: a list of proposals")
    p.add_argument("--parameters", help="JSON file: parameters (status_quo, threshold_pct)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--submit", metavar="URL", help="also submit them to the server at URL (needs --token)")
    p.add_argument("--token", help="the assembly clerk's token for --submit (or COUNCILCAST_CLERK_TOKEN)")
    p.set_defaults(func=cmd_proposals)


def register_top(subparsers) -> None:
    p = subparsers.add_parser("verify", help="recompute a published plan document or card and report any difference")
    p.add_argument("source", help="PATH or URL of a published variant set or card (JSON)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_verify)


# --------------------------------------------------------------------------- helpers
def _read_json(source: str):
    if source.startswith(("http://", "https://")):
        req = urllib.request.Request(source, headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read().decode())
    return json.loads(Path(source).read_text())


def _economy(source: str):
    from planfactory.formats import load

    if source == "demo":
        from planfactory.demo import demo_economy

        return demo_economy()
    return load(source)


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


# --------------------------------------------------------------------------- commands
def cmd_variants(args) -> int:
    from planfactory.errors import PlanError
    from planfactory.pipeline import make_inputs, produce
    from planfactory.proposals import load_proposals, parse_proposals

    try:
        econ = _economy(args.economy)
        params = _read_json(args.parameters) if args.parameters else {}
        prev_inputs = None
        if args.revise:
            old = _read_json(args.revise)
            pinned = [{"name": v["name"], "decision": v["decision"], "proposals": v["proposals"]} for v in old["variants"]]
            params = {**old["inputs"]["parameters"], **params, "variants": pinned}
            props = parse_proposals(old["inputs"]["proposals"], econ)
            prev_inputs = {**old["inputs"], "parameters": {**old["inputs"]["parameters"], "variants": pinned}}
        else:
            props = load_proposals(args.proposals, econ) if args.proposals else []
            if args.previous:
                prev_inputs = _read_json(args.previous)["inputs"]
        doc = produce(make_inputs(econ, props, params), prev_inputs).doc
    except PlanError as exc:
        return _fail(f"{exc.field}: {exc.reason}")
    except (OSError, ValueError, KeyError) as exc:
        return _fail(str(exc))
    text = json.dumps(doc, separators=(",", ":"))
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        print(text)
    else:
        print(_overview(doc))
    return 0


def _overview(doc: dict) -> str:
    from planfactory.summaries import fmt_signed, fmt_value

    lines = [f"{doc['sweep']['variants']} variants computed, {doc['sweep']['feasible']} within capacity; "
             f"inputs {doc['input_hash'][:19]}; {doc['solver_version']}"]
    for s in doc["incompatibilities"]["incompatible_sets"]:
        lines.append(f"  incompatible: {s['text']}")
    for ps in doc["sweep"].get("by_proposal_set", []):
        who = ("proposals " + ", ".join(ps["proposals"])) if ps["proposals"] else "no proposal"
        lines.append(f"  {who}: {ps['variants']} variants, {ps['feasible']} within capacity, "
                     f"{ps['on_front']} not dominated" + (f"; shown as {', '.join(ps['chosen'])}" if ps["chosen"] else ""))
    for v in doc["variants"]:
        e = v["economy"]
        lines.append(f"Variant {v['name']}: {fmt_value(v['decision']['hours_per_week'], 'dec')} h/week, "
                     f"private consumption {fmt_value(e['consumption'], 'dec')} h per person per week, "
                     f"public {fmt_value(e['public_share'], 'pct')}, investment {fmt_value(e['investment_share'], 'pct')}, "
                     f"growth {fmt_signed(e['growth'], 'pct') if e['growth'] is not None else 'not known'} a year; "
                     f"proposals: {', '.join(v['proposals']) or 'none'}; {max(v['group'].get('size', 1) - 1, 0)} grouped behind")
        for imp in v["implications"][:3]:
            lines.append(f"    {imp}")
    for c in doc.get("changes") or []:
        lines.append(f"Since the last version, variant {c['variant']}: {c['workplaces_changed']} workplaces changed")
        for w in c["workplaces"][:5]:
            lines.append(f"    {w['text']}")
    lines.append(doc["rounding"])
    return "\n".join(lines)


def cmd_summary(args) -> int:
    from councilcast.plan_cards import render_card
    from planfactory.document import clean
    from planfactory.pipeline import card_meta, cards_from_doc
    from planfactory.summaries import card_dict, card_text

    try:
        doc = _read_json(args.document)
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    cards = cards_from_doc(doc)
    ks = range(cards.K)
    if args.variant:
        if args.variant not in cards.names:
            return _fail(f"no variant {args.variant!r}; there are {', '.join(cards.names)}")
        ks = [cards.names.index(args.variant)]
    if args.workplace:
        if args.workplace not in cards.ent_ids:
            return _fail(f"no workplace {args.workplace!r}")
        es = [cards.ent_ids.index(args.workplace)]
    elif args.variant:
        es = range(cards.E)
    else:
        return _fail("give --variant, --workplace, or both")
    src = args.document if args.document.startswith("http") else str(Path(args.document).resolve())
    out = [card_dict(cards, k, e, card_meta(doc, src)) for k in ks for e in es]
    if args.format == "json":
        print(json.dumps(clean(out[0] if len(out) == 1 else out), ensure_ascii=False))
    elif args.format == "html":
        print("\n".join(render_card(c) for c in out))
    else:
        print("\n\n".join(card_text(c) for c in out))
    return 0


def cmd_proposals(args) -> int:
    from planfactory import incompat
    from planfactory.document import clean
    from planfactory.errors import PlanError
    from planfactory.proposals import load_proposals
    from planfactory.variants import build_context

    try:
        econ = _economy(args.economy)
        props = load_proposals(args.file, econ)
        params = _read_json(args.parameters) if args.parameters else {}
        rep = clean(incompat.find(build_context(econ, props, params)).to_dict())
    except PlanError as exc:
        return _fail(f"{exc.field}: {exc.reason}")
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    if args.submit:
        import os

        token = args.token or os.environ.get("COUNCILCAST_CLERK_TOKEN")
        if not token:
            return _fail("--submit needs --token (a clerk token)")
        for p in props:
            body = {k: v for k, v in p.computational().items() if k != "id"}
            body["note"] = p.note
            req = urllib.request.Request(args.submit.rstrip("/") + "/api/plan/proposals", method="POST",
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    stored = json.loads(r.read().decode())
            except urllib.error.HTTPError as exc:
                return _fail(f"proposal {p.id}: {exc.code} {exc.read().decode()}")
            print(f"submitted proposal {p.id} as {stored['id']} (author {stored['author']})", file=sys.stderr)
    if args.json:
        print(json.dumps(rep))
        return 0
    print("All proposals fit together." if rep["all_fit"] else "Proposals that cannot hold together:")
    for s in rep["incompatible_sets"]:
        print(f"  {s['text']}")
    for e in rep["unintended_effects"]:
        if e["sectors"]:
            moved = ", ".join(f"{s['sector']} {s['change_pct']:+.1f}%" for s in e["sectors"][:5])
            print(f"Proposal {e['proposal']} ({e['enterprise']}) moves {moved}; {e['workplaces']} workplaces")
    return 0


def cmd_verify(args) -> int:
    from planfactory.document import CARD_FORMAT, DOC_FORMAT
    from planfactory.verify import verify_card, verify_document

    try:
        obj = _read_json(args.source)
        if isinstance(obj, dict) and obj.get("format") == CARD_FORMAT:
            src = obj.get("source")
            if not src:
                return _fail("the card names no source document")
            if not src.startswith("http") and args.source.startswith("http"):
                src = urllib.parse.urljoin(args.source, src)
            report = verify_card(obj, _read_json(src))
        elif isinstance(obj, dict) and obj.get("format") == DOC_FORMAT:
            report = verify_document(obj)
        else:
            return _fail("not a published variant set or card")
    except (OSError, ValueError, KeyError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(report, default=str))
    elif report.get("verifiable") is False:
        print(f"CANNOT VERIFY: {report['reason']}")
        return 2
    else:
        sv = report["solver_version"]
        print(f"{report['kind']}: inputs {report.get('input_hash', '')[:19]}; recomputed in {report['seconds']:.2f} s "
              f"with {sv['here']}" + ("" if sv["published"] == sv["here"] else f" (published with {sv['published']})"))
        if report["ok"]:
            print("OK: every number agrees with its inputs.")
        else:
            print(f"DIFFERENT: {len(report['differences'])} value(s) do not follow from the inputs:")
            for d in report["differences"][:50]:
                print(f"  {d['path']}: published {d['published']!r}, recomputed {d['recomputed']!r}")
    return 0 if report["ok"] else (2 if report.get("verifiable") is False else 1)
