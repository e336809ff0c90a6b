"""The text of a report: sections of paragraphs and tables, built from a result dataset alone.

One layer for both outputs: :mod:`shockmodel.report.build` renders the same :class:`Section` list as
HTML and as PDF pages. Page 1 is the executive summary (the question, the scenario's narrative, the few
numbers that answer it, with units, and whether probabilities are conditional on the scenario); then
assumptions and their sources, results by region and market (bounds and caps marked with the share of
draws at them), the simultaneity premium when the run has variants, the sweep table for sweeps, a
glossary in words, and the run's details. numpy only (no matplotlib).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shockmodel.report._data import (
    ReportDataError,
    flag_shares,
    assumptions,
    combined,
    conditional,
    finite,
    has,
    series_by_label,
    world_draws,
)
from shockmodel.report._style import format_units
from shockmodel.report.sweepdata import reference_draws, swept_params
from shockmodel.report.stats import (
    Table,
    bounds_hit,
    format_number,
    format_probability,
    format_sig,
    loss_metrics,
    two_clusters,
)

META_KEYS = ("run_id", "scenario", "sweep", "table", "draws", "draws_kept", "seed", "model", "copula", "coordination",
             "precision",
             "horizon_months", "market_params", "non_converged_draws", "created_utc", "shockmodel_version",
             "table_sha256", "scenario_sha256")

#: Market variables and the dimension of their labels (old files name the equity dimension ``index``).
MARKETS = (("price_change_pct", ("commodity",)), ("equity_drawdown_pct", ("equity_index", "index")))

GLOSSARY = (
    ("GDP loss", "Value added (the income a region's industries generate, the production side of GDP) "
                 "lost over the horizon because of the shocks, in percent of the region's value added in "
                 "the base year of the table, or in USD million at the table's prices."),
    ("World GDP loss", "The sum of every region's lost value added, in percent of world value added."),
    ("Draw", "One joint sample of every uncertain assumption (whether each package happens, how severe "
             "each shock is, how long it lasts); the model is solved once per draw."),
    ("Mean, median (p50), p05, p95", "The average over draws, and the values below which 50 %, 5 % and "
                                     "95 % of draws fall."),
    ("VaR95, VaR99", "Value at risk: the loss exceeded in 5 % (1 %) of draws."),
    ("ES95, ES99", "Expected shortfall: the average loss in the worst 5 % (1 %) of draws."),
    ("Conditional probability", "A probability computed as if the scenario happens for certain (every "
                                "package has probability 1). It says how likely a loss is IF the crisis "
                                "occurs, not how often such a loss happens in calendar time."),
    ("Return period", "1 / exceedance probability. For a conditional run it counts occurrences of the "
                      "scenario, not years."),
    ("Simultaneity premium", "The loss of the combined scenario minus the sum of the losses of its parts "
                             "run alone on the same draws, in percentage points: positive when the crises "
                             "together cost more than apart."),
    ("Trade loss", "Exports (intermediate and final goods) that cannot be delivered, in percent of the "
                   "region's baseline exports or USD million; sales within a region are not trade."),
    ("Output loss", "Gross output (sales, including to other industries) lost by a region's industry."),
    ("Commodity price change", "The short-run change of a world commodity price when supply or demand "
                               "is withdrawn, in percent (negative: a fall); some commodities are held within "
                               "their largest historical moves (a bound)."),
    ("Equity drawdown", "The fall of an equity index's value for a foreign holder, in percent: 0 is no "
                        "loss, 100 the holding lost, negative a gain. An index closed to foreign holders "
                        "costs them at least a sampled 'uninvestable' loss."),
    ("Bound or cap", "A limit the model imposes on a variable (a historical price bound, a 100 % "
                     "drawdown); draws at it say the limit, not the model's economics, sets the number."),
)


@dataclass(frozen=True)
class TextTable:
    """A table of text cells; ``numeric`` marks the columns to right-align."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    numeric: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Section:
    """A heading, paragraphs and tables; ``new_page``: starts a PDF page."""

    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[TextTable, ...] = ()
    new_page: bool = True


