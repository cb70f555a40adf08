"""The studies' analyses: popularity, difficulty, code distribution, resolution time.

Each module is a set of small pure functions returning dataclasses that carry the
test name, the n per group and (where one applies) an effect size with its CI:

- :mod:`.proportion` - two-proportion chi-square test (Tan et al. RQ2, %no acc)
- :mod:`.effect_sizes` - Cliff's delta with Cliff's CI, rank-biserial r, Cramér's V
- :mod:`.popularity` - questions per year and per tag per year (Tan et al. RQ1)
- :mod:`.difficulty` - %no acc, response time, PD (Tan et al. RQ2, Table II)
- :mod:`.distribution` - units per codebook node at each level (Tan RQ3, Banyongrakkul RQ1)
- :mod:`.resolution` - resolution-time tests (Banyongrakkul et al. RQ2)
- :mod:`.plots` - matplotlib (Agg) figures written as PNG
"""
