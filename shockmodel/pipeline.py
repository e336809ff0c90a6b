"""Composition (L7): load -> validate -> simulate -> aggregate -> write -> report.

The public :func:`run` returns an ``xarray.Dataset``; :func:`write_run` writes it as a result folder
(docs/architecture.md, "result folders"). :func:`demo` runs the seed question: the combined crisis and each of its packages
alone on the same draws, and the simultaneity premium.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from shockmodel import __version__, runtime
from shockmodel.errors import UserError

ATTRIBUTION = ("Data: WIOD 2013 release (Timmer et al. 2015, Review of International Economics 23: 575-605), "
               "CC BY 4.0; converted by shockmodel.")  # for a table without its own attribution in its metadata


def attribution(mrio) -> str:
    """The data attribution of a run: the table's own (every shipped table carries one), else ATTRIBUTION."""
    return "Data: " + mrio.meta["attribution"] if mrio.meta.get("attribution") else ATTRIBUTION


DEMO_SCENARIO = "combined_coordinated"


def _table(table):
    from shockmodel.io.tables import load_table
    from shockmodel.mrio import MRIO

    return table if isinstance(table, MRIO) else load_table(table)


def resolve_scenario(scenario, overrides: Mapping[str, Any] | None = None):
    """A library name, a path, a ScenarioSpec or a CompiledScenario -> ScenarioSpec (or the compiled one)."""
    from shockmodel import scenario as sc

    if isinstance(scenario, (str, os.PathLike)):
        return sc.load_scenario(scenario, overrides=overrides)
    if overrides:
        raise UserError("overrides need a scenario name or path, not an object")
    return scenario


def compile_for(scenario, mrio, overrides=None):
    """(spec, compiled scenario) for ``scenario`` on ``mrio``; spec None if given compiled."""
    from shockmodel import scenario as sc

    spec = resolve_scenario(scenario, overrides)
    if isinstance(spec, sc.CompiledScenario):
        return None, spec
    key = (id(spec), mrio.sha256)
    hit = _COMPILED.get(key)
    if hit is None or hit[0] is not spec:
        if len(_COMPILED) >= 16:
            _COMPILED.clear()
        hit = _COMPILED[key] = (spec, sc.compile_scenario(spec, mrio))
    return spec, hit[1]


#: compiled scenarios by spec object (specs are frozen, and scenario.load_scenario returns the same
#: object while its files are unchanged) and table content; the entry holds the spec, so its id stays its own
_COMPILED = runtime.COMPILED


#: market parameters by file (path, modification time, size), compiled against a table by (parameters,
#: table), and scenario arrays by (engine plan, compiled parameters): what a run's market channel builds
#: before its first block, kept for the next run in the process (runtime.clear_caches drops them)
_MARKETS: dict[tuple, Any] = {}
runtime.register_cache(_MARKETS.clear)


def _market_cached(key: tuple, make: Callable[[], Any]) -> Any:
    hit = _MARKETS.get(key)
    if hit is None:
        if len(_MARKETS) >= 32:
            _MARKETS.clear()
        hit = _MARKETS[key] = make()
    return hit


