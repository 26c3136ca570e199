"""One model of the static and the dynamic plan: the capital used up (delta B) is a cost.

Issue 13: labour values were l (I - A)^-1 without the equipment worn out making a product,
the "net product" of the fundamental decision was the gross final product, and every hour
of investment was taken for new capacity while most of it only replaced worn equipment.
Checked against a two-sector economy computed by hand (Cramer's rule) and numpy's solve.
"""

import numpy as np
import pytest

from planfactory.decision import DecisionBasis, FundamentalDecision, decide, operating_matrix
from planfactory.demo import demo_economy, today_decision
from planfactory.economy import WEEKS_PER_YEAR, Economy
from planfactory.document import PLANFACTORY_VERSION
from planfactory.leontief import LeontiefSolver

# sector 0 makes the equipment of both; delta = 10% a year
A = [[0.1, 0.2], [0.2, 0.1]]
B = [[0.5, 1.0], [0.0, 0.0]]
DELTA = 0.1


def _two_sectors():
    return Economy(sectors=["machines", "food"], A=A, B=B, labour=[1.0, 1.0], workforce=100.0,
                   consumption_basket=[0.0, 1.0], public_basket=[0.5, 0.5])


def test_values_include_the_equipment_worn_out_by_hand():
    e = _two_sectors()
    basis = DecisionBasis.build(e, depreciation=DELTA)
    # v (I - A - delta B) = l with I - A - delta B = [[0.85, -0.3], [-0.2, 0.9]], det 0.705:
    # v0 = (0.9 + 0.2) / 0.705, v1 = (0.85 + 0.3) / 0.705 (Cramer's rule)
    assert basis.v == pytest.approx([1.1 / 0.705, 1.15 / 0.705], rel=1e-12)
    # the textbook values, without the wear, are 1.1 / 0.77 for both: too low by 8.4% and 12.4%
    textbook = LeontiefSolver(np.asarray(A)).labour_values(np.ones(2))
    assert textbook == pytest.approx([1.1 / 0.77, 1.1 / 0.77], rel=1e-12)
    assert 1 - textbook / basis.v == pytest.approx([1 - 0.705 / 0.77, 1 - 0.705 * 1.1 / (0.77 * 1.15)], rel=1e-9)
    # without B, or at zero depreciation, the model is the textbook one
    assert DecisionBasis.build(e, depreciation=0.0).v == pytest.approx(textbook, rel=1e-12)
    assert operating_matrix(e, 0.0) is e.A


def test_a_decision_splits_the_net_product_and_shows_the_replacement_by_hand():
    e = _two_sectors()
    d = FundamentalDecision(40, 0.6, 0.2, 0.2)
    out = decide(e, d, depreciation=DELTA)
    H = 100 * 40 * WEEKS_PER_YEAR
    v = np.array([1.1, 1.15]) / 0.705
    # the net product is worth every hour worked, and the gross output replaces materials and wear
    f, x = np.asarray(out.final_demand), np.asarray(out.gross_output)
    assert v @ f == pytest.approx(H, rel=1e-12)
    M = np.eye(2) - np.asarray(A) - DELTA * np.asarray(B)
    assert M @ x == pytest.approx(f, rel=1e-12)
    assert out.labour_hours == pytest.approx(H, rel=1e-12)
    # replacement: a tenth of the equipment B x that the output runs on, valued at v
    replacement = DELTA * v @ (np.asarray(B) @ x)
    assert out.replacement_hours == pytest.approx(replacement, rel=1e-12)
    d_ = out.to_dict()
    assert d_["investment_hours"] == pytest.approx(0.2 * H) and d_["net_product_hours"] == pytest.approx(H)
    assert d_["gross_investment_hours"] == pytest.approx(0.2 * H + replacement, rel=1e-12)
    assert d_["replacement_share_of_gross_investment"] == pytest.approx(replacement / (0.2 * H + replacement))
    # one meaning per name: private only, per worker
    assert d_["private_hours"] == pytest.approx(0.6 * H) and d_["private_hours_per_worker"] == pytest.approx(0.6 * H / 100)
    assert "consumption_hours_per_person" not in d_


def test_demo_values_were_too_low_without_the_wear():
    e = demo_economy()
    n = e.n
    v = np.linalg.solve((np.eye(n) - e.A - 0.05 * e.B).T, e.labour)  # independent: numpy's solve
    textbook = np.linalg.solve((np.eye(n) - e.A).T, e.labour)
    basis = DecisionBasis.build(e)
    assert basis.v == pytest.approx(v, rel=1e-12)
    low = v / textbook - 1
    assert 0.08 < low.min() and low.max() < 0.4 and np.median(low) > 0.12  # the issue measured 11-31%, median 18%


def test_the_status_quo_replaces_more_than_it_adds():
    e = demo_economy()
    out = decide(e, today_decision()).to_dict()
    # 5% of the net product is new capacity; replacing 5% of a capital stock worth about three
    # and a half years of it takes about 18%: most of gross investment is replacement
    assert out["investment_hours"] == pytest.approx(0.05 * out["hours_available"], rel=1e-12)
    assert 0.7 < out["replacement_share_of_gross_investment"] < 0.85
    assert out["feasible"]


def test_verify_refuses_a_document_of_another_version_plainly():
    from planfactory.verify import verify_card, verify_document
    from planfactory.document import DOC_FORMAT

    doc = {"format": DOC_FORMAT, "solver_version": "planfactory 0.2.0 (numpy 2.4.6, scipy 1.17.1)", "inputs": {}}
    r = verify_document(doc)
    assert r["ok"] is False and r["verifiable"] is False
    assert "planfactory 0.2.0" in r["reason"] and f"planfactory {PLANFACTORY_VERSION}" in r["reason"]
    assert "cannot verify" in r["reason"]
    card = {"solver_version": "planfactory 0.2.0 (numpy 2.4.6, scipy 1.17.1)"}
    assert verify_card(card, doc)["verifiable"] is False
