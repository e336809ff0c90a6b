"""Backtests (L8, beside the sweep): forecast past events with what was knowable then, score against what
happened, and set the scores beside the forecasts institutions published at the time.

A *case* is a folder of ``params/backtests/`` (README there) with ``case.toml`` (forecast date, table,
model, draws, and the outputs compared: each with its realised value, its source and the competitors'
forecasts) and an ex-ante ``scenario.toml`` whose every source is dated no later than the forecast date.

Outcomes are losses in percent (docs/model-scoring.md):

* ``prewar_growth_pct`` / ``realised_growth_pct`` (eq. S6): ``100 (1 - (1 + g_realised) / (1 + g_prewar))``,
  the loss against the path expected before the event; a competitor's growth forecast maps the same way.
* ``units_lost`` / ``units_produced`` (eq. S7): ``100 lost / (produced + lost)``, the share of planned
  output lost; a competitor's units lost uses the same denominator.

The model side of an output is, per draw, the value added (``measure = "value_added"``) or gross output
(``"gross_output"``) lost by the named regions and sectors, in percent of their baseline. Draws come from
the engine's own sampler and propagation, block by block (:func:`engine.sample_block`,
:func:`engine.propagate_block`), so they are the draws ``shockmodel run`` makes with the same seed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from shockmodel import limits
from shockmodel.errors import UserError
from shockmodel.paths import params_dir

CASES_DIR = params_dir() / "backtests"
MEASURES = ("value_added", "gross_output")
#: every model: forecast_draws hands the dynamic model its block's seed, so it draws its behavioural
#: parameters from the stream a run uses (slow: about 150 draws a second on the default table)
BACKTEST_MODELS = ("constrained", "leontief", "ghosh", "dynamic")
ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


@dataclass(frozen=True)
class Competitor:
    name: str
    forecast: float          # loss in percent, on the output's definition
    published: dt.date
    source: str


@dataclass(frozen=True)
class Output:
    id: str
    label: str
    measure: str
    regions: tuple[str, ...]
    sectors: tuple[str, ...]   # empty: every sector
    outcome: float             # realised loss, percent
    definition: str            # the formula and its inputs, for the report
    source: str
    competitors: tuple[Competitor, ...] = ()


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    folder: Path
    forecast_date: dt.date
    scenario: Path
    table: str
    model: str
    draws: int
    seed: int
    outputs: tuple[Output, ...] = field(default_factory=tuple)
    structure: str = "sampled"   # critical-input classes drawn per draw, or "central" (docs/model.md eq. 54-55)


# --- loading ---------------------------------------------------------------------------------------


def list_cases() -> list[str]:
    """Names of the shipped cases (folders of params/backtests with a case.toml)."""
    return sorted(p.parent.name for p in CASES_DIR.glob("*/case.toml"))


def case_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.is_dir() and (p / "case.toml").is_file():
        return p / "case.toml"
    if p.suffix == ".toml" and p.is_file():
        return p
    q = CASES_DIR / str(name_or_path) / "case.toml"
    if q.is_file():
        return q
    raise UserError(f"no backtest case {name_or_path!r}; shipped cases: {', '.join(list_cases())}", field="CASE")


def loss_from_growth(growth_pct: float, prewar_growth_pct: float) -> float:
    """Eq. (S6): loss against the pre-war path, percent of the path's level."""
    return 100.0 * (1.0 - (1.0 + growth_pct / 100.0) / (1.0 + prewar_growth_pct / 100.0))


def loss_from_units(lost: float, produced: float) -> float:
    """Eq. (S7): share of planned output lost, percent."""
    return 100.0 * lost / (produced + lost)


def _req(table: Mapping, key: str, kind, file: Path, where: str):
    if key not in table:
        raise UserError(f"missing required key {key!r}", file=str(file), field=f"{where}{key}")
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise UserError(f"expected {getattr(kind, '__name__', kind)}, got {value!r}", file=str(file), field=f"{where}{key}")
    return value