def document(ds, tables: list[Table], companions: list[Section] = ()) -> list[Section]:
    """Every text section of the report of ``ds``, in order; ``tables`` are the numeric summary tables,
    ``companions`` the sensitivity and validation sections (:mod:`shockmodel.report.companions`)."""
    sections = [executive_summary(ds), assumptions_section(ds)]
    results = [from_table(t) for t in tables]
    results += [t for t in (exceedance_text_table(ds), market_table(ds)) if t is not None]
    if results:
        sections.append(Section("Results", (_conditional_sentence(ds), *cluster_notes(ds)), tuple(results)))
    sections += [s for s in (premium_section(ds), paths_section(ds)) if s is not None]
    sections += list(companions)
    sections.append(glossary_section())
    sections.append(Section("Run details", (), (meta_table(ds),), new_page=False))
    return sections


# --------------------------------------------------------------------------------------------- page 1
def title(ds) -> str:
    return f"shockmodel report: {ds.attrs.get('scenario') or ds.attrs.get('sweep') or 'run'}"


def question(ds) -> str:
    """The question the run answers, in one sentence."""
    described = str(ds.attrs.get("scenario_description") or ds.attrs.get("description") or "").strip().rstrip(".")
    what = described[0].lower() + described[1:] if described else f"scenario {ds.attrs.get('scenario', '')}"
    horizon = ds.attrs.get("horizon_months")
    over = f" over {format_sig(float(horizon), 3)} months" if horizon else ""
    if ds.attrs.get("sweep"):
        return (f"How does the loss of the world economy respond to the swept assumptions "
                f"({ds.attrs.get('swept', '')}) in the sweep {ds.attrs['sweep']}: {what}?")
    text = f"What would this cost the world economy{over}, and who loses most: {what}?"
    if has(ds, "world_simultaneity_premium_pct"):
        text += " And how much more do the crises cost together than apart?"
    return text


def executive_summary(ds) -> Section:
    narrative = str(ds.attrs.get("narrative") or ds.attrs.get("scenario_description")
                    or ds.attrs.get("description") or "").strip()
    paragraphs = [f"Question. {question(ds)}"]
    if narrative:
        paragraphs.append(f"Scenario. {narrative}")
    paragraphs.append(_conditional_sentence(ds))
    paragraphs.append(setup_sentence(ds))
    return Section("Executive summary", tuple(paragraphs), (key_numbers(ds),), new_page=False)


def copula_words(ds) -> str:
    """``"Gaussian copula"`` or ``"Student-t copula with 4 degrees of freedom"``, with the coordination."""
    text = str(ds.attrs.get("copula") or assumptions(ds).get("copula") or "gaussian")
    if text.startswith("student-t") or text == "t":
        df = text.split(",")[1].strip().split()[0] if "," in text else assumptions(ds).get("copula_df", "?")
        words = f"Student-t copula with {df} degrees of freedom (joint extremes more likely than Gaussian)"
    else:
        words = "Gaussian copula"
    coordination = ds.attrs.get("coordination", assumptions(ds).get("coordination"))
    if coordination is not None:
        words += f", coordination (latent correlation between packages) {format_sig(float(coordination), 2)}"
    return words


def setup_sentence(ds) -> str:
    """Model, table, draws, seed and dependence structure in one sentence."""
    parts = [f"model {ds.attrs.get('model', '?')}", f"table {ds.attrs.get('table', '?')}"]
    if ds.attrs.get("table_year"):
        parts[-1] += f" (year {ds.attrs['table_year']})"
    parts += [f"{ds.attrs.get('draws', ds.sizes.get('draw', '?'))} draws", f"seed {ds.attrs.get('seed', '?')}"]
    return f"How. {', '.join(parts)}; dependence between packages: {copula_words(ds)}."