class MarketHook:
    """Adapter between the engine's per-block outputs and :mod:`shockmodel.markets`.

    Per block it computes the commodity prices (two-sided: supply withdrawn at source against demand
    lost), the equity valuations and which indices are closed to foreign holders by an explicit financial
    shock of the scenario (``financial_sanction``, ``capital_controls``), and returns them per draw.
    The scenario-specific arrays (pass classes, shock masks) are built once per engine plan.
    """

    def __init__(self, params_name: str, mrio, compiled, feedback: Sequence[str] = ()):
        from shockmodel import markets

        self._m = markets
        self._mrio = mrio
        self._compiled = compiled
        path = markets._resolve_file(params_name)
        st = path.stat()
        self.params = _market_cached(("params", str(path), st.st_mtime_ns, st.st_size),
                                     lambda: markets.load_market_params(params_name))
        self.cm = _market_cached(("compiled", id(self.params), mrio.sha256), lambda: (
            self.params, markets.compile_market_params(self.params, mrio)))[1]
        self.n_financial = sum(sh.kind in markets.FINANCIAL_KINDS for sh in compiled.shocks)
        self.n_uniforms = markets.n_market_uniforms(self.cm, self.n_financial)
        self._sm: tuple = (None, None)
        # the Leontief inverse, computed here, outside the engine's one-thread BLAS limit, as the engine's
        # own plans compute it: its last bits depend on the BLAS thread count, and MRIO caches it
        self._L = mrio.L
        self.feedback = None   # feedback.FeedbackArrays when a channel is on (engine: second round per block)
        if feedback:
            from shockmodel import feedback as fb

            self.feedback = fb.compile_feedback(self.cm, mrio, tuple(feedback))
            self.feedback_cells = fb.demand_cells(mrio)   # the dynamic model's feedback cells (D17, D18)
        self._horizon_years = float(compiled.horizon_months) / 12.0
        commodities = [c.name for c in self.params.commodities]
        indices = [i.name for i in self.params.indices]
        self.coords = {
            "price_change_pct": ("commodity", commodities, "percent",
                                 "commodity price change (short run; negative: a fall)"),
            "price_at_bound": ("commodity", commodities, "1", "price at a historical bound in the draw (0/1)"),
            "equity_drawdown_pct": ("equity_index", indices, "percent",
                                    "equity index fall in value for a foreign holder (negative: a gain)"),
            "equity_closed": ("equity_index", indices, "1",
                              "index closed to foreign holders by a financial shock in the draw (0/1)"),
        }

    def scenario_arrays(self, plan):
        """The :class:`markets.ScenarioMarkets` of ``plan`` (built on first use, kept for the plan)."""
        if self._sm[0] is not plan:
            hit = _market_cached(("scenario", id(plan), id(self.cm)), lambda: (
                plan, self.cm, self._m.compile_scenario_markets(self.cm, self._compiled, plan, self._L)))
            self._sm = (plan, hit[2])
        return self._sm[1]

    def outcome(self, plan, out, u):
        """The :class:`markets.MarketOutcome` of one block."""
        sm = self.scenario_arrays(plan)
        return self._m.market_outcomes(self.cm, sm, out.dx, out.horizon_fraction, out.severity, out.on,
                                       out.blocked_class_share, u)

    def second_round(self, plan, dxT, f, severity, on, uT, u):
        """Add the feedback's second round to a block's output lost ``dxT`` (n, B) before the engine scales
        it by the horizon fraction ``f`` and reduces it (in place)."""
        from shockmodel import feedback as fb

        sm = self.scenario_arrays(plan)
        price, draws = self._m.block_prices(self.cm, sm, f, severity, on, uT.T, u)
        dx1 = dxT.T * f[:, None]
        dx = fb.second_round(self.feedback, self.cm, dx1, price, draws, self._horizon_years)
        scaled = np.divide(dx, f[:, None], out=dxT.T.copy(), where=f[:, None] > 0)   # f = 0: nothing occurred
        dxT[...] = scaled.T

    def __call__(self, plan, out, u):
        """The block's per-draw market series, from one kernel call (markets.market_block)."""
        sm = self.scenario_arrays(plan)
        B = out.severity.shape[0]
        # per-thread output and work arrays, reused block after block: the engine copies the series out
        # before this thread's next block
        hit = getattr(runtime.scratch, "market_block", None)
        if hit is None or hit[0] is not sm or hit[1] != B:
            hit = (sm, B, self._m.block_buffers(self.cm, sm, B))
            runtime.scratch.market_block = hit
        res = self._m.market_block(self.cm, sm, out.dx.T, out.horizon_fraction, out.severity, out.on,
                                   out.blocked_class_share, u, out=hit[2])
        return {"price_change_pct": res.price.T, "price_at_bound": res.at_bound.T,
                "equity_drawdown_pct": res.drawdown.T, "equity_closed": res.closed.T}


