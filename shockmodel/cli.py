"""Command line (L8): parsing and one pipeline call per command.

Heavy modules (numba, xarray, matplotlib, pandas) are imported inside the commands, so
``shockmodel --help`` stays fast. A :class:`~shockmodel.errors.UserError` becomes one line on stderr and
exit status 2, without a traceback.
"""

from __future__ import annotations

import sys

import click

from shockmodel import limits
from shockmodel.errors import UserError

from shockmodel.models import MODELS, PRECISIONS  # the registry's names (no model is imported)

#: Exit status after Ctrl-C or SIGTERM (128 + SIGINT, as shells report Ctrl-C).
EXIT_INTERRUPTED = 130
INTERRUPTED = ("Interrupted: finished files are kept; unfinished ones were not written "
               "(a sweep resumes with --resume FOLDER).")


def _interrupt(signum, frame):
    """SIGINT and SIGTERM of the CLI program: remember that the run was interrupted, then stop it."""
    _Group.interrupted = True
    raise KeyboardInterrupt


def _unraisable(report) -> None:
    """After a Ctrl-C or SIGTERM, objects the interrupt left half built (numba's LLVM handles, when it
    lands during the first compile) may fail in ``__del__`` and Python prints each failure as "Exception
    ignored in ..." with a traceback; the user's answer is the one line the CLI prints, so those reports
    are dropped. Before any interrupt every report is printed as usual."""
    if not _Group.interrupted:
        sys.__unraisablehook__(report)