def cluster_notes(ds, n_regions: int = 8) -> tuple[str, ...]:
    """A sentence for each of the world and the most affected regions whose GDP loss falls into two
    clearly separated groups of draws (:func:`shockmodel.report.stats.two_clusters`): the mean then lies
    between the groups (or a small group sets the tail measures), and the sampled inputs that differ most
    between the groups are named."""
    if swept_params(ds):
        return ()
    from shockmodel.report._data import combined

    c = combined(ds)
    series: dict[str, np.ndarray] = {}
    if "world_gdp_loss_pct" in c and c["world_gdp_loss_pct"].dims == ("draw",):
        series["the world"] = np.asarray(c["world_gdp_loss_pct"].values, dtype=float)
    if "gdp_loss_pct" in c and set(c["gdp_loss_pct"].dims) == {"draw", "region"}:
        table = c["gdp_loss_pct"].transpose("draw", "region")
        means = np.nanmean(np.asarray(table.values, dtype=float), axis=0)
        names = [str(r) for r in np.asarray(table["region"].values)]
        for i in np.argsort(-means, kind="stable")[:n_regions]:
            series[names[i]] = np.asarray(table.values[:, i], dtype=float)
    notes = []
    for name, x in series.items():
        cl = two_clusters(x)
        if cl is None:
            continue
        lo, hi = 1 - cl.high_share, cl.high_share
        text = (f"Two outcomes for {name}: the GDP loss falls into two separate groups of draws, "
                f"{format_probability(lo)} near {format_sig(cl.low_mean, 2)} % and {format_probability(hi)} near "
                f"{format_sig(cl.high_mean, 2)} % (split at {format_sig(cl.threshold, 2)} %). ")
        if min(lo, hi) >= 0.05:
            text += (f"The mean ({format_sig(float(np.nanmean(x)), 2)} %) lies between them and describes few "
                     "draws: read the two groups and the quantiles, not the mean alone.")
        else:
            text += ("The small group sets the tail measures (VaR99, ES99) and the far end of the exceedance "
                     "curve: they describe that group, not the typical draw.")
        drivers = separating_inputs(ds, x > cl.threshold, np.isfinite(x))
        if drivers:
            text += " Inputs that differ most between the groups (medians, upper group vs the rest): " + "; ".join(
                f"{k} {format_sig(a, 2)} vs {format_sig(b, 2)}" for k, a, b in drivers) + "."
        notes.append(text)
    return tuple(notes)


def separating_inputs(ds, upper: np.ndarray, valid: np.ndarray, top: int = 2) -> list[tuple[str, float, float]]:
    """The sampled severities (``severity``, draw x shock) whose medians differ most between the draws in
    ``upper`` and the rest, in units of their interquartile range over all draws: (shock, median in the
    upper group, median in the rest). Empty when the dataset has no per-draw severities."""
    from shockmodel.report._data import combined

    c = combined(ds)
    if "severity" not in c or set(c["severity"].dims) != {"draw", "shock"}:
        return []
    sev = np.asarray(c["severity"].transpose("draw", "shock").values, dtype=float)
    if sev.shape[0] != upper.size:
        return []
    up, rest = sev[upper & valid], sev[~upper & valid]
    if up.shape[0] < 2 or rest.shape[0] < 2:
        return []
    iqr = np.subtract(*np.nanquantile(sev, [0.75, 0.25], axis=0))
    mu, mr = np.nanmedian(up, axis=0), np.nanmedian(rest, axis=0)
    score = np.where(iqr > 0, np.abs(mu - mr) / np.where(iqr > 0, iqr, 1.0), 0.0)
    names = [str(v) for v in np.asarray(c["shock"].values)]
    order = [i for i in np.argsort(-score, kind="stable")[:top] if score[i] >= 0.5]
    return [(names[i], float(mu[i]), float(mr[i])) for i in order]


