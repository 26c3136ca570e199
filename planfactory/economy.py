"""The economy the plan factory works on: sectors, coefficients, capacities, people.

Notation (docs/planfactory.md): n sectors; A (n x n) technical coefficients, A[i, j] =
units of sector i's product used per unit of sector j's output; B (n x n) capital
coefficients, B[i, j] = units of equipment from sector i per unit of new capacity of
sector j; l (n) hours of labour per unit of output; capacity (n) the most each sector can
produce this period; stocks (n); c and g (n) the structure of private and public
consumption (each sums to 1); workforce persons working hours_per_week today.

A and B may be dense ``numpy.ndarray`` or ``scipy.sparse`` matrices (CSR/CSC).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from planfactory.errors import PlanError
from planfactory.spectral import spectral_radius_bounds
from planfactory.validation import economy_warnings, validate_economy

__all__ = ["Economy", "Enterprise", "EconomyError", "spectral_radius_bounds", "WEEKS_PER_YEAR"]

WEEKS_PER_YEAR = 46.0
"""Working weeks in the plan's period of one year: 52 weeks less 6 weeks of holidays and
public days off. Hours available in a year = workforce * hours_per_week * WEEKS_PER_YEAR."""


EconomyError = PlanError
"""The older name of :class:`planfactory.errors.PlanError` (invalid economy data); use PlanError in new code."""


@dataclass(frozen=True)
class Enterprise:
    """One workplace: its sector and its share of that sector's capacity."""

    id: str
    name: str
    sector: int
    """Index of its sector in ``Economy.sectors``."""
    share: float
    """Share of the sector's capacity (and output) it holds; shares of a sector sum to 1."""
    workforce: int
    """Persons working there."""


@dataclass
class Economy:
    """Validated input-output data. Build with :func:`planfactory.formats.load` or directly."""

    sectors: list[str]
    A: np.ndarray | sp.spmatrix
    labour: np.ndarray
    B: np.ndarray | sp.spmatrix | None = None
    capacity: np.ndarray | None = None
    stocks: np.ndarray | None = None
    consumption_basket: np.ndarray | None = None
    public_basket: np.ndarray | None = None
    workforce: float | None = None
    hours_per_week: float | None = None
    enterprises: list[Enterprise] = field(default_factory=list)
    name: str = "economy"
    units: list[str] | None = None
    current_output: np.ndarray | None = None
    """Today's gross output per sector (what "change from today" is measured against)."""
    warnings: list[dict] = field(default_factory=list, init=False, compare=False, repr=False)
    """Data that load but disagree (``[{"field", "reason"}]``, computed by :meth:`validate`):
    today's output against the workforce's hours and the capacities
    (:func:`planfactory.validation.economy_warnings`). Printed by the CLI, returned by the API."""

    def __post_init__(self):
        self.sectors = [str(s) for s in self.sectors]
        if not sp.issparse(self.A):
            self.A = np.asarray(self.A, dtype=float)
        if self.B is not None and not sp.issparse(self.B):
            self.B = np.asarray(self.B, dtype=float)
        self.labour = np.asarray(self.labour, dtype=float)
        for name in ("capacity", "stocks", "consumption_basket", "public_basket", "current_output"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, np.asarray(v, dtype=float))
        self.validate()

    def validate(self) -> "Economy":
        """Check shapes, signs, baskets and productiveness; raise :class:`~planfactory.errors.PlanError`.

        Data that pass but disagree with each other are listed in :attr:`warnings`.
        """
        validate_economy(self)
        self.warnings = economy_warnings(self, WEEKS_PER_YEAR)
        return self

    @property
    def hours_available(self) -> float | None:
        """Hours the workforce offers in a year at today's hours per week (None if unknown)."""
        if self.workforce is None or self.hours_per_week is None:
            return None
        return float(self.workforce) * float(self.hours_per_week) * WEEKS_PER_YEAR

    def sector_index(self, name_or_index) -> int:
        """Index of a sector given by name or by index."""
        if isinstance(name_or_index, (int, np.integer)) and not isinstance(name_or_index, bool):
            if 0 <= int(name_or_index) < self.n:
                return int(name_or_index)
            raise PlanError("sector", f"index {name_or_index} out of range 0..{self.n - 1}")
        try:
            return self._index[name_or_index]
        except AttributeError:
            self._index = {s: i for i, s in enumerate(self.sectors)}
            if name_or_index in self._index:
                return self._index[name_or_index]
        except KeyError:
            pass
        raise PlanError("sector", f"no sector named {name_or_index!r}")

    @property
    def n(self) -> int:
        return len(self.sectors)

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.A)