#: What the static models do with timelines (docs/model-dynamic.md, "Timelines and the static models").
STATIC_TIMELINE_NOTE = ("timelines (package start, ramp, recovery and offset; shocks' own start, ramp, duration "
                        "and recovery): a static model has no time; every shock acts at full severity for its "
                        "package's horizon fraction (duration and inventory shocks)")


def has_timelines(compiled) -> bool:
    """True when a package or shock of ``compiled`` has a timeline other than 'from day 0, for good'."""
    return any(p.start_months or p.ramp_months or p.recovery_months or p.start_dist is not None
               for p in compiled.packages) or any(sh.timeline for sh in compiled.shocks)


#: the structure of user-facing runs (run, sweep, backtest, sensitivity); the engine's own default is central
DEFAULT_STRUCTURE = "sampled"


def structure_description(structure: str, model: str) -> str:
    """What ``structure`` means for ``model``'s results, in words (dataset attribute ``structure_description``)."""
    crit = ("critical-input classes drawn per draw (params/critical_inputs.toml [uncertainty], eq. 54-55)"
            if structure == "sampled" else "critical-input weights as declared (params/critical_inputs.toml)")
    uses = {"constrained": crit, "dynamic": crit + "; inventory targets, rerouting, overproduction and order "
                                                   "speed drawn per draw (params/dynamic.toml, D15)"}
    text = uses.get(model, "this model uses no critical inputs: structure changes nothing")
    return text + "; market-channel elasticities and sensitivities drawn per draw (params/markets)"


