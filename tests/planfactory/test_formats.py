"""Loading, validating and writing economies (JSON and the sparse folder)."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from planfactory.demo import demo_economy, generate
from planfactory.economy import EconomyError
from planfactory.formats import load, save, to_dict

MINIMAL = {"sectors": ["corn", "iron"], "technical_coefficients": [[0.2, 0.3], [0.1, 0.4]], "labour": [1.0, 2.0]}


def test_minimal_form_loads():
    e = load(MINIMAL)
    assert e.n == 2 and e.sectors == ["corn", "iron"]
    assert e.B is None and e.capacity is None and e.enterprises == []
    assert to_dict(e)["technical_coefficients"] == MINIMAL["technical_coefficients"]


@pytest.mark.parametrize("change,field,words", [
    ({"technical_coefficients": [[0.2, 0.3]]}, "technical_coefficients", "shape"),
    ({"technical_coefficients": [[0.2, -0.3], [0.1, 0.4]]}, "technical_coefficients", "negative entry at row 0, column 1"),
    ({"technical_coefficients": [[0.5, 0.6], [0.6, 0.5]]}, "technical_coefficients", "not productive"),
    ({"technical_coefficients": [[1.0, 0.0], [0.0, 0.2]]}, "technical_coefficients", "not productive"),
    ({"labour": [1.0]}, "labour", "length 1"),
    ({"labour": [1.0, -2.0]}, "labour", "negative"),
    ({"consumption_basket": [0.5, 0.4]}, "consumption_basket", "sum to 1"),
    ({"capacity": {"steel": 3}}, "capacity", "no sector named 'steel'"),
    ({"sectors": ["corn", "corn"]}, "sectors", "duplicate"),
    ({"hours_per_week": 200}, "hours_per_week", "168"),
    ({"capital_coefficients": [[0, 1], [1]]}, "capital_coefficients", ""),
    ({"enterprises": [{"id": "a", "sector": "corn", "share": 0.5, "workforce": 3}]}, "enterprises", "sum to 0.5"),
    ({"enterprises": [{"id": "a", "sector": "wheat", "share": 1, "workforce": 3}]}, "enterprises[0].sector", "wheat"),
])
def test_errors_name_the_field_and_the_reason(change, field, words):
    with pytest.raises(EconomyError) as info:
        load({**MINIMAL, **change})
    assert info.value.field == field
    assert words in info.value.reason


def test_missing_required_field():
    with pytest.raises(EconomyError) as info:
        load({"sectors": ["a"], "labour": [1]})
    assert info.value.field == "technical_coefficients" and "required" in info.value.reason


def test_not_productive_large_sparse_is_named():
    n = 5000
    A = sp.diags(np.full(n, 0.5), format="csr") + sp.diags(np.full(n - 1, 0.6), 1, format="csr")
    A = A + sp.csr_matrix(([0.6], ([n - 1], [0])), shape=(n, n))  # a cycle: every row and column sums to 1.1
    with pytest.raises(EconomyError) as info:
        load({"sectors": [f"p{i}" for i in range(n)], "labour": np.ones(n).tolist(),
              "technical_coefficients": {"shape": [n, n], "rows": A.tocoo().row.tolist(),
                                         "cols": A.tocoo().col.tolist(), "values": A.tocoo().data.tolist()}})
    assert "not productive" in info.value.reason and "1.1" in info.value.reason


def test_vectors_by_sector_name():
    e = load({**MINIMAL, "capacity": {"iron": 5, "corn": 7}})
    assert e.capacity.tolist() == [7, 5]


def test_json_file_round_trip(tmp_path):
    e = generate(n_sectors=8, n_enterprises=20, seed=5)
    p = save(e, tmp_path / "e.json")
    e2 = load(p)
    assert e2.sectors == e.sectors
    assert np.array_equal(e2.A, e.A) and np.array_equal(e2.B, e.B)
    assert np.array_equal(e2.capacity, e.capacity) and e2.enterprises == e.enterprises
    assert e2.workforce == e.workforce
    assert json.loads(p.read_text())["sectors"] == e.sectors


def test_sparse_folder_round_trip(tmp_path):
    e = generate(n_sectors=12, n_enterprises=30, seed=6)
    e.A = sp.csr_matrix(e.A)
    folder = save(e, tmp_path / "econ")
    assert {p.name for p in folder.iterdir()} >= {"economy.json", "A.npz", "B.npz", "sectors.csv", "enterprises.csv"}
    e2 = load(folder)
    assert e2.is_sparse
    assert np.array_equal(e2.A.toarray(), e.A.toarray())
    assert np.array_equal(e2.labour, e.labour) and np.array_equal(e2.consumption_basket, e.consumption_basket)
    assert e2.enterprises == e.enterprises and e2.hours_per_week == e.hours_per_week
    # and the JSON triplet form of a sparse matrix
    e3 = load(to_dict(e2))
    assert np.array_equal(e3.A.toarray(), e.A.toarray())


def test_sparse_folder_with_matrix_market(tmp_path):
    import scipy.io

    folder = tmp_path / "mm"
    folder.mkdir()
    scipy.io.mmwrite(str(folder / "A.mtx"), sp.csr_matrix([[0.1, 0.2], [0.0, 0.3]]))
    (folder / "sectors.csv").write_text("name,labour\nbread,1.5\ntools,2\n")
    e = load(folder)
    assert e.sectors == ["bread", "tools"] and e.A.toarray()[0, 1] == 0.2


def test_bad_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(EconomyError, match="not valid JSON"):
        load(p)
    with pytest.raises(EconomyError, match="no such file"):
        load(tmp_path / "missing.json")


def test_bundled_demo_is_what_the_generator_makes():
    e = demo_economy()
    assert 20 <= e.n <= 40 and 100 <= len(e.enterprises) <= 300
    g = generate()
    assert np.array_equal(e.A, g.A) and np.array_equal(e.capacity, g.capacity)
    assert [x.workforce for x in e.enterprises] == [x.workforce for x in g.enterprises]
    # realistic structure: energy, transport and repairs rows are dense; other rows are not
    assert np.all(e.A[:3] > 0)
    assert np.mean(e.A[3:] > 0) < 0.5
    # enterprises of unequal size, adding up to the workforce
    sizes = np.array([x.workforce for x in e.enterprises])
    assert sizes.sum() == e.workforce and sizes.max() > 10 * np.median(sizes)


def test_regenerating_the_demo_gives_the_same_bytes(tmp_path):
    from planfactory.demo import DEMO_PATH, write_demo

    assert write_demo(tmp_path / "demo.json").read_bytes() == DEMO_PATH.read_bytes()
