"""Shared fixtures of the plan factory's tests."""

import json

import pytest

from planfactory.demo import demo_economy
from planfactory.pipeline import make_inputs, produce
from planfactory.proposals import parse_proposals


@pytest.fixture(scope="session")
def published():
    """(economy, proposals, inputs, document through JSON) of the demo with two proposals."""
    e = demo_economy()
    ents = e.enterprises
    props = parse_proposals([{"enterprise": ents[5].id, "output_change_percent": 30},
                             {"enterprise": ents[120].id, "output_change": 10, "hours_change": 1}], e)
    inputs = make_inputs(e, props, {"select": 4})
    doc = json.loads(json.dumps(produce(inputs).doc))  # as it travels: through JSON
    return e, props, inputs, doc