def run(scenario, table="default", draws: int = 10_000, seed: int = 0, model: str = "constrained",
        chunk_size: int | None = None, *, variants: Mapping[str, Sequence[str]] | None = None,
        overrides: Mapping[str, Any] | None = None, threads: int | None = None, markets: str | None = "default",
        progress: Callable[[int], None] | None = None, keep_draws: int | None = None, precision: str = "float64",
        feedback: str | Sequence[str] | None = None, structure: str = DEFAULT_STRUCTURE):
    """Run a scenario and return the result ``xarray.Dataset`` (docs/contracts.md section 3).

    scenario: library name (``shockmodel scenarios list``), path to a TOML file, a ScenarioSpec or a
    CompiledScenario. table: shipped name or path, or an MRIO. variants: e.g.
    ``{"combined": ["russia", "china_taiwan"], "russia": ["russia"]}`` evaluates the same draws with only
    those packages switched on (adds a ``scenario`` dimension). markets: market parameter set name, or
    None to skip the market channel. keep_draws: per-draw variables hold the first this many draws
    (default ``engine.KEEP_DRAWS``, one million; 10,000 for the dynamic model, whose draws carry monthly
    paths) so memory stays flat; statistics cover every draw.
    precision: "float32" runs the matrix products in single precision (about 1.5-2x faster; results
    within 1e-5 of float64, tests/test_precision.py).
    feedback: second-round demand feedback channels (``"income,prices,uncertainty"``, a list of them,
    ``"all"``, or None / ``"none"``: off, the default); they need the market channel (shockmodel.feedback).
    structure: "sampled" (the default: critical-input classes drawn per draw, docs/model.md eq. 54-55) or
    "central" (the declared weights in every draw). The dynamic model's and the market channel's
    behavioural parameters are drawn per draw from their declared ranges under both.
    """
    from shockmodel import aggregate, engine
    from shockmodel.criticality import critical_weights, with_overrides

    t0 = time.perf_counter()
    mrio = _table(table)
    spec, compiled = compile_for(scenario, mrio, overrides)
    if variants is None:   # the scenario's own [variants], if it declares them
        variants = declared_variants(spec or next((sp for sp, c in _COMPILED.values() if c is compiled), None))
    from shockmodel.feedback import parse_channels

    channels = parse_channels(feedback)
    if channels and not markets:
        raise UserError("feedback needs the market channel (its prices and risk premia); give a market "
                        "parameter set", field="feedback")
    from shockmodel import models as model_registry

    inside = getattr(model_registry.get(model), "FEEDBACK_CHANNELS", None)   # feedback inside the model's steps
    left_out = [c for c in channels if inside is not None and c not in inside]
    if inside is not None:
        channels = tuple(c for c in channels if c in inside)
    hook = MarketHook(markets, mrio, compiled, channels) if markets else None
    # the scenario's own critical inputs ([critical_inputs], docs/scenarios.md) replace the file's weights
    critical = with_overrides(critical_weights(mrio), getattr(compiled, "critical_overrides", ()))
    raw = engine.simulate(compiled, mrio, draws=int(draws), seed=int(seed), model=model, chunk_size=chunk_size,
                          variants=variants, critical=critical, threads=threads, market=hook,
                          progress=progress,
                          keep_draws=(model_registry.default_keep_draws(model, engine.KEEP_DRAWS)
                                      if keep_draws is None else keep_draws),
                          precision=precision, structure=structure)
    attrs = {
        "scenario": compiled.name, "table": mrio.name, "table_sha256": mrio.sha256, "precision": precision,
        "scenario_sha256": compiled.spec_sha256, "seed": int(seed), "draws": int(draws), "model": model,
        "chunk_size": int(engine.chunk_blocks(chunk_size) * engine.BLOCK), "horizon_months": compiled.horizon_months,
        "coordination": float(compiled.coordination), "shockmodel_version": __version__,
        "copula": f"student-t, {compiled.copula_df:g} df" if getattr(compiled, "copula_df", 0.0) > 0 else "gaussian",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "attribution": attribution(mrio),
        "table_year": mrio.meta.get("year", ""),
        "market_params": markets or "", "feedback": ",".join(channels) or "none", "wall_seconds": round(time.perf_counter() - t0, 3),
        "non_converged_draws": int(raw.non_converged),
        "structure": structure, "structure_description": structure_description(structure, model),
    }
    from shockmodel.models import ignored_kinds

    ignored = ignored_kinds(model, [sh.kind for sh in compiled.shocks])
    if ignored:   # the model leaves part of the scenario out: every result says which (docs/model-dynamic.md)
        attrs["ignored_shock_kinds"] = "; ".join(f"{k}: {v}" for k, v in ignored.items())
    if left_out:
        attrs["ignored_feedback"] = (f"{', '.join(left_out)}: model {model!r} runs the feedback inside its steps, "
                                     f"with the channels {', '.join(inside)} only (docs/model-dynamic.md, D16-D18)")
    if model != "dynamic" and has_timelines(compiled):
        attrs["ignored_timelines"] = STATIC_TIMELINE_NOTE
    attrs.update(scenario_record(spec, compiled))
    if variants is not None:
        attrs["variants"] = format_variants(variants)
    ds = aggregate.to_dataset(raw, compiled, mrio, attrs=attrs, market_coords=hook.coords if hook else None,
                              variants=variants)
    if "price_at_bound_summary" in ds:   # the share of draws whose price sits at a historical bound
        ds["price_bound_share"] = ds["price_at_bound_summary"].sel(statistic="mean", drop=True).assign_attrs(
            units="1", long_name="share of draws with the commodity price at a historical bound")
    raw.release_counts()   # the dataset holds statistics, not the histograms: the next run reuses them
    # an unsaved run is named by what determines its numbers; write_run replaces this by its folder name
    digest = hashlib.sha256(f"{compiled.spec_sha256}{mrio.sha256}{seed}{draws}{model}{markets}{precision}"
                            f"{','.join(channels)}{structure}".encode())
    ds.attrs["run_id"] = f"unsaved-{compiled.name}-{digest.hexdigest()[:8]}"
    return ds