def _output(t: Mapping, i: int, file: Path) -> Output:
    where = f"outputs[{i}]."
    oid = _req(t, "id", str, file, where)
    measure = t.get("measure", "value_added")
    if measure not in MEASURES:
        raise UserError(f"unknown measure {measure!r}; choose {', '.join(MEASURES)}", file=str(file), field=f"{where}measure")
    if "realised_growth_pct" in t:
        g0 = _req(t, "prewar_growth_pct", float, file, where)
        g = _req(t, "realised_growth_pct", float, file, where)
        outcome = loss_from_growth(g, g0)
        definition = f"100 (1 - (1 + {g:g}%) / (1 + {g0:g}%))"

        def comp_value(c, w):
            return loss_from_growth(_req(c, "growth_pct", float, file, w), g0)
    elif "units_lost" in t:
        lost = _req(t, "units_lost", float, file, where)
        made = _req(t, "units_produced", float, file, where)
        outcome = loss_from_units(lost, made)
        definition = f"100 {lost:,.0f} / ({made:,.0f} + {lost:,.0f})"

        def comp_value(c, w):
            return loss_from_units(_req(c, "units_lost", float, file, w), made)
    else:
        raise UserError("give realised_growth_pct and prewar_growth_pct, or units_lost and units_produced",
                        file=str(file), field=f"{where}realised")
    comps = []
    for j, c in enumerate(t.get("competitors", [])):
        w = f"{where}competitors[{j}]."
        comps.append(Competitor(name=_req(c, "name", str, file, w), forecast=comp_value(c, w),
                                published=_req(c, "published", dt.date, file, w), source=_req(c, "source", str, file, w)))
    return Output(id=oid, label=_req(t, "label", str, file, where), measure=measure,
                  regions=tuple(_req(t, "regions", list, file, where)), sectors=tuple(t.get("sectors", ())),
                  outcome=outcome, definition=definition, source=_req(t, "realised_source", str, file, where),
                  competitors=tuple(comps))


def load_case(name_or_path: str) -> Case:
    """Read and check a case (UserError naming file and field on a mistake)."""
    file = case_path(name_or_path)
    t = limits.load_toml(file, what="backtest case")
    outputs = tuple(_output(o, i, file) for i, o in enumerate(t.get("outputs", [])))
    if not outputs:
        raise UserError("a case needs at least one [[outputs]] table", file=str(file), field="outputs")
    ids = [o.id for o in outputs]
    if len(set(ids)) != len(ids):
        raise UserError(f"output ids must be unique, got {ids}", file=str(file), field="outputs")
    scenario = file.parent / _req(t, "scenario", str, file, "")
    if not scenario.is_file():
        raise UserError(f"scenario file {scenario} not found", file=str(file), field="scenario")
    draws = _req(t, "draws", int, file, "")
    if draws < 2:
        raise UserError(f"draws must be at least 2, got {draws}", file=str(file), field="draws")
    model = t.get("model", "constrained")
    if model not in BACKTEST_MODELS:
        raise UserError(f"unknown model {model!r}; choose one of {', '.join(BACKTEST_MODELS)}",
                        file=str(file), field="model")
    structure = t.get("structure", "sampled")
    if structure not in ("sampled", "central"):
        raise UserError(f"unknown structure {structure!r}; choose sampled or central", file=str(file), field="structure")
    return Case(name=_req(t, "name", str, file, ""), title=_req(t, "title", str, file, ""), folder=file.parent,
                forecast_date=_req(t, "forecast_date", dt.date, file, ""), scenario=scenario,
                table=t.get("table", "default"), model=model, draws=draws,
                seed=int(t.get("seed", 0)), outputs=outputs, structure=structure)


def scenario_sources(path: Path) -> list[tuple[str, str]]:
    """Every ``source`` / ``*_source`` string of a scenario TOML, with its key path."""
    found: list[tuple[str, str]] = []

    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                here = f"{where}.{k}" if where else k
                if (k == "source" or k.endswith("_source")) and isinstance(v, str):
                    found.append((here, v))
                else:
                    walk(v, here)

    walk(limits.load_toml(path, what="scenario .toml file"), "")
    return found


def undated_or_late_sources(case: Case) -> list[str]:
    """Problems of the ex-ante rule: a source with no ISO date, or with a date after the forecast date."""
    problems = []
    for where, text in scenario_sources(case.scenario):
        dates = [dt.date(int(y), int(m), int(d)) for y, m, d in ISO_DATE.findall(text)]
        if not dates:
            problems.append(f"{case.scenario}: {where}: no ISO date (YYYY-MM-DD) in the source")
        late = [d for d in dates if d > case.forecast_date]
        if late:
            problems.append(f"{case.scenario}: {where}: dated {max(late)}, after the forecast date {case.forecast_date}")
    return problems


# --- forecasting -----------------------------------------------------------------------------------


def _cells(out: Output, mrio, file: Path) -> np.ndarray:
    """Industry indices (region-major) of an output's regions x sectors."""
    regions = list(mrio.regions) if out.regions == ("ALL",) else list(out.regions)
    sectors = list(out.sectors) or list(mrio.sectors)
    for kind, names, known in (("regions", regions, mrio.regions), ("sectors", sectors, mrio.sectors)):
        bad = [x for x in names if x not in known]
        if bad:
            raise UserError(f"{bad[0]!r} is not a label of table {mrio.name} (labels: {', '.join(known)})",
                            file=str(file), field=f"outputs.{out.id}.{kind}")
    S = mrio.n_sectors
    return np.array([mrio.regions.index(r) * S + mrio.sectors.index(s) for r in regions for s in sectors], dtype=np.int64)