def _conditional_sentence(ds) -> str:
    if ds.attrs.get("sweep"):
        return ("Within each cell, probabilities are conditional on that cell's scenario occurring unless a "
                "package probability (swept or not) is below one; cells are never pooled.")
    if conditional(ds):
        return ("Probabilities are conditional on the scenario occurring: every package has probability 1, "
                "so '5 %' means 'in 5 % of the ways this crisis could unfold', not 'once in 20 years'.")
    return ("Some packages carry probabilities below one, so probabilities include the chance that they do "
            "not happen (over the horizon); they are still conditional on the scenario's assumptions.")


def key_numbers(ds) -> TextTable:
    """The few numbers that answer the question, with units."""
    rows: list[tuple[str, str, str]] = []
    premium_note = ""
    pct = "% of world value added"
    sweep = bool(swept_params(ds))
    if sweep:   # a sweep answers with its base cell (every parameter at its reference value)
        x = reference_draws(ds)
        if x is not None and x.size:
            m = loss_metrics(x)
            rows.append(("World GDP loss in the base cell, mean", format_sig(m["mean"], 3), pct))
            rows.append(("World GDP loss in the base cell, 95th percentile", format_sig(m["p95"], 3), pct))
    elif has(ds, "world_gdp_loss_pct"):
        x = world_draws(ds)
        m = loss_metrics(x)
        usd = _world_usd_bn(ds)
        rows.append(("World GDP loss, mean", format_sig(m["mean"], 3), pct))
        if usd is not None:
            rows.append(("World GDP loss, mean, in money", format_sig(usd, 3), "USD billion (table prices)"))
        rows.append(("World GDP loss, median", format_sig(m["p50"], 3), pct))
        rows.append((f"World GDP loss exceeded with {format_probability(0.05)} probability (VaR95)",
                     format_sig(m["VaR95"], 3), pct))
        rows.append((f"World GDP loss, mean of the worst {format_probability(0.01)} of draws (ES99)",
                     format_sig(m["ES99"], 3), pct))
    if has(ds, "gdp_loss_pct") and not sweep:
        per = {r: v for r, v in series_by_label(ds, "gdp_loss_pct", "region").items() if v.size}
        top = sorted(per, key=lambda r: -float(per[r].mean()))[:3]
        for r in top:
            rows.append((f"Most affected: {r}, mean GDP loss", format_sig(float(per[r].mean()), 3),
                         f"% of {r}'s value added"))
    if has(ds, "world_simultaneity_premium_pct"):
        p = finite(ds["world_simultaneity_premium_pct"].values)
        if p.size:
            rows.append(("Simultaneity premium, mean", format_sig(float(p.mean()), 2),
                         "percentage points of world value added"))
            rows.append(("Probability that the crises cost more together than apart",
                         format_probability(float(np.mean(p > 0))), "share of draws"))
            premium_note = premium_words(float(p.mean()), float(np.mean(p > 0)), ds.attrs.get("model"))
    for var, dims in MARKETS:
        dim = next((d for d in dims if has(ds, var) and d in ds[var].dims), None)
        if dim is None or sweep:
            continue
        per = {k: v for k, v in series_by_label(ds, var, dim).items() if v.size}
        if not per:
            continue
        worst = max(per, key=lambda k: float(np.median(per[k])))
        name = "commodity price change" if var == "price_change_pct" else "equity drawdown"
        capped = [f"{format_probability(share)} of draws at its {kind} {format_sig(value, 3)}"
                  for value, share, kind in bounds_hit(per[worst], ds[var].attrs) if kind == "upper bound"]
        note = f" ({capped[0]})" if capped else ""
        unit = "% change of the world price" if var == "price_change_pct" else "% of value, for a foreign holder"
        rows.append((f"Largest median {name}: {worst}{note}", format_sig(float(np.median(per[worst])), 3), unit))
    if int(ds.attrs.get("non_converged_draws", 0) or 0):
        rows.append(("Draws that did not converge", str(ds.attrs["non_converged_draws"]), "draws"))
    n = ds.sizes.get("draw", 0)
    note = (f"From {ds.attrs.get('draws', n)} draws. Losses are positive numbers." if n else "")
    if premium_note:
        note = f"{note} Simultaneity premium: {premium_note[0].lower()}{premium_note[1:]}".strip()
    return TextTable("The answer in numbers", ("Quantity", "Value", "Unit"), tuple(rows), note,
                     (False, True, False))