def parse_variants(text: str, packages: Sequence[str] | None = None) -> dict[str, list[str]]:
    """``"combined=russia,china_taiwan;russia=russia"`` -> ``{"combined": ["russia", "china_taiwan"], ...}``;
    a one-line :class:`UserError` (field ``--variants``) for a malformed entry or an unknown package."""
    out: dict[str, list[str]] = {}
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        name, sep, pkgs = entry.partition("=")
        names = [p.strip() for p in pkgs.split(",") if p.strip()]
        if not sep or not name.strip() or not names:
            raise UserError(f"expected NAME=PACKAGE[,PACKAGE...] separated by ';', got {entry!r}", field="--variants")
        if name.strip() in out:
            raise UserError(f"variant {name.strip()!r} is given twice", field="--variants")
        unknown = [p for p in names if packages is not None and p not in packages]
        if unknown:
            raise UserError(f"variant {name.strip()!r}: unknown package {unknown[0]!r}; the scenario's packages: "
                            f"{', '.join(packages)}", field="--variants")
        out[name.strip()] = names
    if not out:
        raise UserError("no variant given", field="--variants")
    return out


def declared_variants(spec) -> dict[str, list[str]] | None:
    """The ``[variants]`` a scenario declares, checked against its packages (a one-line
    :class:`UserError` naming the file and ``variants.<name>``), or None."""
    declared = getattr(spec, "variants", None)
    if not declared:
        return None
    packages = set(spec.package_names)
    for name, pkgs in declared.items():
        unknown = [p for p in pkgs if p not in packages]
        if unknown:
            raise UserError(f"unknown package {unknown[0]!r}; the scenario's packages: {', '.join(spec.package_names)}",
                            file=spec.source, field=f"variants.{name}")
    return {name: list(pkgs) for name, pkgs in declared.items()}


def format_variants(variants: Mapping[str, Sequence[str]]) -> str:
    """The inverse of :func:`parse_variants` (stored in the dataset's attrs)."""
    return ";".join(f"{name}={','.join(pkgs)}" for name, pkgs in variants.items())


def scenario_record(spec, compiled) -> dict[str, str]:
    """Dataset attrs that let a report be rebuilt from ``data.nc`` alone: ``scenario_description``,
    ``narrative`` (the "Narrative." paragraph of the scenario file's header comment, else the whole
    header) and ``scenario_resolved`` (the resolved scenario as JSON: every assumption and its source)."""
    import json

    if spec is None:   # given compiled: the spec it was compiled from, when this process compiled it
        spec = next((sp for sp, c in _COMPILED.values() if c is compiled), None)
    resolved = spec.to_dict() if spec is not None else _compiled_dict(compiled)
    source = getattr(spec, "source", "")
    return {"scenario_description": compiled.description,
            "narrative": scenario_narrative(Path(source)) if source and Path(source).is_file() else "",
            "scenario_resolved": json.dumps(resolved, sort_keys=False, default=list)}