def _own_signals() -> None:
    """The CLI as the program (not under a test runner): SIGTERM stops it like Ctrl-C, both are noted."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _interrupt)
        sys.unraisablehook = _unraisable


class _Group(click.Group):
    """Turns user mistakes into ``Error: <file>: <field>: <message>`` and exit status 2, and interrupts
    (Ctrl-C, SIGTERM) into one line and exit status 130; click's own option errors are one line too."""

    interrupted = False   #: set by the CLI program's signal handlers (_interrupt)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            if exc.file:   # shipped files by their place in params/, not by the installation's path
                from shockmodel.paths import display_path

                exc = UserError(exc.message, file=display_path(exc.file), field=exc.field)
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo(INTERRUPTED, err=True)
            ctx.exit(EXIT_INTERRUPTED)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """click's ``main`` without its three-line usage errors: ``Error: <message>`` on one line."""
        from shockmodel.io.results import ignore_interrupts

        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        process = args is None   # the program itself (not click's test runner): it owns the signals
        if process:
            _own_signals()
        code = 0
        try:
            try:
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
                code = rv if isinstance(rv, int) else 0
            finally:   # the outcome is decided: a late Ctrl-C/SIGTERM must not turn it into a traceback
                if process:
                    ignore_interrupts()
        except (click.exceptions.Abort, KeyboardInterrupt):   # Abort: Ctrl-C at a prompt or before a command
            click.echo(INTERRUPTED, err=True)
            code = EXIT_INTERRUPTED
        except click.ClickException as exc:
            message = " ".join(exc.format_message().split())
            where = f"{exc.ctx.command_path}: " if isinstance(exc, click.UsageError) and exc.ctx else ""
            click.echo(f"Error: {where}{message} (--help for usage)", err=True)
            code = exc.exit_code
        sys.exit(code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shockmodel")
def main():
    """shockmodel: Monte Carlo forecasts of losses from sanctions, blockades and wars, propagated
    through a multi-regional input-output table (WIOD 2011 nowcast to 2022 with ADB MRIO margins,
    semiconductor-resolved)."""


# --- tables ------------------------------------------------------------------------------------------


@main.group(cls=_Group)
def table():
    """Input-output tables: list, describe, build."""


@table.command("list")
def table_list():
    """Shipped tables."""
    from shockmodel.io.tables import list_tables, load_table

    for name in list_tables():
        m = load_table(name)
        click.echo(f"{name:12s} {m.meta.get('year', '?'):>4s}  {m.n_regions:3d} regions x {m.n_sectors:2d} sectors  "
                   f"{m.meta.get('description', '')}")


@table.command("info")
@click.argument("table_name", metavar="[TABLE]", default="default")
@click.option("--top", default=10, show_default=True, help="How many largest semiconductor exporters to list.")
def table_info(table_name, top):
    """Regions, sectors, totals, semiconductor exporters and the balance report of TABLE (name or path)."""
    from shockmodel.io.tables import load_table, resolve_table
    from shockmodel.mrio import validate

    m = load_table(table_name)
    report = validate(m, source=str(resolve_table(table_name)))
    year = m.meta.get("year", "?")
    click.echo(f"Table {m.name}: year {year}; {m.n_regions} regions x {m.n_sectors} sectors = {m.n} industries; "
               f"{m.units}")
    click.echo(f"Source: {m.meta.get('source', '?')}")
    for key, label in (("levels", "Levels"), ("gras_max_gap", "Largest remaining gap of the source margins"),
                       ("gras_iterations", "GRAS iterations"), ("known_limits", "Known limits")):
        if key in m.meta:
            click.echo(f"{label}: {m.meta[key]}")
    click.echo(f"Attribution: {m.meta.get('attribution', '?')}")
    if "licence" in m.meta:
        click.echo(f"Licence: {m.meta['licence']}")
    click.echo("\nRegions: " + ", ".join(m.regions))
    for g, members in m.region_groups.items():
        click.echo(f"  group {g} = {', '.join(members)}")
    click.echo("Sectors: " + ", ".join(m.sectors))
    for g, members in m.sector_groups.items():
        click.echo(f"  group {g} = {', '.join(members)}")
    click.echo(f"\nWorld gross output {m.x.sum():,.0f}; value added {m.v.sum():,.0f}; final demand {m.Y.sum():,.0f}")
    if "SEMICONDUCTORS" in m.sectors:
        s = m.sectors.index("SEMICONDUCTORS")
        elec = [m.sectors.index(x) for x in m.sector_groups.get("ELECTRONICS", ("SEMICONDUCTORS",))]
        trade = m.trade_by_sector[:, :, s]
        exports = trade.sum(axis=1) - trade.diagonal()
        click.echo(f"\nSemiconductors, {year}: world output {m.x[m.sector_of == s].sum():,.0f}; top exporters:")
        click.echo(f"{'region':8s} {'output':>10s} {'share of electronics':>21s} {'exports':>10s}")
        for r in [int(i) for i in exports.argsort()[::-1][:top]]:
            xs = m.x[r * m.n_sectors + s]
            xe = sum(m.x[r * m.n_sectors + e] for e in elec)
            click.echo(f"{m.regions[r]:8s} {xs:10,.0f} {xs / xe if xe else 0:21.3f} {exports[r]:10,.0f}")
    click.echo("\nBalance report:")
    click.echo(f"  row gap |Z1 + Y1 - x|: max {report['row_gap_max_abs']:.3g} (relative {report['row_gap_max_rel']:.2e}, "
               f"tolerance {report['row_tolerance']:g})")
    click.echo(f"  column gap |1'Z + v - x| / x: max {report['col_gap_max_rel']:.2e}")
    click.echo(f"  spectral radius of A: {report['spectral_radius_A']:.4f} (< 1: productive); "
               f"largest column sum of A: {report['max_column_sum_A']:.3f}")


@table.command("build")
@click.argument("names", nargs=-1, metavar="[TABLE]...")
@click.option("--force", is_flag=True, help="Rebuild even if the cache holds the table.")
def table_build(names, force):
    """Build the 41-region nowcast tables (wiod2021, wiod2022; default: both) from data/sources into the
    user cache ($SHOCKMODEL_CACHE_DIR/tables, else ~/.cache/shockmodel/tables). Any command builds a
    missing one on first use; --force rebuilds."""
    from shockmodel.errors import TableError
    from shockmodel.io.build import BUILT_ON_FIRST_USE, cached_table

    for name in names or tuple(BUILT_ON_FIRST_USE):
        if name not in BUILT_ON_FIRST_USE:
            raise TableError(f"{name!r} is not built on first use; buildable: {', '.join(BUILT_ON_FIRST_USE)}")
        click.echo(f"{name}: {cached_table(name, rebuild=force)}")


@table.command("import")
@click.argument("kind", type=click.Choice(["wiod", "oecd", "exiobase3"]))
@click.argument("path", type=click.Path(exists=True))
@click.option("--year", type=int, default=None, help="Year to read (WIOD, OECD).")
@click.option("--regions", "region_csv", type=click.Path(exists=True, dir_okay=False),
              help="Region concordance CSV 'source,target'.")
@click.option("--sectors", "sector_csv", type=click.Path(exists=True, dir_okay=False),
              help="Sector concordance CSV 'source,target'.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output .npz table.")
def table_import(kind, path, year, region_csv, sector_csv, out):
    """Parse a downloaded WIOD / OECD ICIO / EXIOBASE 3 file with pymrio, aggregate, balance, save as .npz."""
    from shockmodel.io.pymrio_bridge import import_downloaded
    from shockmodel.io.tables import write_npz
    from shockmodel.mrio import validate

    mrio = import_downloaded(kind, path, year=year, region_concordance=region_csv, sector_concordance=sector_csv)
    report = validate(mrio, source=str(path))
    write_npz(mrio, out)
    click.echo(f"Wrote {out}: {mrio.n_regions} regions x {mrio.n_sectors} sectors, "
               f"spectral radius {report['spectral_radius_A']:.3f}")


# --- scenarios ---------------------------------------------------------------------------------------


@main.group(cls=_Group)
def scenarios():
    """Scenario library: list, show, validate."""


@scenarios.command("list")
def scenarios_list():
    """Library scenarios with a one-line description."""
    from shockmodel.scenario import list_scenarios

    for name, desc in list_scenarios().items():
        click.echo(f"{name:22s} {desc}")


@scenarios.command("show")
@click.argument("name")
@click.option("--table", "table_name", default="default", show_default=True,
              help="Table on which to report how named region groups (EU27, G7, ...) land.")
def scenarios_show(name, table_name):
    """The resolved scenario NAME (or path), with every source."""
    from shockmodel.io.tables import load_table
    from shockmodel.scenario import format_scenario, group_notes, load_scenario

    spec = load_scenario(name)
    click.echo(format_scenario(spec))
    for line in group_notes(spec, load_table(table_name)):
        click.echo(line, err=True)


@scenarios.command("validate")
@click.argument("file")
@click.option("--table", "-t", "table_name", default="default", show_default=True, help="Table to validate against.")
def scenarios_validate(file, table_name):
    """Check FILE (structure, then meaning against TABLE); exit status 2 on the first problem."""
    from shockmodel.io.tables import load_table
    from shockmodel.scenario import compile_scenario, group_notes, load_scenario

    spec = load_scenario(file)
    mrio = load_table(table_name)
    compiled = compile_scenario(spec, mrio)
    for line in group_notes(spec, mrio):
        click.echo(line, err=True)
    click.echo(f"OK: {spec.name}: {len(compiled.packages)} packages, {len(compiled.shocks)} shocks, "
               f"valid on table {table_name}")


# --- markets -----------------------------------------------------------------------------------------


@main.group(cls=_Group)
def markets():
    """Market-channel parameters (commodity prices, equity indices)."""


@markets.command("show")
@click.argument("name", default="default")
def markets_show(name):
    """Market parameters NAME (or path) with their sources."""
    from shockmodel.markets import format_market_params, load_market_params

    click.echo(format_market_params(load_market_params(name)))


# --- runs --------------------------------------------------------------------------------------------


def _parse_set(values) -> dict:
    """``--set key.path=value`` (value parsed as TOML: numbers, booleans, strings, arrays)."""
    import tomllib

    out = {}
    for item in values:
        if "=" not in item:
            raise UserError(f"--set expects KEY=VALUE, got {item!r}", field="--set")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = limits.parse_toml(f"v = {raw.strip()}", file="--set")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw.strip()
    return out


def _compile_notice(model: str) -> None:
    """One line on stderr before a run that will compile the numba kernels (first run on a machine)."""
    from shockmodel import jitcache

    if jitcache.needs_compile(model):
        click.echo("compiling kernels once (about a minute; later runs start at once)...", err=True)


def _progress(total: int, quiet: bool, label: str):
    if quiet:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="draw", unit_scale=True, desc=label, disable=quiet, dynamic_ncols=True,
               file=sys.stderr)
    state = {"n": 0}

    def update(n):
        bar.update(n - state["n"])
        state["n"] = n

    return bar, update