def _world_usd_bn(ds) -> float | None:
    if not has(ds, "world_gdp_loss"):
        return None
    x = finite(combined(ds)["world_gdp_loss"].values)
    return float(x.mean()) / 1000.0 if x.size else None


# ---------------------------------------------------------------------------------------- assumptions
def assumptions_section(ds) -> Section:
    """Packages and shocks with their distributions and sources, from the stored resolved scenario."""
    spec = assumptions(ds)
    if not spec:
        return Section("Assumptions and sources", ("The dataset does not record the scenario's assumptions "
                                                   "(written by an older version); see inputs/ in the run folder.",))
    paragraphs = []
    if "horizon_months" in spec:
        paragraphs.append(f"Horizon: {format_sig(float(spec['horizon_months']), 3)} months, the period over "
                          "which losses are counted.")
    if "coordination" in spec:
        source = spec.get("coordination_source") or "not given"
        paragraphs.append(f"Dependence between packages (occurrence and intensity): {copula_words(ds)}. "
                          f"Source: {source}")
    if spec.get("copula_source"):
        paragraphs.append(f"Copula source: {spec['copula_source']}")
    packages = spec.get("packages") or {}
    rows = []
    for pname, pkg in packages.items():
        rows.append((pname, "package", _words(pkg.get("description", "")),
                     f"probability {format_probability(float(pkg.get('probability', 1.0)))}",
                     _words(pkg.get("source", ""))))
        for sname, shock in (pkg.get("shocks") or {}).items():
            rows.append((f"{pname}.{sname}", str(shock.get("kind", "")), _words(shock.get("description", "")),
                         _severity(shock), _words(shock.get("source", ""))))
    table = TextTable("Packages and shocks", ("Name", "Kind", "What", "Severity (distribution)", "Source"),
                      tuple(rows), "Severity: share of the flows or capacity hit (0-1), months for a duration, "
                                   "days of input held for an inventory.")
    return Section("Assumptions and sources", tuple(paragraphs), (table,))


def _words(text, limit: int = 220) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _severity(shock: dict) -> str:
    sev = shock.get("severity") or {}
    if not isinstance(sev, dict):
        return str(sev)
    dist = sev.get("dist", "?")
    params = {k: v for k, v in sev.items() if k != "dist"}
    unit = {"duration": " months", "inventory": " days"}.get(str(shock.get("kind")), "")
    inner = ", ".join(f"{k} {format_sig(float(v), 3) if isinstance(v, (int, float)) else v}"
                      for k, v in params.items())
    return f"{dist}({inner}){unit}"


# -------------------------------------------------------------------------------------------- results
def from_table(table: Table) -> TextTable:
    """A numeric summary table as text."""
    rows = tuple((label, *(format_number(v) for v in values)) for label, values in table.rows)
    units_text = f"Units: {format_units(table.units)}; " if table.units else ""
    note = f"{units_text}{table.note}. VaR = quantile of the loss; ES = mean loss at or beyond VaR."
    return TextTable(table.title, (table.label_header, *table.columns), rows, note,
                     (False,) + (True,) * len(table.columns))


EXCEEDANCE_LEVELS = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.004, 0.002, 0.001)


