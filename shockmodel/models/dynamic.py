"""The dynamic production network (docs/model-dynamic.md): daily steps (weekly as an option) over the
horizon per draw, inventories of critical and important inputs with target days, orders after Pichler et
al. (2022, JEDC 144:104527), rerouting of blocked orders to other origins, overproduction up to a ceiling
(ARIO, Hallegatte 2008), proportional rationing; package timelines (scenario.py: start, ramp, duration,
recovery). The kernel is kernels.dynamic.dynamic_sub_batch.

The reported losses are means over the horizon (annual rates, like the static models' losses times their
horizon fraction), so the horizon fraction ``f`` is 1; the monthly GDP path goes to ``ctx.extras``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from shockmodel import limits
from shockmodel.errors import UserError
from shockmodel.paths import params_dir

IGNORES = {"inventory": "inventory shocks (buyers' inventories are modelled: target days by input class, "
                        "params/dynamic.toml)"}
WORKSPACE = False
#: the feedback to demand (shockmodel.feedback's channels) runs inside the step (D16-D18), not as the
#: static second round after it; the terms-of-trade channel is not in the step (docs/model-dynamic.md)
FEEDBACK_CHANNELS = ("income", "uncertainty")
#: per-draw variables kept by default: a draw's monthly paths (variants x months x regions) make it about
#: 4 KB, so 10,000 kept draws hold ~40 MB whatever the run's size; statistics still cover every draw
KEEP_DRAWS = 10_000
SUB_BATCH = 64          #: draws stepped together (fixed: a draw's numbers do not depend on the others)
PARAM_STREAM = 2        #: spawn_key (block, PARAM_STREAM): the draw's stream of behavioural parameters
TIMELINE_STREAM = 3     #: spawn_key (block, TIMELINE_STREAM): sampled timeline lengths (D1), one uniform each


def default_params_path() -> Path:
    return params_dir() / "dynamic.toml"


class DynamicSetup(NamedTuple):
    """What the dynamic model fixes per plan: the kernel's tables and the parameter ranges."""

    tab: object                 # kernels.dynamic.DynTables
    target_lo: np.ndarray       # (S,) target days of each input product: range
    target_hi: np.ndarray
    crit_s: np.ndarray          # (Q,) input product of each critical pair
    phi_lo: np.ndarray          # (S,) substitutable share of each product: range
    phi_hi: np.ndarray
    scalars: dict               # name -> (lo, hi): tau_days, adjustment_days, alpha_max, tau_alpha_days
    rows: tuple                 # TimelineRow of each timeline: the P packages', then each shock with its own
    shock_row: np.ndarray       # (K,) timeline row of each shock (its package's unless it has its own)
    step_days: float
    n_steps: int
    n_months: int


class TimelineRow(NamedTuple):
    """One timeline of D1 in months: a package's (``package`` its index, ``start`` its own start as a
    distribution added to ``offset``, which holds a fixed start and the scenario's package offset) or a
    shock's own (``start`` counted from its package's start; ``None`` keys are the package's)."""

    package: int
    own: bool                   # a shock's own timeline
    offset: float
    start: object               # scenario.Distribution or None
    ramp: object
    duration: object            # a shock's own duration; packages take theirs from their duration shock
    recovery: object


def timeline_rows(compiled) -> tuple[tuple[TimelineRow, ...], np.ndarray]:
    """The timelines of ``compiled`` (packages first, in order, then each shock that sets its own) and the
    row of every shock."""
    from shockmodel.scenario import as_distribution

    rows = [TimelineRow(p, False, float(getattr(pkg, "start_months", 0.0)), getattr(pkg, "start_dist", None),
                        as_distribution(getattr(pkg, "ramp_months", 0.0)), None,
                        as_distribution(getattr(pkg, "recovery_months", 0.0)))
            for p, pkg in enumerate(compiled.packages)]
    shock_row = np.zeros(len(compiled.shocks), dtype=np.int64)
    for k, sh in enumerate(compiled.shocks):
        own = dict(getattr(sh, "timeline", ()))
        if own:
            shock_row[k] = len(rows)
            rows.append(TimelineRow(sh.package, True, 0.0, own.get("start_months"), own.get("ramp_months"),
                                    own.get("duration_months"), own.get("recovery_months")))
        else:
            shock_row[k] = sh.package
    return tuple(rows), shock_row


