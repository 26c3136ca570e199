"""One error class for refused input: PlanError(field, reason, kind), under its older names too."""

import pickle

import numpy as np
import pytest

from planfactory.economy import Economy, EconomyError
from planfactory.errors import KINDS, PlanError
from planfactory.leontief import SolverError
from planfactory.proposals import ProposalError, parse_proposal


def test_older_names_are_the_same_class():
    assert EconomyError is PlanError and ProposalError is PlanError
    assert issubclass(PlanError, ValueError)


def test_fields_and_message():
    exc = PlanError("growth.years", "must be a number")
    assert (exc.field, exc.reason, exc.kind) == ("growth.years", "must be a number", "invalid")
    assert str(exc) == "growth.years: must be a number"
    assert PlanError("id", "no proposal '7'", kind="not_found").kind == "not_found"
    assert set(KINDS) == {"invalid", "not_found", "conflict", "forbidden", "unsupported", "unprocessable"}
    with pytest.raises(ValueError, match="kind"):
        PlanError("x", "y", kind="teapot")


def test_pickles_with_its_fields():
    back = pickle.loads(pickle.dumps(PlanError("labour", "negative", kind="invalid")))
    assert (type(back), back.field, back.reason, back.kind) == (PlanError, "labour", "negative", "invalid")
    s = pickle.loads(pickle.dumps(SolverError(None, "no convergence")))
    assert (s.field, s.reason, s.kind, str(s)) == (None, "no convergence", "unprocessable", "no convergence")


def test_economy_and_proposal_checks_raise_plan_error():
    with pytest.raises(PlanError) as info:
        Economy(sectors=["a"], A=np.array([[0.2]]), labour=np.array([-1.0]))
    assert (info.value.field, info.value.kind) == ("labour", "invalid")
    with pytest.raises(PlanError) as info:
        parse_proposal({"enterprise": "x", "output_change": "lots"}, default_id="1")
    assert info.value.field == "output_change"


def test_solver_error_is_a_numerical_failure_not_a_value_error():
    assert issubclass(SolverError, ArithmeticError) and not issubclass(SolverError, ValueError)
