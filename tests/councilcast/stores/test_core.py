"""Token queries on a real SQLite file and a real PostgreSQL database."""

from councilcast.auth import hash_token
from councilcast.storage import Database
from councilcast.stores import core
from tests.pg import db_url_both  # noqa: F401 - every test here runs on SQLite and PostgreSQL


def test_live_tokens_revoke_and_has_live_token(db_url):
    db = Database(db_url)
    db.open()
    try:
        a = db.write_sync(lambda c: core.insert_token(c, "clerk", "ga-1", "clerk", hash_token("a"), 1.0))
        db.write_sync(lambda c: core.insert_token(c, "secretariat", None, "s", hash_token("b"), 2.0))
        found = db.read_sync(lambda c: core.live_tokens(c, [hash_token("a"), hash_token("b"), hash_token("x")]))
        assert found[hash_token("a")] == a and found[hash_token("b")].role == "secretariat"
        assert hash_token("x") not in found and db.read_sync(lambda c: core.live_tokens(c, [])) == {}
        assert db.read_sync(lambda c: core.has_live_token(c, role="secretariat"))
        assert not db.read_sync(lambda c: core.has_live_token(c, role="clerk"))  # clerks have a subject
        assert db.write_sync(lambda c: core.revoke_tokens(c, 3.0, role="clerk", subject="ga-1")) == 1
        assert db.write_sync(lambda c: core.revoke_tokens(c, 4.0, role="clerk", subject="ga-1")) == 0
        assert db.read_sync(lambda c: core.live_tokens(c, [hash_token("a")])) == {}
        assert not db.read_sync(lambda c: core.has_live_token(c, token_hash=hash_token("a")))
    finally:
        db.close()