def exceedance_text_table(ds) -> TextTable | None:
    """World GDP loss exceeded with each probability and its return period (OasisLMF EPT style); levels
    rarer than one draw are left out. The same numbers as ``shockmodel.aggregate.exceedance_table``."""
    if swept_params(ds) or not has(ds, "world_gdp_loss_pct"):
        return None
    x = world_draws(ds)
    if not x.size:
        return None
    cond = conditional(ds)
    unit = "occurrences of the scenario" if cond else f"periods of {ds.attrs.get('horizon_months', '?')} months"
    levels = [p for p in EXCEEDANCE_LEVELS if p >= 1.0 / x.size]
    rows = tuple((format_probability(p), f"1 in {format_sig(1 / p, 3)}", format_sig(float(np.quantile(x, 1 - p)), 3))
                 for p in levels)
    what = "Conditional exceedance" if cond else "Exceedance"
    return TextTable(f"{what} table of the world GDP loss",
                     (f"{what} probability", f"Return period ({unit})", "World GDP loss (% of world value added)"),
                     rows, "Loss exceeded with the given probability (the 1 - p quantile over draws). "
                     + ("Conditional on the scenario occurring: the return period counts occurrences of the crisis, "
                        "not years." if cond else ""), (True, True, True))


def market_table(ds) -> TextTable | None:
    """Commodity prices and equity drawdowns: median, p95, and every bound or cap reached with the share
    of draws at it."""
    rows = []
    for var, dims in MARKETS:
        dim = next((d for d in dims if has(ds, var) and d in ds[var].dims), None)
        if dim is None:
            continue
        try:
            per = series_by_label(ds, var, dim)
        except ReportDataError:   # e.g. a sweep: one series per cell
            continue
        what = "price change" if var == "price_change_pct" else "equity drawdown"
        words, flags = flag_shares(ds, var, dim)
        for label, x in per.items():
            if not x.size:
                continue
            hits = bounds_hit(x, ds[var].attrs)
            at = [f"{format_probability(s)} at {k} {format_sig(v, 3)}" for v, s, k in hits]
            if words:
                at.append(f"{format_probability(flags.get(label, 0.0))} {words}")
            at = "; ".join(at) or "none"
            rows.append((f"{label} ({what})", format_sig(float(np.mean(x)), 3),
                         format_sig(float(np.median(x)), 3), format_sig(float(np.quantile(x, 0.95)), 3), at))
    if not rows:
        return None
    return TextTable("Markets", ("Market", "Mean", "Median", "p95", "Draws at a bound or cap"), tuple(rows),
                     "Units: percent change of the world price (short run), percent of an index's value lost "
                     "for a foreign holder (negative: a gain). A bound is a limit the model imposes (a "
                     "commodity price held within its largest historical moves; a drawdown of 100 % is a total "
                     "loss); draws at it are set by the limit. An index closed to foreign holders costs them at least "
                     "a sampled 'uninvestable' loss (docs/model-markets.md, M12).",
                     (False, True, True, True, False))


def premium_section(ds) -> Section | None:
    """The simultaneity premium of a run with variants: which variant is the combination, its parts,
    and the premium's distribution."""
    if not has(ds, "world_simultaneity_premium_pct") or swept_params(ds, "world_simultaneity_premium_pct"):
        return None   # a sweep shows its premium cell by cell (fan charts), never pooled
    da = ds["world_simultaneity_premium_pct"]
    p = finite(da.values)
    if not p.size:
        return None
    combo = da.attrs.get("combination", "combined")
    parts = da.attrs.get("parts", "the other variants")
    unit = "percentage points of world value added"
    rows = (("Mean", format_sig(float(p.mean()), 3), unit),
            ("5th percentile", format_sig(float(np.quantile(p, 0.05)), 3), unit),
            ("Median", format_sig(float(np.quantile(p, 0.5)), 3), unit),
            ("95th percentile", format_sig(float(np.quantile(p, 0.95)), 3), unit),
            ("P(premium > 0)", format_probability(float(np.mean(p > 0))), "share of draws"))
    text = (f"The premium is the world GDP loss of the variant '{combo}' minus the sum of the losses of "
            f"its parts ({', '.join(str(parts).split())}) run alone on the same draws (common random numbers, so "
            f"the difference is not sampling noise). {premium_words(float(p.mean()), float(np.mean(p > 0)), ds.attrs.get('model'))}")
    return Section("Simultaneity premium", (text,), (TextTable("World simultaneity premium",
                                                                ("Statistic", "Value", "Unit"), rows, "",
                                                                (False, True, False)),), new_page=False)


