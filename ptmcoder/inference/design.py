"""The design of a human (gold) sample: each gold unit's inclusion probability.

PPI's intervals are valid when the gold units are a probability sample of the
annotated ones with known inclusion probabilities ``pi_i``; each human code is then
weighted by ``1 / pi_i`` (Horvitz & Thompson 1952, JASA 47:663; normalised to mean 1
within a group, the Hajek ratio estimator, Sarndal, Swensson & Wretman 1992, Sec.
5.7). ``ptmcoder sample gold`` writes ``pi_i`` beside each unit
(``gold_sample.csv``: ``unit, stratum, inclusion_probability``); a gold file may also
carry the column itself. A gold file with neither is accepted as a uniform random
sample only when the caller says so (``assume_random=True``), and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ptmcoder.errors import PtmcoderError

PROBABILITY = "inclusion_probability"


class DesignError(PtmcoderError):
    """A gold sample whose design is missing or unusable."""


@dataclass(frozen=True)
class GoldDesign:
    """The gold units in order, their inclusion probabilities (None: uniform) and a
    sentence saying where the design came from."""

    units: list[str]
    probability: np.ndarray | None
    description: str
    assumed_random: bool

    @property
    def weights(self) -> np.ndarray | None:
        """``1 / pi`` per gold unit (None for a uniform design)."""
        return None if self.probability is None else 1.0 / self.probability


def _named(units: list[str], limit: int = 5) -> str:
    shown = ", ".join(units[:limit])
    return shown + (f" and {len(units) - limit} more" if len(units) > limit else "")


def _probabilities(frame: pd.DataFrame, source: str) -> pd.Series:
    """One probability per unit from a frame with ``unit`` and ``inclusion_probability``."""
    p = pd.to_numeric(frame[PROBABILITY], errors="coerce")
    bad = frame.loc[p.isna() | (p <= 0) | (p > 1), "unit"].astype(str).unique().tolist()
    if bad:
        raise DesignError(
            f"{source}: inclusion_probability must be a number in (0, 1] for every unit; "
            f"not for {_named(bad)}",
            hint="each unit's chance of being drawn into the human sample",
        )
    per_unit = pd.DataFrame({"unit": frame["unit"].astype(str), "p": p})
    spread = per_unit.groupby("unit")["p"].agg(["min", "max"])
    clash = spread.index[spread["min"] != spread["max"]].tolist()
    if clash:
        raise DesignError(f"{source}: units with two inclusion probabilities: {_named(clash)}")
    return spread["min"]


def gold_design(
    gold: pd.DataFrame,
    design: pd.DataFrame | None = None,
    *,
    assume_random: bool = False,
    source: str = "gold",
    design_source: str = "design",
) -> GoldDesign:
    """The design of the gold units of ``gold`` (a long table): probabilities from
    ``design`` (a table ``unit, inclusion_probability``, e.g. ``gold_sample.csv``), else
    from the gold's own ``inclusion_probability`` column, else uniform when
    ``assume_random``; otherwise a :class:`DesignError` saying how to give one.

    >>> g = pd.DataFrame({"unit": ["a", "b"], "code": ["x", None]})
    >>> gold_design(g, assume_random=True).description
    'assumed a uniform random sample (no inclusion probabilities given)'
    >>> d = pd.DataFrame({"unit": ["a", "b"], "inclusion_probability": ["0.5", "0.25"]})
    >>> gold_design(g, d).weights.tolist()
    [2.0, 4.0]
    """
    units = pd.unique(gold["unit"].astype(str)).tolist()
    if not units:
        raise DesignError(f"{source}: no gold units")
    if design is not None:
        for col in ("unit", PROBABILITY):
            if col not in design.columns:
                raise DesignError(
                    f"{design_source}: missing column {col}; found "
                    + ", ".join(map(str, design.columns)),
                    hint="the design is the CSV `ptmcoder sample gold` writes "
                    "(unit, stratum, inclusion_probability)",
                )
        p = _probabilities(design, design_source)
        missing = [u for u in units if u not in p.index]
        if missing:
            raise DesignError(
                f"{design_source}: {len(missing)} gold unit(s) not in the design: "
                + _named(missing),
                hint="gold units must come from the drawn sample",
            )
        return GoldDesign(
            units,
            p.loc[units].to_numpy(float),
            f"inclusion probabilities from {design_source}",
            False,
        )
    if PROBABILITY in gold.columns and gold[PROBABILITY].notna().any():
        p = _probabilities(gold, source)
        return GoldDesign(
            units, p.loc[units].to_numpy(float), f"inclusion probabilities from {source}", False
        )
    if assume_random:
        return GoldDesign(
            units, None, "assumed a uniform random sample (no inclusion probabilities given)", True
        )
    raise DesignError(
        f"{source}: the gold sample has no design "
        "(no inclusion_probability column and no design file)",
        hint="pass the design `ptmcoder sample gold` wrote (--design gold_sample.csv), or "
        "--assume-random if the gold units are a uniform random sample of the annotated ones",
    )


__all__ = ["PROBABILITY", "DesignError", "GoldDesign", "gold_design"]
