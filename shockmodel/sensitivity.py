"""Global sensitivity of a scenario's losses: first- and total-order Sobol indices over named groups of
inputs (SALib: Saltelli sampling and Sobol analysis with bootstrap confidence intervals; docs/model-scoring.md).

Inputs and the copula, honestly. The engine's inputs are not independent: package intensity factors are
tied by the coordination copula, and every shock of a package loads on its package's factor. Sobol
indices need independent inputs, so the inputs here are the engine's INDEPENDENT latent variables
(engine.sample_block): per package its occurrence latent ``W_p`` (only when 0 < probability < 1) and its
intensity factor ``F_p``; per shock its idiosyncratic latent ``E_k``; for a Student-t copula the chi-square
mixing variable ``v``; with tariff shocks, the trade elasticity's standard normal. Each is sampled as a uniform, turned into a standard normal (or chi-square) and
mapped through the copula and the severity tables exactly as the engine does
(:func:`engine.latents_to_sample`), then propagated (:func:`engine.propagate_block`). So an index answers
"how much of the variance comes from this independent source", and a package factor's index holds the
coordination it carries to the other packages (through the copula) as well as the common part of its own
shocks. Dependent-input alternatives (Shapley effects) are not computed.

Groups (``grouping``): ``packages`` (per package: occurrence, common factor, all shock latents together),
``kinds`` (the shock latents split by shock kind), ``shocks`` (each shock latent alone: single inputs).
The market channel draws its own uniforms but does not feed back on GDP losses, so it is not an input.

Structure (docs/model.md eq. 54-55; D15). With ``structure="sampled"`` every declared critical-input pair's
class uniform is an input (group ``structure: critical-input classes``; each pair alone under ``shocks``);
the dynamic model's behavioural uniforms (inventory target days and substitutable shares per product,
order, rerouting and overproduction speeds) are inputs under either structure, in groups named
``structure: ...``. They are independent of every severity latent (streams of their own), so they enter
as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from shockmodel.errors import UserError

GROUPINGS = ("packages", "kinds", "shocks")
#: the dynamic model's behavioural uniforms (models.dynamic.draw_uniforms) and their groups
DYNAMIC_GROUPS = (("target", "structure: inventory target days (per product)"),
                  ("phi", "structure: substitutable share of blocked orders (per product)"))
DYNAMIC_SCALAR_GROUPS = {"tau_days": "structure: order speed (tau)", "adjustment_days": "structure: rerouting speed",
                         "alpha_max": "structure: overproduction (ceiling and speed)",
                         "tau_alpha_days": "structure: overproduction (ceiling and speed)"}


@dataclass(frozen=True)
class Layout:
    """Column layout of the sampled uniforms: input names, their groups and what each column drives."""

    names: tuple[str, ...]
    groups: tuple[str, ...]
    occ_cols: dict        # package index -> column
    factor_cols: dict     # package index -> column
    shock_cols: dict      # shock index -> column
    mixing_col: int | None
    elasticity_col: int | None = None   # the trade elasticity of tariff shocks (engine._tariff_shares)
    pair_cols: dict | None = None       # declared critical pair s * S + using sector -> column (sampled structure)
    dyn_cols: dict | None = None        # "target" / "phi": (S,) columns; "scalars": (4,) columns (dynamic model)


def input_layout(compiled, plan, grouping: str = "packages") -> Layout:
    """The independent inputs of ``compiled`` and their groups."""
    if grouping not in GROUPINGS:
        raise UserError(f"unknown grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}", field="--groups")
    names, groups, occ, fac, shk = [], [], {}, {}, {}
    for p, pkg in enumerate(compiled.packages):
        if 0.0 < pkg.probability < 1.0:
            occ[p] = len(names)
            names.append(f"{pkg.name}.occurrence")
            groups.append(f"{pkg.name}: occurrence")
        fac[p] = len(names)
        names.append(f"{pkg.name}.factor")
        groups.append(f"{pkg.name}: common factor (package correlation, coordination)")
    for k, sh in enumerate(compiled.shocks):
        pkg = compiled.packages[sh.package].name
        shk[k] = len(names)
        names.append(sh.key)
        groups.append({"packages": f"{pkg}: shock severities", "kinds": f"{pkg}: {sh.kind} severities",
                       "shocks": sh.key}[grouping])
    mixing = elasticity = None
    if plan.copula_df > 0:
        mixing = len(names)
        names.append("copula.mixing")
        groups.append("t-copula mixing variable")
    if len(plan.tariff_cols):
        elasticity = len(names)
        names.append("tariff.trade_elasticity")
        groups.append("trade elasticity (tariff shocks)")
    pair_cols = dyn_cols = None
    from shockmodel.engine import CRITICAL_MODELS

    if plan.structure == "sampled" and len(plan.crit_pair) and plan.model in CRITICAL_MODELS:
        pair_cols = {}
        sectors, S = compiled.sectors, plan.n_sectors
        for pair in sorted(set(plan.crit_pair.tolist())):
            pair_cols[pair] = len(names)
            name = f"critical.{sectors[pair % S]}.{sectors[pair // S]}"
            names.append(name)
            groups.append(name if grouping == "shocks" else "structure: critical-input classes")
    if plan.model == "dynamic":
        S = plan.n_sectors
        dyn_cols = {}
        for key, group in DYNAMIC_GROUPS:
            dyn_cols[key] = np.arange(len(names), len(names) + S)
            names.extend(f"dynamic.{key}.{sec}" for sec in compiled.sectors)
            groups.extend([group] * S)
        dyn_cols["scalars"] = np.arange(len(names), len(names) + len(DYNAMIC_SCALAR_GROUPS))
        for key, group in DYNAMIC_SCALAR_GROUPS.items():
            names.append(f"dynamic.{key}")
            groups.append(group)
    return Layout(tuple(names), tuple(groups), occ, fac, shk, mixing, elasticity, pair_cols, dyn_cols)


def problem_of(layout: Layout) -> dict:
    """SALib problem: every input uniform on [0, 1], with its group."""
    return {"num_vars": len(layout.names), "names": list(layout.names), "bounds": [[0.0, 1.0]] * len(layout.names),
            "groups": list(layout.groups)}


def saltelli_sample(problem: dict, n: int, seed: int = 0) -> np.ndarray:
    """Saltelli's scheme on a scrambled Sobol' sequence (SALib.sample.sobol), first and total order only:
    ``n (G + 2)`` rows for G groups (Saltelli et al. 2010, Comput. Phys. Commun. 181: 259-270)."""
    from SALib.sample import sobol

    if n < 2 or n & (n - 1):
        raise UserError(f"must be a power of two (balance of the Sobol' sequence), got {n}", field="--samples")
    return sobol.sample(problem, n, calc_second_order=False, scramble=True, seed=seed)


def sobol_indices(problem: dict, y: np.ndarray, seed: int = 0, conf_level: float = 0.95,
                  num_resamples: int = 500) -> dict[str, np.ndarray]:
    """First-order (Saltelli 2010 estimator) and total-order (Jansen 1999 estimator) indices with bootstrap
    confidence half-widths (SALib.analyze.sobol). Keys: S1, S1_conf, ST, ST_conf, one value per group."""
    from SALib.analyze import sobol

    y = np.asarray(y, dtype=np.float64)
    if not np.isfinite(y).all():
        raise ValueError("model outputs must be finite")
    if y.var() == 0.0:
        z = np.zeros(len(dict.fromkeys(problem.get("groups") or problem["names"])))
        return {"S1": z, "S1_conf": z.copy(), "ST": z.copy(), "ST_conf": z.copy()}
    res = sobol.analyze(problem, y, calc_second_order=False, num_resamples=num_resamples, conf_level=conf_level,
                        seed=seed)
    return {k: np.asarray(res[k], dtype=np.float64) for k in ("S1", "S1_conf", "ST", "ST_conf")}


def evaluate(plan, layout: Layout, X: np.ndarray, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """GDP losses (percent) of every row of uniforms ``X``: world (N,) and by region (N, R)."""
    from scipy import stats
    from scipy.special import ndtri

    from shockmodel import engine
    from shockmodel.sampling import U_CLIP, table_ppf
    from shockmodel.scenario import tariff_share_lost

    N, P, K = X.shape[0], plan.n_packages, plan.n_shocks
    B = engine.BLOCK
    world, regional = np.empty(N), np.empty((N, plan.n_regions))
    gdp0 = plan.gdp0
    with engine.blas_single_thread():
        for lo in range(0, N, B):
            hi = min(N, lo + B)
            u = np.clip(X[lo:hi], U_CLIP, 1.0 - U_CLIP)
            u = np.concatenate([u, np.repeat(u[-1:], B - (hi - lo), axis=0)])   # a full block, cut after
            z = ndtri(u)
            W = np.zeros((B, P))   # a certain package occurs whatever its latent; 0 for the unsampled ones
            F = np.zeros((B, P))
            E = np.zeros((B, K))
            for p, c in layout.occ_cols.items():
                W[:, p] = z[:, c]
            for p, c in layout.factor_cols.items():
                F[:, p] = z[:, c]
            for k, c in layout.shock_cols.items():
                E[:, k] = z[:, c]
            v = stats.chi2.ppf(u[:, layout.mixing_col], plan.copula_df) if layout.mixing_col is not None else None
            occ, sev = np.empty((B, P), dtype=bool), np.empty((B, K))
            engine.latents_to_sample(plan, W, F, E, v, occ, sev)
            if layout.elasticity_col is not None:   # tariff rates -> shares of trade lost, as engine._tariff_shares
                for k, (dist, params) in zip(plan.tariff_cols, plan.elasticities):
                    sev[:, k] = tariff_share_lost(sev[:, k], table_ppf(dist, params, z[:, layout.elasticity_col]))
            crit_w = dyn = None
            if layout.pair_cols:   # eq. 55 from the pairs' uniforms, as engine.structure_weights
                from shockmodel.criticality import sampled_weights

                cols = np.array([layout.pair_cols[p] for p in plan.crit_pair.tolist()], dtype=np.int64)
                crit_w = np.ascontiguousarray(sampled_weights(u[:, cols].T, plan.crit_thresholds))
            if layout.dyn_cols is not None:
                dyn = {k: np.ascontiguousarray(u[:, c].T) for k, c in layout.dyn_cols.items()}
            gdp = engine.propagate_block(plan, sev, occ, crit_w=crit_w, dyn_uniforms=dyn).gdp_loss[: hi - lo]
            regional[lo:hi] = 100.0 * gdp / np.where(gdp0 > 0, gdp0, 1.0)[None, :]
            world[lo:hi] = 100.0 * gdp.sum(axis=1) / gdp0.sum()
            if progress:
                progress(hi)
    return world, regional


def analyse(scenario, *, table="default", model: str = "constrained", grouping: str = "packages",
            samples: int = 512, seed: int = 0, conf_level: float = 0.95, overrides=None, progress=None,
            outputs: Sequence[str] = (), structure: str = "sampled"):
    """Sobol indices of world and regional GDP loss of ``scenario``: an xarray Dataset with ``S1``,
    ``S1_conf``, ``ST``, ``ST_conf`` over (output, group), and the output means and variances."""
    import xarray as xr

    from shockmodel import __version__, engine, pipeline
    from shockmodel.criticality import critical_weights, with_overrides

    mrio = pipeline._table(table)
    for o in outputs:   # a typo must not cost the whole evaluation
        if o != "World" and o not in mrio.regions:
            raise UserError(f"no output {o!r}; choose World or a region: {', '.join(mrio.regions)}", field="--output")
    spec, compiled = pipeline.compile_for(scenario, mrio, overrides)
    critical = with_overrides(critical_weights(mrio), getattr(compiled, "critical_overrides", ()))   # as pipeline.run
    plan = engine.cached_plan(compiled, mrio, model, critical, structure=structure)
    layout = input_layout(compiled, plan, grouping)
    problem = problem_of(layout)
    X = saltelli_sample(problem, samples, seed)
    world, regional = evaluate(plan, layout, X, progress)
    outputs = ["World", *mrio.regions]
    Y = np.column_stack([world, regional])
    idx = [sobol_indices(problem, Y[:, j], seed=seed, conf_level=conf_level) for j in range(Y.shape[1])]
    group_names = list(dict.fromkeys(layout.groups))
    members = [", ".join(n for n, g in zip(layout.names, layout.groups) if g == grp) for grp in group_names]
    data = {k: (("output", "group"), np.array([d[k] for d in idx]),
                {"units": "1", "long_name": {"S1": "first-order Sobol index", "ST": "total-order Sobol index",
                                             "S1_conf": f"first-order index: {conf_level:.0%} bootstrap half-width",
                                             "ST_conf": f"total-order index: {conf_level:.0%} bootstrap half-width"}[k]})
            for k in ("S1", "S1_conf", "ST", "ST_conf")}
    data["output_mean"] = (("output",), Y.mean(axis=0), {"units": "percent", "long_name": "mean GDP loss over the sample"})
    data["output_variance"] = (("output",), Y.var(axis=0), {"units": "percent^2", "long_name": "variance of GDP loss"})
    ds = xr.Dataset(data, coords={"output": outputs, "group": group_names, "members": ("group", members)})
    from shockmodel.models import ignored_kinds

    ignored = ignored_kinds(model, [sh.kind for sh in compiled.shocks])
    if ignored:   # their indices are 0 because the model never sees them, not because they do not matter
        ds.attrs["ignored_shock_kinds"] = "; ".join(f"{k}: {v}" for k, v in ignored.items())
    ds.attrs.update({
        "kind": "sensitivity", "shockmodel_version": __version__, "scenario": compiled.name, "scenario_sha256": compiled.spec_sha256, "table": mrio.name,
        "table_sha256": mrio.sha256, "model": model, "grouping": grouping, "samples": int(samples),
        "structure": structure,
        "evaluations": int(X.shape[0]), "seed": int(seed), "conf_level": float(conf_level),
        "copula": f"student-t, {plan.copula_df:g} df" if plan.copula_df > 0 else "gaussian",
        "method": "Sobol indices (Saltelli 2010 first order, Jansen 1999 total order) on a scrambled Sobol' "
                  "sequence, SALib; bootstrap confidence intervals",
        "inputs": "the engine's INDEPENDENT latent variables (package occurrence latents, package intensity "
                  "factors, shock idiosyncratic latents, t-copula mixing variable), mapped through the copula and "
                  "the severity tables exactly as the engine does; a package factor's index includes the "
                  "coordination it carries to other packages; structural inputs (critical-input class uniforms "
                  "when sampled, the dynamic model's behavioural uniforms) enter as they are",
    })
    return spec, ds


def summary_table(ds, output: str = "World"):
    """Tidy table, ``summarize`` style: one row per group of ``output``, ranked by total-order index."""
    import pandas as pd

    if output not in ds.output.values:
        raise UserError(f"no output {output!r}; choose World or a region: {', '.join(ds.output.values[1:])}",
                        field="--output")
    d = ds.sel(output=output)
    tab = pd.DataFrame({
        "output": output, "group": d.group.values, "S1": d.S1.values, "S1_lo": d.S1.values - d.S1_conf.values,
        "S1_hi": d.S1.values + d.S1_conf.values, "ST": d.ST.values, "ST_lo": d.ST.values - d.ST_conf.values,
        "ST_hi": d.ST.values + d.ST_conf.values, "members": d.members.values})
    return tab.sort_values("ST", ascending=False, kind="stable").reset_index(drop=True)


def format_table(ds, output: str = "World", top: int = 12) -> str:
    tab = summary_table(ds, output)
    w = max([5, *(len(g) for g in tab.group.head(top))])   # groups in full: a cut name can mislead
    lines = [f"Sobol indices of {output} GDP loss [{ds.attrs['scenario']}], {ds.attrs['evaluations']} evaluations "
             f"({ds.attrs['samples']} base samples), {ds.attrs['conf_level']:.0%} bootstrap intervals; copula: "
             f"{ds.attrs['copula']}",
             "Inputs: independent latents mapped through the copula as the engine does (see data.nc attrs).",
             *([f"NOTE: model {ds.attrs['model']!r} ignores {ds.attrs['ignored_shock_kinds']}; what it ignores "
                f"scores 0 because the model never sees it"] if ds.attrs.get("ignored_shock_kinds") else []),
             f"{'group':{w}s} {'first order':>20s} {'total order':>20s}"]
    if "output_variance" in ds and float(ds.output_variance.sel(output=output)) == 0.0:
        lines.append(f"({output} GDP loss does not vary over the sample: no input drives it; indices shown as 0)")
    for _, r in tab.head(top).iterrows():
        lines.append(f"{r.group:{w}s} {r.S1:7.3f} [{r.S1_lo:6.3f},{r.S1_hi:6.3f}] {r.ST:7.3f} [{r.ST_lo:6.3f},{r.ST_hi:6.3f}]")
    return "\n".join(lines)


def write_sensitivity(ds, spec, out: str = "results", outputs: Sequence[str] = ("World",)) -> tuple:
    """A result folder: data.nc, sensitivity.csv, manifest.json, the ranked chart (PNG, PDF) per output,
    written as a staged folder (io.results.staged_run_dir): it appears complete or not at all."""
    import pandas as pd
    import tomli_w

    from shockmodel import __version__
    from shockmodel.io import results
    from shockmodel.report.sensitivity import write_charts

    rid = results.run_id(f"sensitivity-{ds.attrs['scenario']}", ds.attrs["scenario_sha256"], ds.attrs["table_sha256"],
                         ds.attrs["model"], ds.attrs["grouping"], ds.attrs["samples"], ds.attrs["seed"],
                         *([ds.attrs["structure"]] if ds.attrs.get("structure", "central") != "central" else []))
    with results.staged_run_dir(out, rid) as (stage, folder):   # complete or not at all
        ds.attrs["run_id"] = folder.name
        if spec is not None:
            results.write_text(stage / "inputs" / "scenario.toml", tomli_w.dumps(spec.to_dict()))
        results.write_dataset(ds, stage / results.DATA_FILE)
        tab = pd.concat([summary_table(ds, o) for o in ds.output.values.tolist()])
        results.write_text(stage / "sensitivity.csv", tab.to_csv(index=False))
        results.write_json(stage / results.MANIFEST, {"run_id": folder.name, "shockmodel_version": __version__,
                                                      **{k: v for k, v in ds.attrs.items() if k != "run_id"}})
        files = write_charts(ds, stage / "report", outputs)
    return folder, results.in_final(files, stage, folder)
