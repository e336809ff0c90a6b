"""What ``shockmodel sensitivity`` shows a reader: every group named in full (chart and terminal table) and
the chart naming the scenario's model, table, copula and seed, as run outputs do."""

import numpy as np
import xarray as xr

from shockmodel import sensitivity
from shockmodel.report.sensitivity import plot_sobol

GROUPS = ["china_taiwan: common factor (package correlation, coordination)",
          "china_taiwan: shock severities",
          "russia: export_control USA,EU27,GBR,JPN->RUS ELECTRONICS,MACHINERY,SEMICONDUCTORS (severity)"]


def _ds():
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 1, (2, len(GROUPS)))
    return xr.Dataset(
        {"S1": (("output", "group"), s * 0.8), "S1_conf": (("output", "group"), s * 0.1),
         "ST": (("output", "group"), s), "ST_conf": (("output", "group"), s * 0.1)},
        coords={"output": ["World", "TWN"], "group": GROUPS, "members": ("group", GROUPS)},
        attrs={"scenario": "taiwan_blockade", "model": "constrained", "table": "default", "copula": "gaussian",
               "seed": 7, "samples": 64, "evaluations": 320, "conf_level": 0.95})


def test_chart_names_every_group_in_full_and_the_run_it_comes_from():
    ax = plot_sobol(_ds(), "World")
    labels = {" ".join(t.get_text().split()) for t in ax.get_yticklabels()}
    assert labels == set(GROUPS)
    fig = ax.figure
    texts = " ".join([ax.get_title(loc="left")] + [t.get_text() for t in fig.texts] + [t.get_text() for t in ax.texts])
    texts = " ".join(texts.split())
    for word in ("model constrained", "table default", "copula gaussian", "seed 7"):
        assert word in texts, (word, texts)


def test_terminal_table_names_every_group_in_full():
    out = sensitivity.format_table(_ds(), "World")
    for g in GROUPS:
        assert g in out, g
