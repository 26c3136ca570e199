"""The plan factory's one error for bad input: :class:`PlanError` (field, reason, kind).

Every check in the plan factory that refuses its input (economy data, proposals,
parameters) raises :class:`PlanError`. It is a ``ValueError``, so callers that catch
``ValueError`` keep working, and it names what is wrong the way the API answers it,
``{"error": {"field", "reason"}}`` (docs/architecture.md):

- ``field``: where, as a path into the input (``technical_coefficients``,
  ``proposals[2].equipment.Steel``, ``enterprises[0].share``);
- ``reason``: why, in words a delegate can read;
- ``kind``: what sort of refusal, one of :data:`KINDS`. The web layer maps a kind to a
  status (invalid 400, not_found 404, conflict 409, forbidden 403, unsupported 406,
  unprocessable 422); the domain says only what happened.

``EconomyError`` (:mod:`planfactory.economy`) and ``ProposalError``
(:mod:`planfactory.proposals`) are the same class under their older names.

A numerical failure of the solver is not a ``ValueError``: it is a :class:`SolverError`
(an ``ArithmeticError``, re-exported by :mod:`planfactory.leontief`): an answer that is not
finite (the Leontief inverse overflows a 64-bit float, which a productive but far from
normal economy can do), not accurate (backward error), too ill-conditioned to be
determined in 64-bit arithmetic, or an iteration that does not converge. The input is
well-formed but cannot be computed: ``kind`` "unprocessable" (422), with the same three
attributes and ``field`` naming the cause (``technical_coefficients``, ``final_demand``).
"""

from __future__ import annotations

__all__ = ["PlanError", "SolverError", "KINDS"]

KINDS = ("invalid", "not_found", "conflict", "forbidden", "unsupported", "unprocessable")
"""The kinds of refusal, the project-wide error convention (the web layer maps them to 4xx)."""


class PlanError(ValueError):
    """Input the plan factory refuses.

    Parameters
    ----------
    field : str
        The offending field, as a path into the input (e.g. ``growth.years``).
    reason : str
        Why it is refused.
    kind : str, optional
        One of :data:`KINDS`; ``"invalid"`` unless said otherwise.

    Examples
    --------
    >>> exc = PlanError("labour", "negative entry at position 1: must be >= 0")
    >>> str(exc), exc.kind
    ('labour: negative entry at position 1: must be >= 0', 'invalid')
    """

    def __init__(self, field: str, reason: str, kind: str = "invalid"):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.kind = kind

    def __reduce__(self):  # picklable across the plan area's worker processes
        return (type(self), (self.field, self.reason, self.kind))


class SolverError(ArithmeticError):
    """A solve whose answer is refused: not finite, not accurate, or not converged.

    Same attributes as :class:`PlanError`; ``field`` may be None (the request as a whole),
    and then ``str(exc)`` is the reason alone. ``kind`` is "unprocessable" (422) unless said.
    """

    def __init__(self, field: str | None, reason: str, kind: str = "unprocessable"):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        super().__init__(reason if field is None else f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.kind = kind

    def __reduce__(self):
        return (type(self), (self.field, self.reason, self.kind))
