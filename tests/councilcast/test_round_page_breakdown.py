"""A published round's page shows its breakdown a page at a time, and finds an assembly.

At 60,000 assemblies the whole breakdown was one HTML table of 60,000 rows. A real server, a
round with five assemblies, pages of two rows (``BREAKDOWN_PAGE`` made small): each page holds
the rows it says, in assembly id order, with the counts each assembly sent; the find form
matches an id or a part of a name; a bad page number is a 400 naming ``page``.
"""

import html
import re

from councilcast.services import voting as voting_service
from tests.pg import db_url_both  # noqa: F401 - the page on SQLite and PostgreSQL
from tests.voting.helpers import new_round, register, tally, wait_published

NAMES = ["Depot 1", "Depot 2", "Mill A", "Mill B", "Port 100%_"]


def rows(page: str) -> list[tuple[str, int]]:
    """(assembly name, option A's count) of each row of the page's breakdown table."""
    body = page.split('<table class="breakdown stack">', 1)[1].split("</table>", 1)[0]
    return [(html.unescape(name), int(a)) for name, a in
            re.findall(r'<tr><td>([^<]*)</td><td class="num" data-label="A">(\d+)</td>', body)]


async def test_the_breakdown_a_page_at_a_time(server, monkeypatch):
    s = server.session
    gas = [await register(server, name, 100) for name in NAMES]
    rnd = await new_round(server, duration_s=60)
    for i, g in enumerate(gas):
        st, _ = await tally(server, rnd["id"], g["token"], {"present": 50, "counts": {"A": 10 + i, "B": 5},
                                                            "abstain": 0})
        assert st == 201
    async with s.post(server.api(f"/api/rounds/{rnd['id']}/close"), headers=server.secretariat) as r:
        assert r.status == 200
    await wait_published(server, rnd["id"])
    monkeypatch.setattr(voting_service, "BREAKDOWN_PAGE", 2)
    by_id = sorted((g["id"], NAMES[i], 10 + i) for i, g in enumerate(gas))
    want = [(name, a) for _, name, a in by_id]

    async def page(query: str = "") -> tuple[int, str]:
        async with s.get(server.api(f"/rounds/{rnd['id']}{query}")) as r:
            return r.status, await r.text()

    seen = []
    for n, expect in ((1, want[0:2]), (2, want[2:4]), (3, want[4:5])):
        st, text = await page(f"?page={n}")
        assert st == 200 and rows(text) == expect, (n, rows(text))
        assert f"Assemblies {2 * n - 1}-{2 * n - 2 + len(expect)} of 5" in text and f"Page {n} of 3" in text
        assert ('rel="next"' in text) == (n < 3) and ('rel="prev"' in text) == (n > 1)
        seen += rows(text)
    assert seen == want  # every assembly once, in id order, with its own count
    st, text = await page()
    assert rows(text) == want[0:2]  # no page number: the first
    st, text = await page("?page=9")
    assert st == 200 and rows(text) == [] and "there are 3 pages" in text
    st, text = await page("?find=mill")  # part of a name, any case
    assert rows(text) == [(n, a) for n, a in want if n.startswith("Mill")] and 'matching "mill"' in text
    st, text = await page("?find=" + by_id[0][0])  # an id
    assert rows(text) == [want[0]]
    st, text = await page("?find=100%25_")  # LIKE's wildcards are taken as text
    assert rows(text) == [("Port 100%_", want[[n for n, _ in want].index("Port 100%_")][1])]
    st, text = await page("?find=nowhere")
    assert rows(text) == [] and 'No assembly matches "nowhere"' in text
    for bad in ("abc", "0", "-1", "1.5"):
        async with s.get(server.api(f"/rounds/{rnd['id']}?page={bad}")) as r:
            assert r.status == 400 and (await r.json())["error"]["field"] == "page", bad


async def test_the_list_of_rounds_shows_the_first_rows_and_how_many(server, monkeypatch):
    """``/rounds`` reads each published round's first rows, not its whole breakdown."""
    from councilcast.routes import voting_pages

    gas = [await register(server, name, 100) for name in NAMES]
    rnd = await new_round(server, duration_s=60)
    for i, g in enumerate(gas):
        await tally(server, rnd["id"], g["token"], {"present": 50, "counts": {"A": 10 + i, "B": 5}, "abstain": 0})
    async with server.session.post(server.api(f"/api/rounds/{rnd['id']}/close"), headers=server.secretariat) as r:
        assert r.status == 200
    monkeypatch.setattr(voting_pages, "ROUNDS_HEAD", 2)
    first_two = [NAMES[i] for _, i in sorted((g["id"], i) for i, g in enumerate(gas))][:2]
    async with server.session.get(server.api("/rounds")) as r:
        text = html.unescape(await r.text())
    line = text.split(f'href="/rounds/{rnd["id"]}"', 1)[1].split("</tr>", 1)[0]
    shown = re.findall(r"([A-Z][\w %]+?): \d+/\d+", line)
    assert shown == first_two and "… 5 assemblies" in line, line
