"""The document's form: canonical JSON, hashes, cleaning to JSON."""

import math

import numpy as np

from planfactory.document import DOC_FORMAT, SOLVER_VERSION, canonical_json, clean, input_hashes, sha256


def test_canonical_json_is_stable():
    assert canonical_json({"b": 1.5, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1.5}'.encode()
    assert sha256({"x": 0.1}).startswith("sha256:") and len(sha256({"x": 0.1})) == 71


def test_input_hashes_name_each_part_and_the_whole():
    inputs = {"economy": {"sectors": ["a"]}, "proposals": [], "parameters": {"select": 3}}
    h = input_hashes(inputs)
    assert h == {"economy": sha256(inputs["economy"]), "proposals": sha256([]),
                 "parameters": sha256({"select": 3}), "inputs": sha256(inputs)}


def test_clean_gives_plain_json_values():
    out = clean({"a": np.array([[1.0, np.nan]]), "b": (np.int32(3), np.bool_(False)), "c": np.float32(0.5),
                 "d": -math.inf, "e": "text"})
    assert out == {"a": [[1.0, None]], "b": [3, False], "c": 0.5, "d": None, "e": "text"}
    assert type(out["b"][0]) is int and type(out["b"][1]) is bool and type(out["c"]) is float


def test_format_names():
    assert DOC_FORMAT == "councilcast-plan-variants-1"
    assert SOLVER_VERSION.startswith("planfactory ") and "numpy" in SOLVER_VERSION
