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

__all__ = ["Economy", "Enterprise", "EconomyError"]


class EconomyError(ValueError):
    """Invalid economy data; ``field`` names the offending field, ``reason`` says why."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


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

    @property
    def n(self) -> int:
        return len(self.sectors)

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.A)