def scenario_narrative(path: Path) -> str:
    """The header comment of a scenario file as prose: its "Narrative." paragraph when it has one."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    paragraphs = [" ".join(p.split()) for p in "\n".join(lines).split("\n\n") if p.strip()]
    chosen = [p for p in paragraphs if p.startswith("Narrative.")]
    text = chosen[0].removeprefix("Narrative.").strip() if chosen else " ".join(paragraphs[1:] or paragraphs)
    return text


def _compiled_dict(compiled) -> dict:
    """What a compiled scenario still knows of its assumptions, shaped like ``ScenarioSpec.to_dict()``."""
    packages = {}
    for i, p in enumerate(compiled.packages):
        shocks = {sh.key.split(".", 1)[-1]: {"kind": sh.kind, "description": sh.description,
                                             "severity": {"dist": sh.severity.dist,
                                                          "params": list(sh.severity.params)},
                                             "source": sh.source}
                  for sh in compiled.shocks if sh.package == i}
        packages[p.name] = {"description": p.description, "probability": p.probability, "source": p.source,
                            "correlation": p.correlation, "shocks": shocks}
    return {"name": compiled.name, "description": compiled.description,
            "horizon_months": compiled.horizon_months, "coordination": compiled.coordination,
            "packages": packages}


@dataclass(frozen=True)
class RunOutput:
    folder: Path
    dataset: Any
    report: dict


def _manifest(ds, spec, extra: Mapping[str, Any]) -> dict:
    import numba
    import xarray

    return {
        "run_id": ds.attrs["run_id"], "scenario": ds.attrs["scenario"], "table": ds.attrs["table"],
        "table_sha256": ds.attrs["table_sha256"], "scenario_sha256": ds.attrs["scenario_sha256"],
        "seed": ds.attrs["seed"], "draws": ds.attrs["draws"], "model": ds.attrs["model"],
        "copula": ds.attrs.get("copula", "gaussian"), "coordination": ds.attrs.get("coordination"),
        "precision": ds.attrs.get("precision", "float64"), "draws_kept": ds.attrs.get("draws_kept"),
        "chunk_size": ds.attrs["chunk_size"], "backend": "serial", "threads": numba.get_num_threads(),
        "wall_seconds": ds.attrs["wall_seconds"], "created_utc": ds.attrs["created_utc"],
        "non_converged_draws": ds.attrs["non_converged_draws"], "structure": ds.attrs.get("structure", "central"),
        "versions": {"shockmodel": __version__, "numpy": np.__version__, "numba": numba.__version__,
                     "xarray": xarray.__version__, "python": platform.python_version()},
        "attribution": ds.attrs.get("attribution", ATTRIBUTION), "table_year": ds.attrs.get("table_year", ""),
        **dict(extra),
    }


def write_run(ds, spec, out: str | os.PathLike = "results", *, report: bool = True,
              formats: Sequence[str] = ("html", "pdf"), extra: Mapping[str, Any] | None = None,
              drop_draws: bool = False) -> RunOutput:
    """Write ``ds`` as a result folder under ``out``; returns the folder and report files.

    The folder appears complete or not at all (io.results.staged_run_dir): it is filled as a hidden
    temporary folder and renamed when the report is written; a full disk, an error or an interrupt
    leaves nothing behind. drop_draws: once data.nc is written, delete the per-draw variables from
    ``ds`` (in place) before the report is built from the file, so a large run does not hold them twice.
    """
    import tomli_w

    from shockmodel.io import results

    rid = results.run_id(ds.attrs["scenario"], ds.attrs["scenario_sha256"], ds.attrs["table_sha256"],
                         ds.attrs["seed"], ds.attrs["draws"], ds.attrs["model"], ds.attrs.get("market_params"),
                         *([ds.attrs["precision"]] if ds.attrs.get("precision", "float64") != "float64" else []),
                         *([ds.attrs["structure"]] if ds.attrs.get("structure", "central") != "central" else []))
    with results.staged_run_dir(out, rid) as (stage, folder):
        ds.attrs["run_id"] = folder.name
        if spec is not None:
            results.write_text(stage / "inputs" / "scenario.toml", tomli_w.dumps(spec.to_dict()))
        narrow = results.float32_names(ds)
        if narrow:   # the dataset says which per-draw variables its file holds in single precision
            ds.attrs["stored_float32"] = ",".join(narrow)
        results.write_dataset(ds, stage / results.DATA_FILE, float32=narrow)
        results.write_json(stage / results.MANIFEST, _manifest(ds, spec, extra or {}))
        if drop_draws:
            for name in [n for n, v in ds.data_vars.items() if "draw" in v.dims]:
                del ds[name]
        files = _report_files(stage, formats) if report else {}
    return RunOutput(folder=folder, dataset=ds, report={k: folder / p.relative_to(stage) for k, p in files.items()})


def _report_files(stage, formats) -> dict:
    """The report of a staged run folder; a failed write (full disk) is one line, not a traceback."""
    from shockmodel.io import results
    from shockmodel.report.build import build_report as _build

    try:
        return _build(stage, formats=tuple(formats))
    except OSError as err:
        raise results.disk_error(err, stage / "report") from None


def check_destination(out, *, draws: int | None = None, seed: int | None = None) -> None:
    """Check before any work that a run folder can be written under ``out`` and that ``draws`` and
    ``seed`` fit the result format (shockmodel.limits); raises a one-line UserError."""
    from shockmodel import limits

    if draws is not None:
        limits.check_int(draws, field="draws", low=1, high=limits.MAX_DRAWS)
    if seed is not None:
        limits.check_int(seed, field="seed", low=0, high=limits.MAX_SEED)
    limits.check_destination(out)


def build_report(folder, formats: Sequence[str] = ("html", "pdf"), *, sensitivity=None, backtest=None) -> dict:
    """The report of a run or sweep ``folder`` from its data.nc (with the sensitivity and backtest result
    folders given, or found beside the run: shockmodel.report.companions); a file that is not a shockmodel
    result or an unwritable report folder is a one-line UserError."""
    from shockmodel.io import results
    from shockmodel.report.build import build_report as _build

    folder = Path(folder)
    data = folder / results.DATA_FILE if folder.is_dir() else folder
    if not data.is_file():
        raise UserError(f"no {results.DATA_FILE} here (expected a run or sweep folder)", file=str(folder))
    results.check_result_file(data)
    try:
        return _build(folder, formats=tuple(formats), sensitivity=sensitivity, backtest=backtest)
    except OSError as err:
        raise results.disk_error(err, data.parent / "report") from None


def demo(draws: int = 20_000, seed: int = 0, *, out="results", report: bool = True, table="default",
         model: str = "constrained", progress=None) -> RunOutput:
    """The seed question: ``combined_coordinated`` and its two packages alone, same draws (common random
    numbers), and the simultaneity premium ``loss(combined) - loss(russia) - loss(china_taiwan)``."""
    check_destination(out, draws=draws, seed=seed)
    mrio = _table(table)
    spec, compiled = compile_for(DEMO_SCENARIO, mrio)
    names = [p.name for p in compiled.packages]
    variants = {"combined": names, **{n: [n] for n in names}}
    ds = run(compiled, table=mrio, draws=draws, seed=seed, model=model, variants=variants, progress=progress)
    return write_run(ds, spec, out, report=report, extra={"variants": variants})


def compare(runs: Sequence[Any], *, draws: int = 2_000, seed: int = 0, table="default", out=None) -> Any:
    """Lay several runs side by side: ``runs`` are run folders (their ``data.nc``), library scenario names
    or scenario TOML paths (run here with ``draws`` and ``seed``, common random numbers), or datasets.
    Returns the comparison table (pandas DataFrame, one row per run; see
    :func:`shockmodel.report.compare.comparison_table`). ``out``: a folder to write ``comparison.csv``
    and ``comparison.png`` into."""
    from shockmodel.io.results import read_dataset, write_text
    from shockmodel.report.compare import comparison_table, plot_comparison

    datasets = {}
    for item in runs:
        label, ds = _comparable(item, draws=draws, seed=seed, table=table, read=read_dataset)
        if label in datasets:
            label = f"{label} ({len(datasets) + 1})"
        datasets[label] = ds
    if not datasets:
        raise UserError("give at least one run folder or scenario to compare", field="RUN")
    result = comparison_table(datasets)
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        write_text(folder / "comparison.csv", result.to_csv())
        plot_comparison(datasets).figure.savefig(folder / "comparison.png", dpi=150)
    return result


def _comparable(item, *, draws, seed, table, read):
    """(label, dataset) of one thing to compare."""
    if hasattr(item, "data_vars"):
        return str(item.attrs.get("scenario", "run")), item
    path = Path(os.fspath(item))
    if path.is_dir():
        return path.name, read(path)
    ds = run(os.fspath(item), table=table, draws=draws, seed=seed)
    return ds.attrs["scenario"], ds
