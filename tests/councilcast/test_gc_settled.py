"""A served process settles the garbage collector once it is up (councilcast.gcstats).

What start-up made (modules, the app, codec tables: about 130,000 objects) goes to the
collector's permanent generation, so that a full collection walks the viewers' and screens'
objects only. Measured before: one full
collection in a storm of 150 joins paused the event loop about 90 ms. ``/api/broadcast/stats``
counts the collections and their CPU.
"""

import json
import urllib.request

import gc


def test_serve_freezes_what_start_up_made_and_counts_collections(server_process, tmp_path):
    sp = server_process(tmp_path / "gc.db")
    sp.start()
    try:
        with urllib.request.urlopen(sp.url + "/api/broadcast/stats", timeout=10) as r:
            got = json.loads(r.read())["gc"]
    finally:
        sp.stop()
    assert got["frozen"] > 10_000, got  # start-up's objects, frozen
    assert tuple(got["thresholds"]) == gc.get_threshold()  # Python's own: cycles freed as soon as before
    assert len(got["collections"]) == len(got["cpu_s"]) == 3 and sum(got["collections"]) >= 1  # settle's own