def _run_header(ds) -> str:
    """What the numbers below were computed with: scenario, model, table, draws, seed, copula."""
    from shockmodel.report.document import copula_words

    a = ds.attrs
    return (f"\n{a.get('scenario', 'run')}: model {a.get('model', '?')}, table {a.get('table', '?')}, "
            f"{a.get('draws', '?')} draws, seed {a.get('seed', '?')}; {copula_words(ds)}")


def _print_summary(ds, top: int = 6, tab=None):
    from shockmodel.aggregate import summarize

    click.echo(_run_header(ds))
    tab = summarize(ds) if tab is None else tab
    gdp = tab[tab.variable == "gdp_loss_pct"]
    cols = ["mean", "p05", "p50", "p95", "VaR99", "ES99"]
    for sc in dict.fromkeys(tab.scenario):
        part = gdp[gdp.scenario == sc]
        world = part[part.region == "World"]
        regions = part[part.region != "World"].sort_values("mean", ascending=False).head(top)
        click.echo(f"\nGDP loss, percent of baseline value added [{sc}]")
        click.echo(f"{'':8s}" + "".join(f"{c:>9s}" for c in cols))
        for _, row in list(world.iterrows()) + list(regions.iterrows()):
            click.echo(f"{row.region:8s}" + "".join(f"{row[c]:9.3f}" for c in cols))
    other = tab[(tab.variable != "gdp_loss_pct") & (tab.scenario == tab.scenario.iloc[0])]
    for var, label in (("price_change_pct", "Commodity price change, percent"),
                       ("equity_drawdown_pct", "Equity drawdown for a foreign holder, percent")):
        part = other[other.variable == var]
        if len(part):
            click.echo(f"\n{label} [{tab.scenario.iloc[0]}]")
            click.echo(f"{'':14s}" + "".join(f"{c:>9s}" for c in cols))
            for _, row in part.iterrows():
                click.echo(f"{row.region[:14]:14s}" + "".join(f"{row[c]:9.2f}" for c in cols))


