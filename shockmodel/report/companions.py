"""Companion results of a run's report: a sensitivity analysis (``shockmodel sensitivity``) and backtests
(``shockmodel backtest``), each a result folder with its own ``data.nc``.

A report includes them when they are given (``shockmodel report RUN --sensitivity F --backtest F``) or when
they lie beside the run (sibling folders of the same results folder, or inside the run folder): a
sensitivity analysis only when it was computed for the same scenario file on the same table (its
``scenario_sha256`` and ``table_sha256`` equal the run's), backtests always (they score the model on past
events, not the scenario), the newest of each. Without companions the report is built from the run's
``data.nc`` alone, as before. numpy only (figures in :func:`sensitivity_figure`, :func:`validation_figure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shockmodel.errors import UserError
from shockmodel.report.document import Section, TextTable
from shockmodel.report.stats import format_probability, format_sig

DATA_FILE = "data.nc"


@dataclass(frozen=True)
class Companions:
    """Loaded companion datasets (or None) and the folders they came from."""

    sensitivity: object = None
    sensitivity_path: Path | None = None
    backtest: object = None
    backtest_path: Path | None = None


def _attrs(path: Path) -> dict:
    """The global attributes of a result file, or ``{}`` when it is not one."""
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return dict(ds.attrs)
    except Exception:   # a foreign or truncated file beside the run is not a companion
        return {}


def _load(path: Path, kind: str, field: str):
    """The companion dataset at ``path`` (a folder or a ``.nc`` file), checked to be of ``kind``."""
    import xarray as xr

    path = Path(path)
    data = path / DATA_FILE if path.is_dir() else path
    if not data.is_file():
        raise UserError(f"no {DATA_FILE} here (expected a {kind} result folder)", file=str(path), field=field)
    found = _attrs(data).get("kind")
    if found != kind:
        raise UserError(f"not a {kind} result (its data.nc is of kind {found or 'run'!r})", file=str(path),
                        field=field)
    with xr.open_dataset(data, engine="h5netcdf") as ds:
        return ds.load(), data.parent


def _candidates(run_folder: Path) -> list[Path]:
    """Result folders beside the run (siblings) and inside it, newest first."""
    places = []
    for parent in (run_folder.parent, run_folder):
        try:
            places += [p for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")
                       and p != run_folder and (p / DATA_FILE).is_file()]
        except OSError:
            continue
    return sorted(set(places), key=lambda p: (p / DATA_FILE).stat().st_mtime, reverse=True)


def discover(run_folder: Path, ds) -> dict[str, Path]:
    """``{"sensitivity": folder, "backtest": folder}`` for the newest matching companions beside the run."""
    found: dict[str, Path] = {}
    for folder in _candidates(Path(run_folder)):
        if "sensitivity" in folder.name and "sensitivity" not in found:
            a = _attrs(folder / DATA_FILE)
            if (a.get("kind") == "sensitivity" and a.get("scenario_sha256") == ds.attrs.get("scenario_sha256")
                    and a.get("table_sha256") == ds.attrs.get("table_sha256")):
                found["sensitivity"] = folder
        elif "backtest" in folder.name and "backtest" not in found:
            if _attrs(folder / DATA_FILE).get("kind") == "backtest":
                found["backtest"] = folder
    return found


def companions(run_folder: Path, ds, *, sensitivity=None, backtest=None, search: bool = True) -> Companions:
    """The companions given (paths), else those found beside the run when ``search``; a sweep has none."""
    if ds.attrs.get("sweep") or ds.attrs.get("kind") in ("sensitivity", "backtest"):
        return Companions()
    found = discover(run_folder, ds) if search else {}
    sens_path = sensitivity if sensitivity is not None else found.get("sensitivity")
    back_path = backtest if backtest is not None else found.get("backtest")
    sens, sdir = _load(sens_path, "sensitivity", "--sensitivity") if sens_path is not None else (None, None)
    back, bdir = _load(back_path, "backtest", "--backtest") if back_path is not None else (None, None)
    return Companions(sens, sdir, back, bdir)


# ---------------------------------------------------------------------------------------- sensitivity
def sensitivity_rows(sens, output: str = "World", top: int = 10) -> list[tuple[str, float, float, float, float]]:
    """(group, S1, S1 half-width, ST, ST half-width) of ``output``, ranked by total-order index."""
    d = sens.sel(output=output)
    st, order = d.ST.values, np.argsort(-d.ST.values, kind="stable")[:top]
    return [(str(d.group.values[i]), float(d.S1.values[i]), float(d.S1_conf.values[i]), float(st[i]),
             float(d.ST_conf.values[i])) for i in order]


def sensitivity_section(sens, ds, folder: Path | None = None) -> Section:
    """What drives the world GDP loss: first- and total-order Sobol indices of the input groups."""
    a = sens.attrs
    level = float(a.get("conf_level", 0.95))
    rows = tuple((g, format_sig(s1, 2), f"± {format_sig(c1, 2)}", format_sig(st_, 2), f"± {format_sig(ct, 2)}")
                 for g, s1, c1, st_, ct in sensitivity_rows(sens))
    paragraphs = [
        f"Which uncertain inputs drive the spread of the world GDP loss: Sobol indices (share of the loss's "
        f"variance) of groups of the engine's independent inputs ({a.get('grouping', 'packages')}), from "
        f"{a.get('evaluations', '?')} model evaluations ({a.get('samples', '?')} base samples, its own draws, not "
        f"this run's), model {a.get('model', '?')}, copula {a.get('copula', '?')}, seed {a.get('seed', '?')}. First "
        "order: the share an input explains alone; total order: alone and through its interactions. Intervals: "
        f"{level:.0%} bootstrap half-widths; with few samples a first-order index can exceed its total-order "
        "index by sampling error, within those intervals."]
    if a.get("model") != ds.attrs.get("model"):
        paragraphs.append(f"Note: the sensitivity analysis used the {a.get('model')} model, this run the "
                          f"{ds.attrs.get('model')} model (the analysis covers the static models only).")
    if a.get("ignored_shock_kinds"):
        paragraphs.append(f"The {a.get('model')} model ignores {a['ignored_shock_kinds']}: their indices are 0 "
                          "because the model never sees them.")
    if folder is not None:
        paragraphs.append(f"Source: sensitivity run {a.get('run_id', folder.name)}.")
    table = TextTable("Sobol indices of the world GDP loss", ("Input group", "First order", "interval",
                                                             "Total order", "interval"), rows,
                      "Units: share of the variance of the world GDP loss (0-1). Ranked by total order.",
                      (False, True, True, True, True))
    return Section("Sensitivity: what drives the loss", tuple(paragraphs), (table,))


def sensitivity_figure(sens):
    """The ranked Sobol chart of the world GDP loss (:func:`shockmodel.report.sensitivity.plot_sobol`)."""
    from shockmodel.report.sensitivity import plot_sobol

    return plot_sobol(sens, "World")


# ----------------------------------------------------------------------------------------- validation
def validation_section(back, folder: Path | None = None) -> Section:
    """How the model forecast past events from what was knowable then: one row per scored output."""
    n = back.sizes.get("forecast", 0)
    lab = back["label"].values if "label" in back.variables else back["forecast"].values
    rows = tuple((str(lab[i]), format_sig(float(back.outcome.values[i]), 3), format_sig(float(back["median"].values[i]), 3),
                  f"{format_sig(float(back.p05.values[i]), 3)} to {format_sig(float(back.p95.values[i]), 3)}",
                  format_sig(float(back.pit.values[i]), 2), "yes" if int(back.cover90.values[i]) else "no")
                 for i in range(n))
    c50 = int(np.sum(back.cover50.values)) if "cover50" in back else 0
    c90 = int(np.sum(back.cover90.values)) if "cover90" in back else 0
    cases = ", ".join(str(back.attrs.get("cases", "")).split(","))
    text = (f"Backtests: the model forecast {n} outcomes of past events ({cases}) from what "
            f"was knowable at each forecast date, then scored against what happened. The 90 % band held "
            f"{c90} of {n} outcomes (expected {format_sig(0.9 * n, 2)}), the 50 % band {c50} (expected "
            f"{format_sig(0.5 * n, 2)}); PIT is the share of forecast draws below the outcome (near 0 or 1: the "
            "outcome lay in a tail). These score the model, not this scenario: they say how far to trust its "
            f"bands. With {n} outcomes the coverage itself is uncertain (binomial: "
            f"{format_probability(_binomial_sd(n, 0.9) / max(n, 1))} standard deviation around 90 %).")
    paragraphs = [text]
    sd = _binomial_sd(n, 0.9)
    if n and c90 < 0.9 * n - 2 * sd:
        paragraphs.append(f"Verdict: the 90 % bands held the outcome far less often than they should (more than two "
                          "standard deviations below 90 %): on these cases the model's ranges were too narrow or "
                          "off-centre, so read this run's ranges as understating the uncertainty.")
    elif n and c90 > 0.9 * n + 2 * sd:
        paragraphs.append("Verdict: the 90 % bands held the outcome more often than they should: on these cases "
                          "the model's ranges were wider than needed.")
    if folder is not None:
        paragraphs.append(f"Source: backtest run {back.attrs.get('run_id', folder.name)}; its skill report has the "
                          "per-case charts and the competitors' forecasts.")
    table = TextTable("Forecasts of past events against outcomes", ("Outcome", "Observed", "Forecast median",
                                                                   "Forecast 5-95 %", "PIT", "In 90 % band"),
                      rows, "Units: loss in percent of the pre-event path (see each case's definition).",
                      (False, True, True, True, True, False))
    return Section("Validation: backtests on past events", tuple(paragraphs), (table,))


def _binomial_sd(n: int, p: float) -> float:
    return float(np.sqrt(n * p * (1 - p)))


def validation_figure(back):
    """The PIT histogram of the backtests (:func:`shockmodel.report.skill.plot_pit_histogram`)."""
    from shockmodel.report.skill import plot_pit_histogram

    return plot_pit_histogram(back.pit.values)