def _range(value, file: str, field: str, lo: float, hi: float) -> tuple[float, float]:
    if isinstance(value, bool):
        value = None
    if isinstance(value, (int, float)):
        a = b = float(value)
    elif isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                             for v in value):
        a, b = float(value[0]), float(value[1])
    else:
        raise UserError(f"expected a number or a range [lo, hi], got {value!r}", file=file, field=field)
    if not (lo <= a <= b <= hi) or not (math.isfinite(a) and math.isfinite(b)):
        raise UserError(f"expected lo <= hi within [{lo:g}, {hi:g}], got {value!r}", file=file, field=field)
    return a, b


def load_params(mrio, path: str | Path | None = None) -> dict:
    """Parse ``params/dynamic.toml`` for ``mrio``: scalar ranges and per-sector (S,) ranges."""
    path = Path(path) if path is not None else default_params_path()
    f = str(path)
    data = limits.load_toml(path, what="dynamic-model parameter file")
    allowed = {"steps": {"step_days"}, "orders": {"tau_days"}, "rerouting": {"adjustment_days"},
               "feedback": {"lag_days"},
               "overproduction": {"alpha_max", "tau_alpha_days"}, "classes": None,
               "default": {"target_days", "substitutable"}}
    for key, val in data.items():
        if key not in allowed:
            raise UserError(f"unknown key {key!r}; expected one of {', '.join(allowed)}", file=f, field=key)
        if allowed[key] is not None:
            for sub in val:
                if sub not in allowed[key]:
                    raise UserError(f"unknown key; expected one of {', '.join(sorted(allowed[key]))}", file=f,
                                    field=f"{key}.{sub}")
    try:
        scalars = {"tau_days": _range(data["orders"]["tau_days"], f, "orders.tau_days", 1.0, 3650.0),
                   "adjustment_days": _range(data["rerouting"]["adjustment_days"], f, "rerouting.adjustment_days",
                                             0.0, 3650.0),
                   "alpha_max": _range(data["overproduction"]["alpha_max"], f, "overproduction.alpha_max", 1.0, 3.0),
                   "tau_alpha_days": _range(data["overproduction"]["tau_alpha_days"], f,
                                            "overproduction.tau_alpha_days", 1.0, 3650.0),
                   "lag_days": _range(data.get("feedback", {}).get("lag_days", 0.0), f, "feedback.lag_days",
                                      0.0, 3650.0)}
        step = data.get("steps", {}).get("step_days", 1.0)
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not 1.0 <= step <= 7.0:
            raise UserError(f"expected a number of days from 1 (daily) to 7 (weekly), got {step!r}", file=f,
                            field="steps.step_days")
        dflt = data["default"]
        d_target = _range(dflt["target_days"], f, "default.target_days", 0.0, 3650.0)
        d_phi = _range(dflt["substitutable"], f, "default.substitutable", 0.0, 1.0)
    except KeyError as exc:
        raise UserError(f"missing key {exc.args[0]!r}", file=f) from None
    S = mrio.n_sectors
    target = np.tile(np.array(d_target), (S, 1))
    phi = np.tile(np.array(d_phi), (S, 1))
    named = np.zeros(S, dtype=bool)
    for cname, cls in data.get("classes", {}).items():
        field = f"classes.{cname}"
        for k in cls:
            if k not in ("sectors", "target_days", "substitutable"):
                raise UserError("unknown key; expected sectors, target_days, substitutable", file=f, field=f"{field}.{k}")
        if not isinstance(cls.get("sectors"), list):
            raise UserError("expected a list of sector names", file=f, field=f"{field}.sectors")
        t = _range(cls.get("target_days"), f, f"{field}.target_days", 0.0, 3650.0)
        p = _range(cls.get("substitutable"), f, f"{field}.substitutable", 0.0, 1.0)
        for name in cls["sectors"]:
            idx = ([mrio.sectors.index(name)] if name in mrio.sectors else
                   [mrio.sectors.index(x) for x in mrio.sector_groups.get(name, ())])
            for s in idx:
                if not named[s]:
                    target[s], phi[s], named[s] = t, p, True
    return {"scalars": scalars, "target": target, "phi": phi, "step_days": float(step)}