def _premium_lines(ds) -> list[str]:
    """The simultaneity premium as printed after a run (or why it was not computed)."""
    import numpy as np

    from shockmodel.report.stats import format_probability

    if "world_simultaneity_premium_pct" not in ds:
        reason = ds.attrs.get("simultaneity_premium")
        return [f"\nSimultaneity premium {reason}"] if reason else []
    da = ds["world_simultaneity_premium_pct"]
    p = da.values
    q = np.quantile(p, [0.05, 0.5, 0.95])
    import textwrap

    from shockmodel.report.document import premium_words

    return [f"\nSimultaneity premium (world GDP loss of {da.attrs.get('combination', 'combined')} minus the sum "
            f"of {', '.join(str(da.attrs.get('parts', 'its parts')).split())} alone, percentage points, per draw):",
            f"  mean {p.mean():+.3f}  p05 {q[0]:+.3f}  p50 {q[1]:+.3f}  p95 {q[2]:+.3f}  "
            f"P(premium > 0) = {format_probability((p > 0).mean())}",
            *textwrap.wrap(premium_words(float(p.mean()), float((p > 0).mean()), ds.attrs.get("model")), 100,
                           initial_indent="  ", subsequent_indent="  ")]


def _print_premium(ds):
    for line in _premium_lines(ds):
        click.echo(line)


STRUCTURE_HELP = ("Model structure: 'sampled' draws each declared critical input's class (critical / important / "
                  "non-critical) per draw from params/critical_inputs.toml [uncertainty]; 'central' keeps the declared "
                  "weights. Dynamic-model and market parameters are drawn per draw from their ranges under both.")


