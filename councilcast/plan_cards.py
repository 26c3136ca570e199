"""Plan cards as HTML: a card dict rendered with ``templates/plan/_card.html``.

The plan factory computes a card (:func:`planfactory.summaries.card_dict`: the fields,
their values, changes and rounding) and says it in words (``card_text``); how it looks
on a screen is the application's business, so the HTML fragment is a jinja2 template
(autoescaped, from :func:`councilcast.pages.make_environment`). Used by the cards API
(``format=html``), ``/plan/workplaces/{id}``, the assembly page and
``councilcast plan summary --format html``.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2

from councilcast.pages import make_environment

__all__ = ["render_card", "SHORT", "short_unit"]

SHORT = {"output": "a. Output", "equipment": "Equipment received", "hours": "b. Hours a week",
         "consumption": "c. Consumption a week", "growth": "e. Growth a year", "public_share": "d. Public share",
         "investment_share": "d. Net investment share", "sector_output": "a. Sector output",
         "hours_total": "b. Hours, economy", "consumption_total": "c. Consumption, economy",
         "public_total": "d. Public, economy", "investment_total": "d. Net investment, economy",
         "replacement_total": "Replacement of worn equipment"}
"""Short labels of the card's fields (the full label goes in the row's ``title``)."""

SHORT_UNIT = {"hours a year": "h/year", "hours of labour": "h", "hours": "h"}


def short_unit(unit: str) -> str:
    """The unit as shown beside a value: none for %, h for hours, "/year" for "a year"."""
    return "" if unit == "%" else SHORT_UNIT.get(unit, unit.replace(" a year", "/year"))


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    return make_environment().get_template("plan/_card.html")


def render_card(card: dict) -> str:
    """The HTML fragment of one card (an ``<article class="plan-card">`` that fits a phone screen)."""
    return _template().render(card=card, short=SHORT, short_unit=short_unit,
                              no_previous=all(f["previous"] is None for f in card["fields"]))