def prepare(ctx) -> dict:
    from shockmodel.kernels.dynamic import DynTables

    c = ctx.plan_fields
    mrio = ctx.mrio
    R, S = c["n_regions"], c["n_sectors"]
    prm = load_params(mrio)
    T = len(c["tri_e"])
    # blocked (importer, product) pairs: every (m, s) with a blockable triple
    keys = sorted(set(zip(c["tri_m"].tolist(), c["tri_s"].tolist())))
    pair_of = np.full((R, S), -1, dtype=np.int64)
    pr_m = np.array([k[0] for k in keys], dtype=np.int64)
    pr_s = np.array([k[1] for k in keys], dtype=np.int64)
    pair_of[pr_m, pr_s] = np.arange(len(keys))
    lists = [[] for _ in keys]
    for t in range(T):
        lists[pair_of[c["tri_m"][t], c["tri_s"][t]]].append(t)
    pr_ptr = np.zeros(len(keys) + 1, dtype=np.int64)
    pr_ptr[1:] = np.cumsum([len(x) for x in lists])
    pr_tri = np.array([t for x in lists for t in x], dtype=np.int64)
    base = c["Zsum"] + c["Ypos"]                      # (n, R)
    pr_base = np.ascontiguousarray(base.reshape(R, S, R)[:, pr_s, pr_m].T) if len(keys) else np.zeros((0, R))
    crit_s = np.ascontiguousarray(c["crit_s"], dtype=np.int64)
    tab = DynTables(
        x0=c["x0"], va=c["va"], A_cols=np.ascontiguousarray(c["A_cols"], dtype=ctx.gemm_dtype),
        Zsum=c["Zsum"], Ypos=c["Ypos"], tri_e=c["tri_e"], tri_m=c["tri_m"], tri_s=c["tri_s"], tri_of=c["tri_of"],
        crit_ptr=c["crit_ptr"], crit_s=crit_s, crit_w=c["crit_w"], req=c["req"], src_ptr=c["src_ptr"],
        src_i=c["src_i"], src_z=c["src_z"], src_t=c["src_t"], pr_m=pr_m, pr_s=pr_s, pr_ptr=pr_ptr,
        pr_tri=pr_tri, pr_base=np.ascontiguousarray(pr_base, dtype=np.float64), pair_of=pair_of)
    compiled = ctx.compiled
    dpm = ctx.days_per_month
    rows, shock_row = timeline_rows(compiled)
    step = prm["step_days"]
    horizon_days = float(compiled.horizon_months) * dpm
    setup = DynamicSetup(
        tab=tab, target_lo=prm["target"][:, 0], target_hi=prm["target"][:, 1], crit_s=crit_s,
        phi_lo=prm["phi"][:, 0], phi_hi=prm["phi"][:, 1], scalars=prm["scalars"],
        rows=rows, shock_row=shock_row, step_days=step,
        n_steps=max(1, int(round(horizon_days / step))), n_months=max(1, int(math.ceil(horizon_days / dpm - 1e-9))))
    return {"dyn": setup}


#: the four scalar parameters, in the order of their uniforms (rows of ``u_scalars``)
SCALARS = ("tau_days", "adjustment_days", "alpha_max", "tau_alpha_days")


