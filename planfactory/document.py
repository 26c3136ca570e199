"""The published document's form: format names, canonical JSON, hashes, and cleaning to JSON.

A published variant set (docs/plan-variants.md, "Hashes, the published document, and
verify") is one JSON document of format :data:`DOC_FORMAT`, made by
:func:`planfactory.pipeline.produce`. What makes it checkable lives here:

- :func:`canonical_json`: the bytes that are hashed (keys sorted, no whitespace, UTF-8,
  numbers in Python's shortest round-trip form, no NaN);
- :func:`sha256` and :func:`input_hashes`: ``sha256:`` + hex digest of those bytes, for the
  inputs as a whole and for each part;
- :data:`SOLVER_VERSION`: what computed the numbers;
- :func:`clean`: numpy values to plain JSON values (NaN and infinities to null), applied to
  everything that is published.

Pure standard library and numpy: every other plan factory module may import it.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import scipy

__all__ = ["PLANFACTORY_VERSION", "SOLVER_VERSION", "planfactory_version_of", "DOC_FORMAT", "CARD_FORMAT", "canonical_json", "sha256",
           "input_hashes", "clean"]

# Bump whenever the same inputs give different numbers, so that a published document names
# the computation that made it (0.2.0: growth of consumption is the 10-year average of the
# path, with spare capacity and the labour cap; 0.3.0: values, outputs and decisions include
# the capital used up, delta B, and investment shares are net of replacement).
PLANFACTORY_VERSION = "0.3.0"
SOLVER_VERSION = f"planfactory {PLANFACTORY_VERSION} (numpy {np.__version__}, scipy {scipy.__version__})"
"""Named in every document and card, e.g. ``planfactory 0.2.0 (numpy 2.4.6, scipy 1.17.1)``."""


def planfactory_version_of(solver_version) -> str | None:
    """The planfactory version a document's ``solver_version`` names ("0.2.0"), or None."""
    if not isinstance(solver_version, str) or not solver_version.startswith("planfactory "):
        return None
    return solver_version.split()[1]


DOC_FORMAT = "councilcast-plan-variants-1"
"""``format`` of a published variant set."""
CARD_FORMAT = "councilcast-card-1"
"""``format`` of one card (:func:`planfactory.summaries.card_dict`)."""


def canonical_json(obj) -> bytes:
    """The bytes that are hashed: sorted keys, no whitespace, UTF-8, no NaN.

    >>> canonical_json({"b": 1.5, "a": [1, "é"]}).decode()
    '{"a":[1,"é"],"b":1.5}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256(obj) -> str:
    """``"sha256:"`` + the hex SHA-256 of :func:`canonical_json` of ``obj``."""
    return "sha256:" + hashlib.sha256(canonical_json(obj)).hexdigest()


def input_hashes(inputs: dict) -> dict:
    """The hash of each part of the inputs (economy, proposals, parameters) and of the whole."""
    return {"economy": sha256(inputs["economy"]), "proposals": sha256(inputs["proposals"]),
            "parameters": sha256(inputs["parameters"]), "inputs": sha256(inputs)}


def clean(x):
    """``x`` made JSON-able: numpy arrays and scalars to Python values, NaN and infinities to None.

    Dicts, lists and tuples are cleaned recursively (tuples become lists); anything else is
    returned as it is.

    >>> clean({"a": np.array([1.5, np.nan]), "b": (np.int64(2), np.bool_(True)), "c": float("inf")})
    {'a': [1.5, None], 'b': [2, True], 'c': None}
    """
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return clean(x.tolist())
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x
