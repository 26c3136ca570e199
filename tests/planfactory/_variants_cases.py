"""Small economies with answers known by hand, shared by the plan-variants tests."""

import numpy as np

from planfactory.economy import Economy, Enterprise
from planfactory.proposals import parse_proposals

MILLER_BLAIR_A = [[0.15, 0.25], [0.20, 0.05]]  # Miller & Blair, Input-Output Analysis, 2nd ed., section 2.3


def equipment_economy() -> Economy:
    """Three sectors with A = 0 (gross output = final demand), so every need is plain arithmetic.

    Steel capacity 100 and coal capacity 100 are unused by the baskets (which buy food
    only); seven food works propose equipment from steel or coal.
    """
    ents = [Enterprise(f"food-{k}", f"Food works {k}", 2, 1 / 7, 100) for k in range(1, 8)]
    ents += [Enterprise("steel-1", "Steel works", 0, 1.0, 100), Enterprise("coal-1", "Coal pit", 1, 1.0, 100)]
    return Economy(sectors=["Steel", "Coal", "Food"], A=np.zeros((3, 3)), labour=np.array([1.0, 1.0, 1.0]),
                   capacity=np.array([100.0, 100.0, 1e9]), current_output=np.array([0.0, 0.0, 1000.0]),
                   consumption_basket=np.array([0.0, 0.0, 1.0]), public_basket=np.array([0.0, 0.0, 1.0]),
                   workforce=900.0, hours_per_week=1.0, enterprises=ents, units=["t", "t", "meals"])


EQUIPMENT_PROPOSALS = [
    {"id": "1", "enterprise": "food-1", "equipment": {"Steel": 60}},
    {"id": "2", "enterprise": "food-2", "equipment": {"Steel": 50}},
    {"id": "3", "enterprise": "food-3", "equipment": {"Steel": 10}},
    {"id": "4", "enterprise": "food-4", "equipment": {"Coal": 80}},
    {"id": "5", "enterprise": "food-5", "equipment": {"Coal": 30}},
    {"id": "6", "enterprise": "food-6", "equipment": {"Coal": 5}},
    {"id": "7", "enterprise": "food-7", "equipment": {"Steel": 150}},
]
STATUS_QUO = {"hours_per_week": 1.0, "consumption_share": 0.8, "public_share": 0.2, "investment_share": 0.0}


def equipment_case():
    e = equipment_economy()
    return e, parse_proposals(EQUIPMENT_PROPOSALS, e)