@main.command("run")
@click.argument("scenario")
@click.option("--draws", "-n", default=10_000, show_default=True, type=click.IntRange(1, limits.MAX_DRAWS))
@click.option("--seed", "-s", default=0, show_default=True, type=click.IntRange(0, limits.MAX_SEED))
@click.option("--model", "-m", default="constrained", show_default=True, type=click.Choice(MODELS),
              help="constrained: static fixed point with capacity, critical inputs and rationing; dynamic: daily "
                   "production network with inventories, rerouting and timelines; leontief: demand-driven, ignores "
                   "capacity shocks and blocked intermediate flows; ghosh: supply-driven accounting device, not a "
                   "forecast.")
@click.option("--table", "-t", "table_name", default="default", show_default=True, help="Table name or path.")
@click.option("--out", "-o", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--chunk-size", default=None, type=click.IntRange(1, limits.MAX_DRAWS),
              help="Draws per chunk (memory bound).")
@click.option("--threads", default=None, type=click.IntRange(min=1), help="numba threads (default: all cores).")
@click.option("--precision", default="float64", show_default=True, type=click.Choice(PRECISIONS),
              help="Precision of the matrix products (float32: faster, results within 1e-5).")
@click.option("--keep-draws", default=None, type=click.IntRange(1, limits.MAX_DRAWS),
              help="Per-draw variables keep the first N draws (default 1,000,000; dynamic model 10,000; statistics cover all draws).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a scenario value by key path.")
@click.option("--markets", "markets_name", default="default", show_default=True,
              help="Market parameter set, or 'none' to skip the market channel.")
@click.option("--variants", "variants_text", default=None, metavar="NAME=PKG[,PKG];...",
              help="Run named variants on the same draws, e.g. 'combined=russia,china_taiwan;russia=russia;"
                   "china_taiwan=china_taiwan'. The variant holding every package is the combination, the "
                   "others its parts; the simultaneity premium is computed when the parts split it exactly.")
@click.option("--feedback", "feedback", default="none", show_default=True, metavar="CHANNELS",
              help="Second-round demand feedback: comma-separated income,prices,uncertainty, 'all' or 'none'.")
@click.option("--structure", default="sampled", show_default=True, type=click.Choice(["sampled", "central"]),
              help=STRUCTURE_HELP)
