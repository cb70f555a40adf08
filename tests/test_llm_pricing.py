"""Cost estimates from the editable price table."""

from __future__ import annotations

import pytest
import yaml

from ptmcoder.errors import ValidationError
from ptmcoder.llm.pricing import DEFAULT_PRICES, cost_estimate, estimate_cost, load_prices


def test_default_table_is_dated_and_sourced():
    data = yaml.safe_load(DEFAULT_PRICES.read_text())
    assert data["as_of"] and data["source"].startswith("https://")
    assert "gpt-4o-mini" in data["models"]


@pytest.mark.parametrize(
    "model,inp,out,cached,batch,usd",
    [
        # gpt-4o-mini: 0.15 in / 0.075 cached / 0.60 out per 1M
        ("gpt-4o-mini", 1_000_000, 1_000_000, 0, False, 0.75),
        ("openai:gpt-4o-mini", 1_000_000, 0, 500_000, False, 0.1125),
        ("gpt-4o-mini-2024-07-18", 2_000_000, 0, 0, False, 0.30),
        ("gpt-4o-mini", 1_000_000, 1_000_000, 0, True, 0.375),
        ("gpt-4o", 1_000, 100, 0, False, 0.0035),
        ("gpt-3.5-turbo", 1_000_000, 0, 1_000_000, False, 0.50),  # no cached price: input price
    ],
)
def test_estimates(model, inp, out, cached, batch, usd):
    assert estimate_cost(model, inp, out, cached, batch) == pytest.approx(usd)


@pytest.mark.parametrize("model", ["llama3.1:8b", "gpt-4o-mini-turbo", "claude-x"])
def test_unknown_models_get_none_with_a_reason(model):
    assert estimate_cost(model, 1000, 1000) is None
    est = cost_estimate(model, 1000, 1000)
    assert est.usd is None and model in est.reason and "prices.yaml" in est.reason


def test_workspace_and_explicit_files_override(isolated_home, tmp_path):
    (isolated_home / "prices.yaml").write_text(
        "models:\n  llama3.1:8b: {input: 0, output: 0}\n  gpt-4o-mini: {input: 1, output: 2}\n"
    )
    assert estimate_cost("llama3.1:8b", 10**6, 10**6) == 0.0
    assert estimate_cost("gpt-4o-mini", 10**6, 10**6) == pytest.approx(3.0)
    extra = tmp_path / "p.yaml"
    extra.write_text("batch_discount: 0.25\nmodels:\n  gpt-4o-mini: {input: 4, output: 0}\n")
    table = load_prices(extra)
    assert estimate_cost("gpt-4o-mini", 10**6, 0, table=table) == pytest.approx(4.0)
    assert estimate_cost("gpt-4o-mini", 10**6, 0, batch=True, table=table) == pytest.approx(1.0)
    assert estimate_cost("gpt-4o", 10**6, 0, table=table) == pytest.approx(2.5)  # default kept


def test_bad_price_file_is_a_readable_validation_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  m: {input: -1, output: 2, colour: red}\n")
    with pytest.raises(ValidationError) as info:
        load_prices(bad)
    text = str(info.value)
    assert str(bad) in text and "models.m.input" in text and "models.m.colour" in text
