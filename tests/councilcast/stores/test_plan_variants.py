"""Proposals and published sets on a real SQLite file and a real PostgreSQL database."""

from councilcast.storage import Database
from councilcast.stores import plan_variants as store
from tests.pg import db_url_both  # noqa: F401 - every test here runs on SQLite and PostgreSQL


def test_proposals_and_sets(db_url):
    db = Database(db_url)
    db.open()
    try:
        assert db.read_sync(lambda c: store.get_set(c, None)) is None
        assert db.read_sync(store.latest_variant_names) is None
        p1 = db.write_sync(lambda c: store.insert_proposal(c, "steel-001", {"output_change_percent": 5}, "ga-1", 1.0))
        db.write_sync(lambda c: store.insert_proposal(c, "energy-001", {"output_change_percent": 9}, "ga-2", 2.0))
        assert p1 == {"output_change_percent": 5, "id": "1", "author": "ga-1", "created_at": 1.0,
                      "withdrawn_at": None}
        db.write_sync(lambda c: store.withdraw_proposal(c, 1, 3.0))
        db.write_sync(lambda c: store.withdraw_proposal(c, 1, 4.0))  # once withdrawn, the time stays
        assert db.read_sync(lambda c: store.get_proposal(c, 1))["withdrawn_at"] == 3.0
        assert [p["id"] for p in db.read_sync(store.open_proposals)] == ["2"]
        assert db.read_sync(store.count_proposals) == 2

        doc = '{"variants": [{"name": "A"}, {"name": "B"}]}'
        s1 = db.write_sync(lambda c: store.insert_set(c, "publication", "h1", "v1", None, 5.0, "sec",
                                                      {"variants": ["A", "B"]}, doc))
        s2 = db.write_sync(lambda c: store.insert_set(c, "revision", "h2", "v1", s1["id"], 6.0, "sec",
                                                      {"variants": ["A"]}, '{"variants": [{"name": "A"}]}'))
        assert "doc" not in s1 and s1["variants"] == ["A", "B"] and s2["previous_id"] == s1["id"]
        assert db.read_sync(lambda c: store.get_set(c, None))["id"] == s2["id"]
        assert db.read_sync(lambda c: store.get_set(c, s1["id"]))["doc"] == doc
        assert [s["id"] for s in db.read_sync(store.list_sets)] == [s2["id"], s1["id"]]
        assert db.read_sync(lambda c: store.set_document(c, s1["id"])) == doc
        assert db.read_sync(store.latest_variant_names) == (s2["id"], ["A"])
        assert db.read_sync(store.count_sets) == 2
    finally:
        db.close()
