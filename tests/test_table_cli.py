"""`shockmodel table ...`: listing, info, and one-line errors with exit status 2 for bad tables."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from shockmodel.cli import main
from shockmodel.io.tables import write_npz
from shockmodel.mrio import MRIO
from shockmodel.testing import toy_mrio


def _invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_table_list():
    res = _invoke("table", "list")
    assert res.exit_code == 0, res.output
    assert "default" in res.output and "wiod2011" in res.output


def test_table_info_default():
    res = _invoke("table", "info", "default")
    assert res.exit_code == 0, res.output
    assert "Table default: year 2022;" in res.output and "current prices of 2022" in res.output
    for r in ("TWN", "CHN", "RUS", "USA"):
        assert r in res.output
    assert "SEMICONDUCTORS" in res.output
    # Taiwan's semiconductor output is its documented 2022 share (0.43) of electronics
    line = next(ln for ln in res.output.splitlines() if ln.startswith("TWN "))
    assert float(line.split()[2]) == pytest.approx(0.43, abs=1e-3)
    assert "spectral radius" in res.output


def _write_bad(path, **changes):
    m = toy_mrio(3)
    f = dict(name="bad", regions=m.regions, sectors=m.sectors, Z=m.Z.copy(), Y=m.Y.copy(), x=m.x.copy(), v=m.v.copy())
    f.update(changes)
    write_npz(MRIO(**f), path)
    return path


def _bad_cases(tmp):
    m = toy_mrio(3)
    nan_Z = m.Z.copy()
    nan_Z[0, 1] = np.nan
    neg_Z = m.Z.copy()
    neg_Z[1, 0] = -5.0
    unprod_Z = np.array([[60.0, 80.0], [80.0, 60.0]])
    unprod_Y = np.array([[-40.0], [-40.0]])
    ux = unprod_Z.sum(1) + unprod_Y.sum(1)
    missing_labels = tmp / "nolabels.npz"
    np.savez(missing_labels, Z=m.Z, Y=m.Y, x=m.x, v=m.v)
    return {
        "nan": (_write_bad(tmp / "nan.npz", Z=nan_Z), "non-finite"),
        "negative": (_write_bad(tmp / "neg.npz", Z=neg_Z), "negative flow"),
        "shape": (_write_bad(tmp / "shape.npz", Y=m.Y[:-1]), "shape"),
        "unproductive": (_write_bad(tmp / "unprod.npz", regions=("R",), sectors=("a", "b"), Z=unprod_Z, Y=unprod_Y,
                                    x=ux, v=ux - unprod_Z.sum(0)), "unproductive"),
        "missing_labels": (missing_labels, "missing arrays"),
        "missing_file": (tmp / "does_not_exist.npz", "no such file"),
        "not_npz": (tmp / "garbage.npz", "not a readable"),
    }


@pytest.mark.parametrize("case", ["nan", "negative", "shape", "unproductive", "missing_labels", "missing_file", "not_npz"])
def test_bad_table_exit_2(case, tmp_path):
    (tmp_path / "garbage.npz").write_bytes(b"\x00\x01 not a zip")
    path, expect = _bad_cases(tmp_path)[case]
    res = _invoke("table", "info", str(path))
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    err = res.output.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ")
    assert expect in err[0] and str(path) in err[0]


def test_unknown_table_name():
    res = _invoke("table", "info", "nosuchtable")
    assert res.exit_code == 2 and "unknown table" in res.output and "default" in res.output


def test_table_list_shows_every_table_with_its_year():
    from shockmodel.io.tables import list_tables, load_table

    res = _invoke("table", "list")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    for name in list_tables():
        line = next(ln for ln in lines if ln.split()[0] == name)
        assert line.split()[1] == load_table(name).meta["year"]


@pytest.mark.parametrize(("name", "year"), [("default2019", "2019"), ("default2021", "2021"), ("default", "2022")])
def test_table_info_nowcast(name, year):
    from pathlib import Path

    res = _invoke("table", "info", name)
    assert res.exit_code == 0, res.output
    assert f"Table {name}: year {year};" in res.output
    assert f"USD million, current prices of {year}" in res.output
    assert "Largest remaining gap of the source margins:" in res.output
    assert "Known limits: Bilateral shares abroad" in res.output
    assert "kidb.adb.org" in res.output and "Timmer" in res.output
    # the top semiconductor exporters of that year, Taiwan first, with its documented share for the year
    rows = res.output.split(f"Semiconductors, {year}:")[1].splitlines()[2:]
    assert rows[0].split()[0] == "TWN"
    assert float(rows[0].split()[2]) == pytest.approx({"2019": 0.34, "2021": 0.40, "2022": 0.43}[year], abs=1e-3)
    # no development paths: nothing points into the developer's machine
    root = str(Path(__file__).resolve().parents[1])
    assert root not in res.output and "/work/" not in res.output and "shared" not in res.output
