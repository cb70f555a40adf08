"""Figures: what the drawn lines and titles say, read back from the matplotlib figure."""

from __future__ import annotations

from ptmcoder.stats import plots


def test_popularity_chart_draws_empty_years_as_zero_and_states_n(tmp_path, monkeypatch):
    drawn = {}
    real_save = plots._save

    def keep(fig, path):
        drawn["axes"] = [
            (
                ax.get_title(),
                [list(map(int, ln.get_xdata())) for ln in ax.lines],
                [list(map(int, ln.get_ydata())) for ln in ax.lines],
                ax.get_legend().get_texts() if ax.get_legend() else [],
            )
            for ax in fig.axes
        ]
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    per_year = [(2012, 2), (2013, 1), (2016, 2)]  # 2014 and 2015 have no unit
    per_tag = {"nlp": [(2012, 2), (2016, 1)], "bert": [(2016, 1)]}
    path = plots.popularity_chart(
        per_year, per_tag, tmp_path / "p.png", title="PTM-related questions"
    )
    assert path.exists()
    (title_a, xs_a, ys_a, _), (_, xs_b, ys_b, legend) = drawn["axes"]
    assert title_a == "(a) PTM-related questions per year (n=5)"
    assert xs_a == [[2012, 2013, 2014, 2015, 2016]] and ys_a == [[2, 1, 0, 0, 2]]
    assert ys_b == [[2, 0, 0, 0, 1], [0, 0, 0, 0, 1]]
    assert [t.get_text() for t in legend] == ["nlp (n=3)", "bert (n=1)"]