def forecast_draws(case: Case, draws: int | None = None, seed: int | None = None, model: str | None = None,
                   structure: str | None = None) -> dict[str, np.ndarray]:
    """Per-draw forecast (loss, percent) of every output of ``case``: ``{output id: (draws,) array}``.
    ``model`` and ``structure`` replace the case's own when given."""
    from shockmodel import engine
    from shockmodel.criticality import critical_weights, with_overrides
    from shockmodel.io.tables import load_table
    from shockmodel.scenario import compile_scenario, load_scenario

    n = int(draws or case.draws)
    s = case.seed if seed is None else int(seed)
    mrio = load_table(case.table)
    compiled = compile_scenario(load_scenario(case.scenario), mrio)
    critical = with_overrides(critical_weights(mrio), getattr(compiled, "critical_overrides", ()))   # as pipeline.run
    plan = engine.cached_plan(compiled, mrio, model or case.model, critical, structure=structure or case.structure)
    dx = np.empty((n, mrio.n))
    with engine.blas_single_thread():
        for block in range(-(-n // engine.BLOCK)):
            lo, hi = block * engine.BLOCK, min(n, (block + 1) * engine.BLOCK)
            smp = engine.sample_block(plan, s, block, engine.BLOCK)
            out = engine.propagate_block(plan, smp.severity, smp.occurred, seed=s, block=block,
                                         crit_w=engine.structure_weights(plan, s, block))
            dx[lo:hi] = out.dx[: hi - lo]
    result = {}
    for out in case.outputs:
        cells = _cells(out, mrio, case.folder / "case.toml")
        if out.measure == "value_added":
            result[out.id] = 100.0 * (dx[:, cells] * plan.va[cells]).sum(axis=1) / mrio.v[cells].sum()
        else:
            result[out.id] = 100.0 * dx[:, cells].sum(axis=1) / mrio.x[cells].sum()
    return result


# --- scoring ----------------------------------------------------------------------------------------


@dataclass
class BacktestResult:
    cases: list[Case]
    forecasts: dict[tuple[str, str], np.ndarray]    # (case, output id) -> draws
    scores: object                                  # pandas DataFrame, one row per output
    competitors: object                             # pandas DataFrame, one row per competitor forecast


def run_backtests(names: Sequence[str] | None = None, *, draws: int | None = None, seed: int | None = None,
                  progress=None, model: str | None = None, structure: str | None = None) -> BacktestResult:
    """Forecast and score every case in ``names`` (default: all shipped cases); ``model`` and ``structure``
    replace each case's own when given."""
    import pandas as pd

    from shockmodel import scoring

    import dataclasses

    if model is not None and model not in BACKTEST_MODELS:
        raise UserError(f"unknown model {model!r}; choose one of {', '.join(BACKTEST_MODELS)}", field="--model")
    cases = [dataclasses.replace(c, model=model or c.model, structure=structure or c.structure)
             for c in (load_case(n) for n in (names or list_cases()))]
    forecasts, rows, comp_rows = {}, [], []
    for case in cases:
        if progress:
            progress(case.name)
        for oid, x in forecast_draws(case, draws, seed).items():
            forecasts[(case.name, oid)] = x
        for out in case.outputs:
            sc = scoring.score(forecasts[(case.name, out.id)], out.outcome)
            rows.append({"case": case.name, "output": out.id, "label": out.label, **sc.as_dict(),
                         "definition": out.definition, "source": out.source})
            for c in out.competitors:
                comp_rows.append({"case": case.name, "output": out.id, "competitor": c.name, "forecast": c.forecast,
                                  "abs_error": abs(c.forecast - out.outcome), "model_abs_error_median": sc.abs_error_median,
                                  "published": c.published.isoformat(), "after_forecast_date": c.published > case.forecast_date,
                                  "source": c.source})
    comp_cols = ["case", "output", "competitor", "forecast", "abs_error", "model_abs_error_median", "published",
                 "after_forecast_date", "source"]
    return BacktestResult(cases=cases, forecasts=forecasts, scores=pd.DataFrame(rows),
                          competitors=pd.DataFrame(comp_rows, columns=comp_cols))


def to_dataset(res: BacktestResult):
    """The forecasts (draws), outcomes and scores as an xarray Dataset (dims ``forecast``, ``draw``)."""
    import xarray as xr

    sc = res.scores
    keys = [f"{c}/{o}" for c, o in zip(sc.case, sc.output)]
    n = min(len(v) for v in res.forecasts.values())
    draws = np.stack([res.forecasts[(c, o)][:n] for c, o in zip(sc.case, sc.output)])
    data = {"forecast_loss_pct": (("forecast", "draw"), draws, {"units": "percent", "long_name": "forecast loss per draw"})}
    for col, unit in (("outcome", "percent"), ("median", "percent"), ("p05", "percent"), ("p95", "percent"),
                      ("crps", "percent"), ("pit", "1"), ("abs_error_median", "percent")):
        data[col] = (("forecast",), sc[col].to_numpy(float), {"units": unit})
    for col in ("cover50", "cover90"):
        data[col] = (("forecast",), sc[col].to_numpy(np.int8), {"units": "1", "long_name": f"central band holds the outcome ({col[5:]}%)"})
    ds = xr.Dataset(data, coords={"forecast": keys, "case": ("forecast", sc.case.tolist()),
                                  "label": ("forecast", sc.label.tolist())})
    from shockmodel import __version__

    ds.attrs.update({"kind": "backtest", "shockmodel_version": __version__, "cases": ",".join(c.name for c in res.cases),
                     "tables": ",".join(sorted({c.table for c in res.cases})),
                     "forecast_dates": ",".join(f"{c.name}={c.forecast_date}" for c in res.cases),
                     "models": ",".join(f"{c.name}={c.model}" for c in res.cases),
                     "structure": ",".join(f"{c.name}={c.structure}" for c in res.cases)})
    return ds


def write_backtest(res: BacktestResult, out: str = "results", *, report: bool = True) -> tuple[Path, dict]:
    """A result folder: data.nc, scores.csv, competitors.csv, manifest.json and the skill report, written as a
    staged folder (io.results.staged_run_dir): it appears complete or not at all."""
    from shockmodel import __version__
    from shockmodel.io import results

    ds = to_dataset(res)
    rid = results.run_id("backtest", *sorted(ds.forecast.values.tolist()), ds.sizes["draw"], __version__,
                         ds.attrs["models"], ds.attrs["structure"])
    with results.staged_run_dir(out, rid) as (stage, folder):   # complete or not at all
        ds.attrs["run_id"] = folder.name
        results.write_dataset(ds, stage / results.DATA_FILE)
        results.write_text(stage / "scores.csv", res.scores.to_csv(index=False))
        results.write_text(stage / "competitors.csv", res.competitors.to_csv(index=False))
        results.write_json(stage / results.MANIFEST, {
            "run_id": folder.name, "kind": "backtest", "shockmodel_version": __version__,
            "draws": int(ds.sizes["draw"]),
            "cases": {c.name: {"forecast_date": c.forecast_date.isoformat(), "table": c.table, "model": c.model,
                               "structure": c.structure,
                               "seed": c.seed, "scenario": str(c.scenario.name)} for c in res.cases}})
        files = {}
        if report:
            from shockmodel.report.skill import write_skill_report

            files = write_skill_report(res, stage / "report")
    return folder, results.in_final(files, stage, folder)


def format_scores(res: BacktestResult) -> str:
    """The score table as text: one line per output, the competitors' errors beneath."""
    lines = [f"{'case/output':34s} {'outcome':>8s} {'median':>8s} {'p05':>7s} {'p95':>7s} {'CRPS':>7s} "
             f"{'PIT':>5s} {'50%':>4s} {'90%':>4s} {'|err|':>7s}"]
    comp = res.competitors
    for _, r in res.scores.iterrows():
        lines.append(f"{r.case + '/' + r.output:34s} {r.outcome:8.2f} {r['median']:8.2f} {r.p05:7.2f} {r.p95:7.2f} "
                     f"{r.crps:7.2f} {r.pit:5.2f} {'yes' if r.cover50 else 'no':>4s} {'yes' if r.cover90 else 'no':>4s} "
                     f"{r.abs_error_median:7.2f}")
        for _, c in comp[(comp.case == r.case) & (comp.output == r.output)].iterrows():
            late = " (published after our forecast date)" if c.after_forecast_date else ""
            lines.append(f"    {c.competitor:30s} forecast {c.forecast:6.2f}  |err| {c.abs_error:6.2f}{late}")
    sc = res.scores
    n = len(sc)
    lines.append(f"Over {n} outputs: 50% band holds {int(sc.cover50.sum())} (expected {n / 2:.1f}), 90% band holds "
                 f"{int(sc.cover90.sum())} (expected {0.9 * n:.1f}); PIT values below 0.05 or above 0.95: "
                 f"{int(((sc.pit < 0.05) | (sc.pit > 0.95)).sum())} (expected {0.1 * n:.1f}).")
    lines.append("Losses in percent of the pre-event path (see each case.toml); |err| = |median - outcome|.")
    return "\n".join(lines)