def draw_uniforms(setup: DynamicSetup, seed: int, block: int, B: int) -> dict:
    """The behavioural uniforms of the block's draws, from ``SeedSequence(seed, spawn_key=(block,
    PARAM_STREAM))``: drawn for the full block in a fixed order, so a draw's values depend only on the seed
    and its place, never on chunking, threads, variants or how many draws are asked for (D15)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, PARAM_STREAM)))
    S = len(setup.phi_lo)
    u_t = rng.random((S, B))      # one target per input product and draw: every buyer of it holds as many days
    u_p = rng.random((S, B))
    u_s = rng.random((4, B))
    u_l = rng.random(B)           # the feedback lag (D16), drawn after the others: theirs are as without it
    return {"target": u_t, "phi": u_p, "scalars": u_s, "lag": u_l}


def draw_params(setup: DynamicSetup, seed: int, block: int, B: int, uniforms: dict | None = None) -> dict:
    """The behavioural parameters of the block's draws (D15): from :func:`draw_uniforms`, or from the
    ``uniforms`` given (``target`` (S, B), ``phi`` (S, B), ``scalars`` (4, B); shockmodel.sensitivity)."""
    u = uniforms if uniforms is not None else draw_uniforms(setup, seed, block, B)
    u_t, u_p, u_s = u["target"], u["phi"], u["scalars"]
    target = setup.target_lo[:, None] + u_t * (setup.target_hi - setup.target_lo)[:, None]
    out = {"n_target": target[setup.crit_s],
           "phi": setup.phi_lo[:, None] + u_p * (setup.phi_hi - setup.phi_lo)[:, None]}
    for r, name in enumerate(SCALARS):
        lo, hi = setup.scalars[name]
        out[name] = lo + u_s[r] * (hi - lo)
    lo, hi = setup.scalars["lag_days"]
    u_l = u["lag"] if "lag" in u else np.full(B, 0.5)    # uniforms given without it: the range's midpoint
    out["lag_days"] = lo + u_l * (hi - lo)
    return out


def timeline_values(rows, seed: int, block: int, B: int) -> list[dict]:
    """Each row's timeline lengths in months, ``{key: (B,) array or None}`` (D1). Every sampled one takes
    one uniform per draw from ``SeedSequence(seed, spawn_key=(block, TIMELINE_STREAM))``, drawn for the full
    block in row and key order and independent of the severities (assumption: when a measure starts does
    not depend on how severe it is), so a draw's values depend only on the seed and its place (D15)."""
    from shockmodel.sampling import ppf

    keys = ("start", "ramp", "duration", "recovery")
    sampled = [(r, k) for r, row in enumerate(rows) for k in keys
               if getattr(row, k) is not None and getattr(row, k).dist != "fixed"]
    u = (np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, TIMELINE_STREAM))).random((len(sampled), B))
         if sampled else None)
    out = []
    for r, row in enumerate(rows):
        vals = {}
        for k in keys:
            d = getattr(row, k)
            if d is None:
                vals[k] = None
            elif d.dist == "fixed":
                vals[k] = np.full(B, d.params[0])
            else:
                vals[k] = np.asarray(ppf(d.dist, d.params, u[sampled.index((r, k))]), dtype=np.float64)
        out.append(vals)
    return out


def timelines(plan, sev: np.ndarray, on: np.ndarray, seed: int, block: int, days_per_month: float) -> np.ndarray:
    """(rows, 4, B) start, full, end, gone (days) of every timeline (D1). A package ends its duration shock's
    months after its start, or outlasts the horizon; a shock with a timeline of its own starts its
    ``start_months`` after its package's start and ends ``duration_months`` after its own start, or with its
    package; its ramp and recovery are its package's unless it sets them. A package that did not occur
    never starts (its shocks neither), so its draws settle at once."""
    setup = plan.dyn
    B = sev.shape[0]
    dpm = days_per_month
    horizon_days = setup.n_steps * setup.step_days
    vals = timeline_values(setup.rows, seed, block, B)
    P = plan.n_packages
    tl = np.zeros((max(len(setup.rows), 1), 4, B))
    pk = {}
    for r, (row, v) in enumerate(zip(setup.rows, vals)):
        p = row.package
        if not row.own:
            start = (row.offset + (v["start"] if v["start"] is not None else 0.0)) * dpm
            ramp, rec = v["ramp"] * dpm, v["recovery"] * dpm
            end = start + horizon_days + 1.0
            for q, k in enumerate(plan.dur_cols):
                if plan.dur_pkg[q] == p:
                    end = start + sev[:, k] * dpm
            pk[p] = (start, ramp, end, rec)
        else:
            p_start, p_ramp, p_end, p_rec = pk[p]
            start = p_start + (v["start"] * dpm if v["start"] is not None else 0.0)
            ramp = v["ramp"] * dpm if v["ramp"] is not None else p_ramp
            rec = v["recovery"] * dpm if v["recovery"] is not None else p_rec
            end = start + v["duration"] * dpm if v["duration"] is not None else p_end
        tl[r, 0] = start
        tl[r, 1] = start + ramp
        tl[r, 2] = np.maximum(end, start + ramp)
        tl[r, 3] = tl[r, 2] + rec
        if p < P:
            tl[r, :, ~on[:, p]] = 0.0
    return tl


