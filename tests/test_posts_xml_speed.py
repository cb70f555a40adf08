"""Issue #18: the faster Posts.xml import gives exactly what the plain one gave.

* the value parsers' fast paths (plain digits, the dumps' ISO times) agree with their
  general path on any text (a ``str`` subclass always takes the general path);
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ptmcoder.corpus.readers.base import FieldError, parse_id, parse_int, parse_time

TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A-?[0-9]{1,22}(\.[0-9]*)?\Z"),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]{1,15})?([+-][0-9:]{1,6}|Z)?\Z"),
    st.sampled_from(
        ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2019-01-23T19:24:21.123"]
        + ["007", "0", "٣٣", "²", "10000000000000000000"]
    ),
)


class Text(str):
    """Not exactly ``str``: the fast paths (``type(value) is str``) pass it by."""


def _outcome(parse, value):
    try:
        return parse(value, "F")
    except FieldError as exc:
        return ("error", exc.field_name, exc.reason)


@settings(max_examples=1000, deadline=None)
@given(TEXT)
def test_fast_paths_agree_with_the_general_path(text):
    for parse in (parse_int, parse_id, parse_time):
        assert _outcome(parse, text) == _outcome(parse, Text(text)), parse.__name__