def premium_words(mean: float, share_positive: float, model: str | None = None) -> str:
    """What the sign of a simultaneity premium means, in words (report, console)."""
    where = "docs/model-dynamic.md, shocks" if model == "dynamic" else "docs/model.md, eq. 9-11"
    if mean < 0 and share_positive < 0.5:
        return ("Here it is negative: together the crises cost LESS than the sum of each alone, because they "
                "hit partly the same flows and industries and shocks on one flow combine multiplicatively "
                f"({where}): what one crisis has already cut cannot be lost again to the other. "
                "A negative premium is overlap, not a gain.")
    if mean > 0 and share_positive > 0.5:
        return "Here it is positive: together the crises cost more than the sum of each alone."
    return "Here it is close to zero: together the crises cost about the sum of each alone."


def glossary_section() -> Section:
    return Section("Glossary", (), (TextTable("Variables and terms in words", ("Term", "Meaning"), GLOSSARY),))


def meta_table(ds) -> TextTable:
    rows = tuple((k, str(ds.attrs[k])) for k in META_KEYS if k in ds.attrs)
    credit = str(ds.attrs.get("attribution") or "No attribution recorded.")
    return TextTable("Run", ("Key", "Value"), rows, credit)


# ---------------------------------------------------------------------------------------------- paths
PATH_STATS = "world_gdp_loss_path_pct_stats"


def _path_stat(da, stat: str) -> np.ndarray:
    names = [str(v) for v in np.asarray(da["path_stat"].values)]
    return np.asarray(da.isel(path_stat=names.index(stat)).values, dtype=float)


def paths_section(ds, n_regions: int = 3) -> Section | None:
    """Time paths of the dynamic model: when the monthly loss peaks, how high, and where it ends, for the
    world and the regions with the largest loss over the horizon."""
    if not has(ds, PATH_STATS):
        return None
    from shockmodel.report._data import combined

    c = combined(ds)
    months = np.asarray(c["month"].values)
    rows = []
    places = [("World", c[PATH_STATS])]
    if "gdp_loss_path_pct_stats" in c:
        regional = c["gdp_loss_path_pct_stats"]
        regional = regional.transpose("month", "region", "path_stat")
        mean = _path_stat(regional, "mean")   # (month, region)
        order = np.argsort(-np.nansum(mean, axis=0), kind="stable")[:n_regions]
        names = [str(v) for v in np.asarray(regional["region"].values)]
        places += [(names[i], regional.isel(region=i)) for i in order if np.nansum(mean[:, i]) > 0]
    for name, da in places:
        da = da.transpose("month", "path_stat")
        med, p95, mean = _path_stat(da, "p50"), _path_stat(da, "p95"), _path_stat(da, "mean")
        if not np.isfinite(med).any():
            continue
        peak = int(np.nanargmax(med))
        rows.append((name, f"month {int(months[peak])}", format_sig(float(med[peak]), 3),
                     format_sig(float(p95[peak]), 3), format_sig(float(med[-1]), 3),
                     format_sig(float(np.nanmean(mean)), 3)))
    if not rows:
        return None
    text = ("The dynamic model gives the loss month by month (inventories run down, orders reroute, shocks "
            "start and end on their timelines). The fan charts show the 5-95 % band of draws, the median and "
            "the mean of each month's loss.")
    table = TextTable("Monthly GDP loss: peak and end of the horizon",
                      ("Where", "Peak of the median", "Median at peak", "95th percentile at peak",
                       f"Median in the last month ({int(months[-1])})", "Mean over the months"),
                      tuple(rows), "Units: percent of the region's (world's) baseline value added in the month. "
                      "Mean and standard deviation over all draws; quantiles over the kept draws.",
                      (False, False, True, True, True, True))
    return Section("Time paths", (text, _conditional_sentence(ds)), (table,), new_page=False)