def kernel_inputs(plan, sev: np.ndarray, on: np.ndarray, seed: int, block: int, days_per_month: float,
                  crit_w: np.ndarray | None = None, uniforms: dict | None = None):
    """The kernel's shocks and parameters for a whole block (kernels.dynamic.DynShocks, DynParams), draws-last;
    :func:`sub_batch` cuts them. ``crit_w`` (Q, B): the draws' critical-pair weights (None: as declared);
    ``uniforms``: the behavioural uniforms given instead of drawn. Tests change fields with ``_replace``
    and call the kernel themselves."""
    from shockmodel.kernels import dynamic as kd

    setup = plan.dyn
    prm = draw_params(setup, seed, block, sev.shape[0], uniforms)
    B = sev.shape[0]
    dpm = days_per_month
    step = setup.step_days
    # D2: effective severities (0 where the package did not occur); substitution shocks of the scenario
    # set the substitutable share of their sectors (the larger of theirs and the class value)
    eff = np.where(on[:, plan.shock_pkg], sev, 0.0).T                # (K, B)
    phi = prm["phi"].copy()
    for q, k in enumerate(plan.subst_cols):
        phi[plan.subst_mask[q]] = np.maximum(phi[plan.subst_mask[q]], eff[k][None, :])
    n_target = prm["n_target"]
    n_target = np.maximum(n_target, step)        # at least one step of cover: the baseline never binds
    tl = timelines(plan, sev, on, seed, block, dpm)      # D1
    trade_k, cap_k, fd_k = plan.trade_cols, plan.cap_cols, plan.fd_cols
    shk = kd.DynShocks(
        trade_eff=np.ascontiguousarray(eff[trade_k]), trade_pkg=np.ascontiguousarray(setup.shock_row[trade_k]),
        trade_ptr=plan.trade_ptr, trade_tri=plan.trade_tri, cap_eff=np.ascontiguousarray(eff[cap_k]),
        cap_pkg=np.ascontiguousarray(setup.shock_row[cap_k]), cap_ptr=plan.cap_ptr, cap_cells=plan.cap_cells,
        fd_eff=np.ascontiguousarray(eff[fd_k]), fd_pkg=np.ascontiguousarray(setup.shock_row[fd_k]),
        fd_ptr=plan.fd_ptr, fd_cells=plan.fd_cells, timeline=tl)
    par = kd.DynParams(
        n_target=n_target, phi=phi, tau=np.maximum(prm["tau_days"], step), t_sub=prm["adjustment_days"],
        alpha_max=prm["alpha_max"], tau_alpha=prm["tau_alpha_days"],
        crit_w=np.ascontiguousarray(crit_w) if crit_w is not None else
        np.repeat(np.asarray(setup.tab.crit_w, dtype=np.float64)[:, None], sev.shape[0], axis=1),
        dt=step, n_steps=setup.n_steps,
        days_per_month=dpm, n_months=setup.n_months)
    return shk, par


def no_feedback(plan, B: int):
    """kernels.dynamic.DynFeedback switched off: the step runs exactly as without the feedback."""
    from shockmodel.kernels import dynamic as kd

    R, S = plan.n_regions, plan.n_sectors
    zero = np.zeros(B)
    return kd.DynFeedback(on=False, mpc=zero, inv_risk=zero, lag=zero, cons_cut=np.zeros(R * S),
                          inv_cut=np.zeros(R * S), gdp0=np.ones(R), world_full=0.0)


def feedback_inputs(plan, hook, u_market: np.ndarray, lag_days: np.ndarray):
    """The feedback's parameters for a block (D16-D18): the marginal propensity to consume, the investment
    semi-elasticity and the common risk premium from the market channel's own draws (params/markets,
    ``shockmodel markets show``), so one draw has one risk premium for equities and investment; the
    consumption and investment shares of each (region, product) final-demand cell from the table's
    categories (the hook's ``feedback_cells``: shockmodel.feedback.demand_cells)."""
    from shockmodel.kernels import dynamic as kd

    channels = hook.feedback.channels
    B = u_market.shape[0]
    draws = hook._m.sample_market_draws(hook.cm, u_market, hook.n_financial)
    cons_cut, inv_cut = hook.feedback_cells       # shockmodel.feedback.demand_cells of the table
    gdp0 = np.asarray(plan.gdp0, dtype=np.float64)
    mpc = draws.mpc if "income" in channels else np.zeros(B)
    inv_risk = (draws.investment_semi_elasticity * draws.common_risk_premium_pp / 100.0
                if "uncertainty" in channels else np.zeros(B))
    return kd.DynFeedback(on=True, mpc=np.ascontiguousarray(mpc, dtype=np.float64),
                          inv_risk=np.ascontiguousarray(inv_risk, dtype=np.float64),
                          lag=np.ascontiguousarray(lag_days, dtype=np.float64),
                          cons_cut=np.ascontiguousarray(cons_cut), inv_cut=np.ascontiguousarray(inv_cut),
                          gdp0=gdp0, world_full=float(hook.params.risk_full_at_world_gdp_loss * gdp0.sum()))


