"""Skill report of the backtests (shockmodel.report.skill): the score table page fits the page and says
which competitor forecasts came after the forecast date, as the terminal table does."""

import pandas as pd

from shockmodel.report import skill


def _res():
    """Three outputs with the shipped cases' longest labels and up to three competitors (one published late)."""
    scores = pd.DataFrame([
        dict(case="russia_2022", output="rus_gdp", label="Russia GDP", outcome=4.77, median=2.30, p05=1.12,
             p95=4.04, crps=1.87, pit=0.99, cover50=False, cover90=False, abs_error_median=2.47),
        dict(case="russia_2022", output="ea_gdp", label="Euro area GDP (table: DEU + EUR)", outcome=0.38,
             median=0.49, p05=0.22, p95=0.92, crps=0.07, pit=0.32, cover50=True, cover90=True, abs_error_median=0.10),
        dict(case="uk_2020q2", output="gbr_gdp", label="UK GDP, 2020 Q2", outcome=20.12, median=27.33, p05=20.84,
             p95=35.15, crps=5.05, pit=0.03, cover50=False, cover90=False, abs_error_median=7.21),
    ])
    comp = pd.DataFrame([
        dict(case="russia_2022", output="rus_gdp", competitor="IMF WEO Apr 2022", abs_error=6.23, after_forecast_date=True),
        dict(case="russia_2022", output="rus_gdp", competitor="World Bank Apr 2022", abs_error=8.85, after_forecast_date=True),
        dict(case="russia_2022", output="rus_gdp", competitor="Bank of Russia Apr 2022", abs_error=6.71,
             after_forecast_date=True),
        dict(case="uk_2020q2", output="gbr_gdp", competitor="OBR reference scenario", abs_error=15.14,
             after_forecast_date=False),
        dict(case="uk_2020q2", output="gbr_gdp", competitor="BBC survey of economists", abs_error=5.78,
             after_forecast_date=False),
        dict(case="uk_2020q2", output="gbr_gdp", competitor="Bank of England May 2020", abs_error=5.18,
             after_forecast_date=True),
    ])

    class Res:
        pass

    r = Res()
    r.scores, r.competitors = scores, comp
    return r


def test_score_table_page_fits_the_page():
    """Every cell of the PDF's score table lies inside the page (the competitors column used to run off it)."""
    head, rows = skill.score_rows(_res())
    ax = skill.plot_table(head, rows, "Backtest scores")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = ax.figure
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    page = fig.bbox
    for (r, c), cell in ax.tables[0].get_celld().items():
        box = cell.get_window_extent(renderer)
        text = cell.get_text().get_window_extent(renderer)
        for b in (box, text):
            assert page.x0 - 1 <= b.x0 and b.x1 <= page.x1 + 1 and page.y0 - 1 <= b.y0 and b.y1 <= page.y1 + 1, \
                (r, c, cell.get_text().get_text(), b, page)
        if cell.get_text().get_text():
            assert box.x0 - 1 <= text.x0 and text.x1 <= box.x1 + 1, (r, c, "text wider than its cell")
            assert box.y0 - 1 <= text.y0 and text.y1 <= box.y1 + 1, (r, c, "text taller than its cell")


def test_score_table_marks_competitors_published_after_the_forecast_date():
    head, rows = skill.score_rows(_res())
    uk = next(r for r in rows if r[0].startswith("uk_2020q2"))[-1]
    assert "Bank of England May 2020 5.18 (after)" in uk
    assert "BBC survey of economists 5.78" in uk and "BBC survey of economists 5.78 (after)" not in uk
