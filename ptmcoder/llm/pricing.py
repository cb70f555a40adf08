"""Cost estimates from an editable price table (USD per 1M tokens).

The default table ships as ``ptmcoder/llm/prices.yaml`` (dated, with its source).
``<workspace>/prices.yaml`` and then ``--prices FILE`` override it model by
model. A model found in no table has no estimate: :func:`estimate_cost` returns
None and :func:`cost_estimate` says why; a price is never guessed.

Dated snapshots resolve to their family (``gpt-4o-mini-2024-07-18`` is priced as
``gpt-4o-mini``) unless the table lists the snapshot itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from ptmcoder.errors import Problem, ValidationError, problems_from
from ptmcoder.paths import workspace

DEFAULT_PRICES = Path(__file__).with_name("prices.yaml")
_SNAPSHOT = re.compile(r"^(?P<family>.+?)-(\d{4}-\d{2}-\d{2}|\d{4})$")


class ModelPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0, description="USD per 1M input tokens")
    output: float = Field(ge=0, description="USD per 1M output tokens")
    cached_input: float | None = Field(
        default=None, ge=0, description="USD per 1M cached input tokens"
    )
    #: overrides the table's batch_discount for this model
    batch_discount: float | None = Field(default=None, gt=0, le=1)


class PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: str | None = None
    source: str | None = None
    batch_discount: float = Field(default=0.5, gt=0, le=1)
    models: dict[str, ModelPrice] = Field(default_factory=dict)


@dataclass(frozen=True)
class CostEstimate:
    usd: float | None
    #: why there is no estimate (None when there is one)
    reason: str | None = None
    priced_as: str | None = None
    as_of: str | None = None


class PriceTable:
    def __init__(self, files: list[tuple[Path, PriceFile]]) -> None:
        self.files = files
        self.prices: dict[str, tuple[ModelPrice, PriceFile, Path]] = {}
        for path, pf in files:
            for name, price in pf.models.items():
                self.prices[name] = (price, pf, path)

    @property
    def sources(self) -> list[str]:
        return [str(p) for p, _ in self.files]

    def resolve(self, model: str) -> str | None:
        """The table entry that prices ``model``, or None."""
        name = model.split(":", 1)[1] if model.startswith("openai:") else model
        if name in self.prices:
            return name
        m = _SNAPSHOT.match(name)
        if m and m.group("family") in self.prices:
            return m.group("family")
        return None

    def estimate(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        batch: bool = False,
    ) -> CostEstimate:
        entry = self.resolve(model)
        if entry is None:
            return CostEstimate(
                None,
                reason=(
                    f"no price for model {model!r} in {', '.join(self.sources)}; add it to "
                    f"{workspace() / 'prices.yaml'} (USD per 1M tokens) to get an estimate"
                ),
            )
        price, pf, _ = self.prices[entry]
        cached = max(0, min(cached_input_tokens, input_tokens))
        cached_rate = price.cached_input if price.cached_input is not None else price.input
        usd = (
            (input_tokens - cached) * price.input
            + cached * cached_rate
            + output_tokens * price.output
        ) / 1_000_000
        if batch:
            usd *= price.batch_discount if price.batch_discount is not None else pf.batch_discount
        return CostEstimate(usd, priced_as=entry, as_of=pf.as_of)


def _read(path: Path) -> PriceFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValidationError([Problem(str(path), "", f"not valid YAML: {exc}")]) from exc
    try:
        return PriceFile.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(
            problems_from(exc, str(path)),
            hint="prices are USD per 1M tokens: {input: X, output: Y, cached_input: Z}",
        ) from exc


def load_prices(path: str | Path | None = None, *, use_workspace: bool = True) -> PriceTable:
    """The default table, overridden by ``<workspace>/prices.yaml``, then by ``path``."""
    files = [(DEFAULT_PRICES, _read(DEFAULT_PRICES))]
    ws = workspace() / "prices.yaml"
    if use_workspace and ws.is_file():
        files.append((ws, _read(ws)))
    if path is not None:
        p = Path(path)
        if not p.is_file():
            from ptmcoder.errors import NotFoundError

            raise NotFoundError(f"price file {p} not found")
        files.append((p, _read(p)))
    return PriceTable(files)


def cost_estimate(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    batch: bool = False,
    *,
    table: PriceTable | None = None,
) -> CostEstimate:
    return (table or load_prices()).estimate(
        model, input_tokens, output_tokens, cached_input_tokens, batch
    )


def estimate_cost(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    batch: bool = False,
    *,
    table: PriceTable | None = None,
) -> float | None:
    """USD for the given token counts, or None when the model has no price."""
    return cost_estimate(
        model, input_tokens, output_tokens, cached_input_tokens, batch, table=table
    ).usd