def cut_feedback(fb, lo: int, hi: int):
    return fb._replace(mpc=np.ascontiguousarray(fb.mpc[lo:hi]), inv_risk=np.ascontiguousarray(fb.inv_risk[lo:hi]),
                       lag=np.ascontiguousarray(fb.lag[lo:hi]))


def sub_batch(shk, par, lo: int, hi: int):
    """Draws ``lo:hi`` of a block's kernel inputs, contiguous."""
    def cut(a):
        return np.ascontiguousarray(a[..., lo:hi])

    shk = shk._replace(trade_eff=cut(shk.trade_eff), cap_eff=cut(shk.cap_eff), fd_eff=cut(shk.fd_eff),
                       timeline=cut(shk.timeline))
    par = par._replace(n_target=cut(par.n_target), phi=cut(par.phi), tau=cut(par.tau), t_sub=cut(par.t_sub),
                       alpha_max=cut(par.alpha_max), tau_alpha=cut(par.tau_alpha), crit_w=cut(par.crit_w))
    return shk, par


def run_kernel(plan, shk, par, trace: bool = False, fb=None):
    """kernels.dynamic.dynamic_sub_batch on one sub-batch; with ``trace`` the per-step checks are filled;
    ``fb`` the sub-batch's kernels.dynamic.DynFeedback (None: no feedback)."""
    from shockmodel.kernels import dynamic as kd

    R, S = plan.n_regions, plan.n_sectors
    n, B = R * S, shk.timeline.shape[2]
    k = par.n_steps if trace else 0
    out = kd.DynOut(dx=np.empty((n, B)), trade=np.empty((R, R, B)), gdp_path=np.empty((par.n_months, R, B)),
                    steps=np.empty(B, dtype=np.int64), trace_dx=np.empty((k, n, B)), trace_stock=np.empty((k, B)),
                    trace_balance=np.empty((k, B)))
    kd.dynamic_sub_batch(plan.dyn.tab, shk, par, out, no_feedback(plan, B) if fb is None else fb)
    return out


def propagate(plan, sev, on, ctx):
    setup = plan.dyn
    B = sev.shape[0]
    R, S = plan.n_regions, plan.n_sectors
    n = R * S
    seed, block = ctx.extras.get("_seed_block", (0, 0)) if ctx.extras is not None else (0, 0)
    shk, par = kernel_inputs(plan, sev, on, seed, block, ctx.days_per_month, ctx.crit_w, ctx.dyn_uniforms)
    market = ctx.extras.get("_market") if ctx.extras is not None else None   # (hook, u_market) with feedback on
    fb = None
    if market is not None:
        lag = draw_params(setup, seed, block, B, ctx.dyn_uniforms)["lag_days"]
        fb = feedback_inputs(plan, market[0], market[1], lag)
    dxT = np.zeros((n, B))
    tradeT = np.zeros((R, R, B))
    path = np.zeros((setup.n_months, R, B))
    steps = np.zeros(B, dtype=np.int64)
    wanted = B if ctx.keep is None else min(ctx.keep, B)

    def run(lo: int) -> None:
        hi = min(lo + SUB_BATCH, B)
        out = run_kernel(plan, *sub_batch(shk, par, lo, hi), fb=None if fb is None else cut_feedback(fb, lo, hi))
        sl = slice(lo, hi)
        dxT[:, sl], tradeT[:, :, sl], path[:, :, sl], steps[sl] = out.dx, out.trade, out.gdp_path, out.steps

    ctx.map_sub_batches(run, range(0, wanted, SUB_BATCH))
    if ctx.extras is not None:
        gdp0 = plan.gdp0
        scale = np.divide(100.0, gdp0, out=np.zeros_like(gdp0), where=gdp0 > 0)
        ctx.extras["gdp_loss_path_pct"] = np.ascontiguousarray((path * scale[None, :, None]).transpose(2, 0, 1))
    f = np.ones(B)
    converged = np.ones(B, dtype=bool)
    return dxT, tradeT, f, converged, steps, np.zeros((plan.classes.n_classes, B))