@click.option("--report/--no-report", default=True, show_default=True, help="Write report.html and report.pdf.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
def run_cmd(scenario, draws, seed, model, table_name, out, chunk_size, threads, precision, keep_draws, sets,
            markets_name, variants_text, feedback, structure, report, quiet):
    """Run SCENARIO (library name or TOML path) and write a result folder under --out."""
    from shockmodel import pipeline

    from shockmodel import jitcache

    pipeline.check_destination(out, draws=draws, seed=seed)   # before any work: nothing computed is lost
    mrio = pipeline._table(table_name)
    spec, compiled = pipeline.compile_for(scenario, mrio, _parse_set(sets) or None)
    variants = (pipeline.parse_variants(variants_text, [p.name for p in compiled.packages])
                if variants_text else None)
    _compile_notice(model)
    bar, update = _progress(draws, quiet, compiled.name)
    try:
        ds = pipeline.run(compiled, table=mrio, draws=draws, seed=seed, model=model, chunk_size=chunk_size,
                          threads=threads, markets=None if markets_name == "none" else markets_name, progress=update,
                          keep_draws=keep_draws, precision=precision, variants=variants,
                          feedback=feedback, structure=structure)
    finally:
        if bar is not None:
            bar.close()
    jitcache.mark(model)
    from shockmodel.aggregate import summarize

    tab = None if quiet else summarize(ds)   # before the per-draw variables are dropped (memory)
    premium = _premium_lines(ds)             # likewise
    res = pipeline.write_run(ds, spec, out, report=report, drop_draws=True,
                             extra={"variants": variants} if variants else None)
    click.echo(f"Run folder: {res.folder}")
    if ds.attrs.get("ignored_shock_kinds"):
        click.echo(f"NOTE: model {model!r} ignored {ds.attrs['ignored_shock_kinds']}", err=True)
    if ds.attrs.get("ignored_feedback"):
        click.echo(f"NOTE: feedback channel {ds.attrs['ignored_feedback']}", err=True)
    if ds.attrs.get("ignored_timelines"):
        click.echo(f"NOTE: model {model!r} ignored the {ds.attrs['ignored_timelines']}", err=True)
    if not quiet:
        _print_summary(ds, tab=tab)
        for line in premium:
            click.echo(line)
        if ds.attrs["non_converged_draws"]:
            click.echo(f"\nWARNING: {ds.attrs['non_converged_draws']} draws did not converge (flag 'converged').")


@main.command("demo")
@click.option("--draws", "-n", default=20_000, show_default=True, type=click.IntRange(1, limits.MAX_DRAWS))
@click.option("--seed", "-s", default=0, show_default=True, type=click.IntRange(0, limits.MAX_SEED))
@click.option("--out", "-o", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--report/--no-report", default=True, show_default=True)
@click.option("--quiet", "-q", is_flag=True)
def demo_cmd(draws, seed, out, report, quiet):
    """The seed question on the default table: a coordinated Russia + Taiwan crisis against each alone,
    with common random numbers, and the simultaneity premium (combined minus the sum of the parts)."""
    from shockmodel import jitcache, pipeline

    _compile_notice("constrained")
    bar, update = _progress(draws, quiet, pipeline.DEMO_SCENARIO)
    try:
        res = pipeline.demo(draws=draws, seed=seed, out=out, report=report, progress=update)
    finally:
        if bar is not None:
            bar.close()
    jitcache.mark("constrained")
    ds = res.dataset
    click.echo(f"Run folder: {res.folder}")
    if not quiet:
        _print_summary(ds, top=4)
    _print_premium(ds)
    for name, path in res.report.items():
        click.echo(f"Report ({name}): {path}")


@main.command("sweep")
@click.argument("spec", required=False)
@click.option("--workers", "-w", default=None, type=click.IntRange(min=1),
              help="Run cells on a dask LocalCluster with this many single-threaded worker processes.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on an existing dask cluster, e.g. tcp://host:8786 (start with `dask scheduler` and "
                   "`dask worker tcp://host:8786 --nthreads 1`).")
@click.option("--out", "-o", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--resume", default=None, type=click.Path(exists=True, file_okay=False),
              help="An interrupted sweep folder: compute only its missing cells.")
@click.option("--draws", "-n", default=None, type=click.IntRange(1, limits.MAX_DRAWS),
              help="Draws per cell, replacing the spec's (e.g. a quick look before the full sweep).")
@click.option("--report/--no-report", default=True, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
def sweep_cmd(spec, workers, scheduler, out, resume, draws, report, quiet):
    """Run the sweep SPEC (params/sweeps name or TOML path): scenarios x parameter values, common random
    numbers across cells; each finished cell is stored at once, so --resume never redoes work."""
    from shockmodel import pipeline
    from shockmodel.sweep import run_sweep

    if spec is None and resume is None:
        raise UserError("give a sweep SPEC, or --resume FOLDER", field="SPEC")
    if workers and scheduler:
        raise UserError("use either --workers or --scheduler, not both", field="--workers")
    bars = []
    update = None
    if not quiet:
        def update(done, total):   # the bar appears once the spec is checked and the first cell starts
            if not bars:
                from tqdm import tqdm

                bars.append(tqdm(unit="cell", desc="sweep", file=sys.stderr, dynamic_ncols=True))
            bars[0].total = total
            bars[0].n = done
            bars[0].refresh()
    try:
        folder = run_sweep(spec, workers=workers, scheduler=scheduler, out=out, resume=resume, progress=update,
                           draws=draws)
    finally:
        for bar in bars:
            bar.close()
    click.echo(f"Sweep folder: {folder}")
    if not quiet:
        for line in _sweep_summary_lines(folder):
            click.echo(line)
    if report:
        for name, path in pipeline.build_report(folder, ("html", "pdf")).items():
            if name in ("html", "pdf"):
                click.echo(f"Report ({name}): {path}")


def _sweep_summary_lines(folder) -> list[str]:
    """The sweep's answer on the terminal: world GDP loss (and the simultaneity premium, when the cells
    carry it) for each value of each swept parameter, the others at their reference values."""
    import xarray as xr

    from shockmodel.io.results import DATA_FILE
    from shockmodel.report.stats import format_sig, sweep_table

    with xr.open_dataset(folder / DATA_FILE, engine="h5netcdf") as ds:
        a = ds.attrs
        lines = [f"\nSweep {a.get('sweep', '')}: model {a.get('model', '?')}, table {a.get('table', '?')}, "
                 f"{a.get('draws', '?')} draws per cell, seed {a.get('seed', '?')} (common random numbers across "
                 "cells)"]
        for var, what in (("world_gdp_loss_pct", "World GDP loss, percent of baseline value added"),
                          ("world_simultaneity_premium_pct", "World simultaneity premium, percentage points "
                                                             "(combination minus its parts alone)")):
            table = sweep_table(ds, var) if var in ds.variables else None
            if table is None:
                continue
            cols = ("mean", "p50", "p95")
            idx = [table.columns.index(c) for c in cols]
            width = max(len(label) for label, _ in table.rows)
            lines.append(f"\n{what}; one parameter at a time, the others at their reference values")
            lines.append(f"{'':{width}s}" + "".join(f"{c:>10s}" for c in cols))
            lines += [f"{label:{width}s}" + "".join(f"{format_sig(values[i], 3):>10s}" for i in idx)
                      for label, values in table.rows]
    return lines


@main.command("compare")
@click.argument("runs", nargs=-1, required=True, metavar="RUN [RUN ...]")
@click.option("--draws", "-n", default=2_000, show_default=True, type=click.IntRange(min=1),
              help="Draws for a RUN given as a scenario (run here; run folders are read as they are).")
@click.option("--seed", "-s", default=0, show_default=True, type=int)
@click.option("--table", "-t", "table_name", default="default", show_default=True)
@click.option("--out", "-o", default=None, type=click.Path(file_okay=False),
              help="Folder for comparison.csv and comparison.png.")
def compare_cmd(runs, draws, seed, table_name, out):
    """Lay runs side by side: each RUN is a run folder, a library scenario name or a scenario TOML path."""
    import pandas as pd

    from shockmodel import pipeline
    from shockmodel.report._data import ReportDataError

    try:
        table = pipeline.compare(runs, draws=draws, seed=seed, table=table_name, out=out)
    except ReportDataError as err:
        raise UserError(str(err), field="RUN") from None
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 3):
        click.echo(f"World GDP loss, {table.attrs['units']}")
        click.echo(table.to_string())
    if out:
        click.echo(f"Wrote {out}/comparison.csv and {out}/comparison.png")


@main.command("export")
@click.argument("folder", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", default="csv", show_default=True, type=click.Choice(["csv", "parquet", "xlsx"]))
@click.option("--out", "-o", default=None, type=click.Path(file_okay=False), help="Folder (default RUN/export).")
@click.option("--draws", "with_draws", is_flag=True, help="Also export the per-draw variables (large).")
def export_cmd(folder, fmt, out, with_draws):
    """Write the summary and exceedance tables of RUN (and its draws) as CSV, parquet or Excel."""
    from shockmodel.io.export import export

    for path in export(folder, fmt, out=out, draws=with_draws):
        click.echo(f"Wrote {path}")


@main.command("backtest")
@click.argument("cases", nargs=-1)
@click.option("--draws", "-n", default=None, type=click.IntRange(min=2), help="Draws per case (default: each case's).")
@click.option("--out", "-o", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--model", "-m", default=None, type=click.Choice(MODELS),
              help="Model for every case (default: each case's; dynamic is slow, about 150 draws a second).")
@click.option("--structure", default=None, type=click.Choice(["sampled", "central"]),
              help="Model structure for every case (default: each case's, sampled unless it says). " + STRUCTURE_HELP)
@click.option("--report/--no-report", default=True, show_default=True, help="Write skill.html and skill.pdf.")
def backtest_cmd(cases, draws, model, structure, out, report):
    """Forecast past events from what was knowable then (params/backtests; default: every case), print the
    scores (CRPS, PIT, 50/90% coverage, |median error| beside the competitors') and write a skill report."""
    from shockmodel import backtest

    res = backtest.run_backtests(list(cases) or None, draws=draws, model=model, structure=structure,
                                 progress=lambda name: click.echo(f"case {name} ...", err=True))
    folder, files = backtest.write_backtest(res, out, report=report)
    click.echo(backtest.format_scores(res))
    click.echo(f"Backtest folder: {folder}")
    for name in ("html", "pdf"):
        if name in files:
            click.echo(f"Skill report ({name}): {files[name]}")


@main.command("sensitivity")
@click.argument("scenario")
@click.option("--groups", "grouping", default="packages", show_default=True,
              type=click.Choice(["packages", "kinds", "shocks"]),
              help="Input groups: per package (occurrence, common factor, shock severities), split by shock kind, "
                   "or each shock alone.")
@click.option("--samples", "-n", default=512, show_default=True, type=click.IntRange(min=2),
              help="Base samples (power of two); evaluations = samples x (groups + 2).")
@click.option("--seed", "-s", default=0, show_default=True, type=int)
@click.option("--model", "-m", default="constrained", show_default=True, type=click.Choice(MODELS))
@click.option("--table", "-t", "table_name", default="default", show_default=True, help="Table name or path.")
@click.option("--output", "outputs", multiple=True, default=("World",), show_default=True,
              help="GDP loss to chart and print: World or a region (repeatable); every region is in data.nc.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a scenario value by key path.")
@click.option("--structure", default="sampled", show_default=True, type=click.Choice(["sampled", "central"]),
              help="sampled: each declared critical input's class is an input (group 'structure: critical-input "
                   "classes'); central: the declared weights. The dynamic model's behavioural parameters are "
                   "inputs under both.")
@click.option("--out", "-o", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--quiet", "-q", is_flag=True)
def sensitivity_cmd(scenario, grouping, samples, seed, model, table_name, outputs, sets, structure, out, quiet):
    """Global sensitivity of SCENARIO: first- and total-order Sobol indices (SALib) of GDP losses over
    groups of the engine's independent latent inputs, mapped through the copula as the engine does."""
    from shockmodel import sensitivity

    bar = None
    update = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(unit="eval", desc="sensitivity", file=sys.stderr, dynamic_ncols=True)

        def update(n):
            bar.update(n - bar.n)
    try:
        spec, ds = sensitivity.analyse(scenario, table=table_name, model=model, grouping=grouping, samples=samples,
                                       seed=seed, overrides=_parse_set(sets) or None, progress=update,
                                       outputs=outputs, structure=structure)
    finally:
        if bar is not None:
            bar.close()
    for o in outputs:
        sensitivity.summary_table(ds, o)   # checks the name before anything is written
    folder, files = sensitivity.write_sensitivity(ds, spec, out, outputs)
    for o in outputs:
        click.echo(sensitivity.format_table(ds, o))
        click.echo("")
    click.echo(f"Sensitivity folder: {folder}")
    click.echo(f"Chart (pdf): {files['pdf']}")


@main.command("report")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "formats", default="html,pdf", show_default=True, help="Comma-separated: html, pdf.")
@click.option("--sensitivity", default=None, type=click.Path(exists=True),
              help="A `shockmodel sensitivity` result folder to include (default: one beside the run for the "
                   "same scenario and table, if any).")
@click.option("--backtest", default=None, type=click.Path(exists=True),
              help="A `shockmodel backtest` result folder to include (default: the newest beside the run, if any).")
def report_cmd(folder, formats, sensitivity, backtest):
    """Rebuild the report of a run or sweep FOLDER from its data.nc (and the sensitivity and backtest
    results given or found beside it: a Sensitivity and a Validation section)."""
    from shockmodel import pipeline

    fmts = tuple(f.strip() for f in formats.split(",") if f.strip())
    bad = [f for f in fmts if f not in ("html", "pdf")]
    if bad:
        raise UserError(f"unknown format {bad[0]!r}; choose html, pdf", field="--format")
    for name, path in pipeline.build_report(folder, fmts, sensitivity=sensitivity, backtest=backtest).items():
        click.echo(f"{name}: {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
