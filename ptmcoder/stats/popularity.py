"""Popularity trend of PTM-related questions (Tan et al. 2024, RQ1, Fig. 1).

Questions per year, and per tag per year for the ``top_k`` most frequent tags
(Tan et al. plot the top six). By default only PTM-related units are counted, as
in the paper; ``scope="all"`` counts every unit. PTM units are found in one
streamed pass (:func:`.engine.map_ptm`) and grouped by DuckDB; ``scope="all"``
is DuckDB over the Parquet file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ptmcoder.errors import PtmcoderError
from ptmcoder.stats.engine import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_PTM_RULE,
    PtmRule,
    check_columns,
    connect,
    map_ptm,
    plain_tags,
    tag_list_sql,
    units_relation_sql,
)


@dataclass
class PopularityResult:
    source: str
    scope: str
    ptm_rule: dict
    n: int
    per_year: list[tuple[int, int]]
    top_tags: list[tuple[str, int]]
    per_tag_year: dict[str, list[tuple[int, int]]]
    figures: list[str] = field(default_factory=list)

    def draw_figures(self, out_dir: Path) -> list[str]:
        """Tan et al.'s Fig. 1 (units per year, per tag per year) as
        ``out_dir/popularity.png``; its path is added to :attr:`figures` and returned."""
        from ptmcoder.stats import plots

        fig = plots.popularity_chart(
            self.per_year,
            self.per_tag_year,
            Path(out_dir) / "popularity.png",
            title="PTM-related questions" if self.scope == "ptm" else "units",
        )
        self.figures.append(str(fig))
        return [str(fig)]

    def to_dict(self) -> dict:
        return {
            "analysis": "popularity (Tan et al. 2024, RQ1)",
            "source": self.source,
            "scope": self.scope,
            "ptm_rule": self.ptm_rule,
            "n": self.n,
            "per_year": [{"year": y, "n": n} for y, n in self.per_year],
            "top_tags": [{"tag": t, "n": n} for t, n in self.top_tags],
            "per_tag_year": {
                t: [{"year": y, "n": n} for y, n in rows] for t, rows in self.per_tag_year.items()
            },
            "figures": self.figures,
        }


def _ptm_rows(batch: pa.RecordBatch, ptm: np.ndarray) -> pa.Table:
    """The year and tags of a batch's PTM units (the tag strings of others stay undecoded)."""
    rows = pa.array(np.flatnonzero(ptm))
    return pa.table(
        {
            "created_at": batch.column("created_at").take(rows),
            "tags": plain_tags(batch.column("tags").take(rows)),
        }
    )


def popularity(
    path: Path,
    *,
    rule: PtmRule = DEFAULT_PTM_RULE,
    scope: str = "ptm",
    top_k: int = 6,
    since: str | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    threads: int | None = None,
    temp_directory: str | None = None,
) -> PopularityResult:
    if scope not in ("ptm", "all"):
        raise PtmcoderError(f"scope must be 'ptm' or 'all', got {scope!r}")
    if top_k < 1:
        raise PtmcoderError(f"--top-k must be at least 1, got {top_k}")
    con = connect(memory_limit=memory_limit, threads=threads, temp_directory=temp_directory)
    check_columns(con, path, ["created_at", "tags"] + ([rule.column] if rule.column else []))
    if scope == "ptm":
        # PTM units are few: one streamed pass (engine.map_ptm) keeps their year and
        # tags, which DuckDB then groups; the tag lists of other units are never decoded.
        parts = list(
            map_ptm(path, rule, ["created_at", "tags"], _ptm_rows, since=since, threads=threads)
        )
        schema = pa.schema(
            [("created_at", pa.timestamp("us", tz="UTC")), ("tags", pa.list_(pa.string()))]
        )
        ptm_units = pa.concat_tables(parts) if parts else schema.empty_table()  # noqa: F841
        con.execute(
            "CREATE TEMP TABLE p AS "
            "SELECT CAST(year(created_at) AS INTEGER) AS year, tags FROM ptm_units"
        )
    else:  # every unit: a view, out of core (two scans)
        con.execute(f"""CREATE TEMP VIEW p AS
            SELECT CAST(year(created_at) AS INTEGER) AS year, tags
            FROM {units_relation_sql(path, since=since)}""")
    per_year = [
        (int(y), int(n))
        for y, n in con.execute(
            "SELECT year, count(*) FROM p WHERE year IS NOT NULL GROUP BY year ORDER BY year"
        ).fetchall()
    ]
    total = sum(n for _, n in per_year)
    tag_filter = (
        f"WHERE list_contains({tag_list_sql(rule.tags)}, tag)"
        if scope == "ptm" and rule.tags
        else ""
    )
    con.execute(f"""CREATE TEMP TABLE ty AS
        SELECT tag, year, count(*) AS n FROM (SELECT unnest(tags) AS tag, year FROM p)
        {tag_filter} GROUP BY tag, year""")
    top = [
        (t, int(n))
        for t, n in con.execute(
            f"SELECT tag, sum(n) AS n FROM ty GROUP BY tag ORDER BY n DESC, tag LIMIT {int(top_k)}"
        ).fetchall()
    ]
    per_tag_year: dict[str, list[tuple[int, int]]] = {t: [] for t, _ in top}
    if top:
        rows = con.execute(
            f"SELECT tag, year, n FROM ty WHERE list_contains({tag_list_sql([t for t, _ in top])}, "
            "tag) AND year IS NOT NULL ORDER BY tag, year"
        ).fetchall()
        for t, y, n in rows:
            per_tag_year[t].append((int(y), int(n)))
    con.close()
    return PopularityResult(
        source=str(path),
        scope=scope,
        ptm_rule=rule.to_dict(),
        n=total,
        per_year=per_year,
        top_tags=top,
        per_tag_year=per_tag_year,
    )
