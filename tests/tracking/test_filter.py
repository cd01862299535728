"""The filter and sort languages, parsed without a database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockstep.errors import FilterError
from lockstep.tracking.filter import (
    ATTRIBUTES,
    Clause,
    Field,
    OrderKey,
    parse_filter,
    parse_order,
    quote,
)


def test_the_example_of_the_design() -> None:
    clauses = parse_filter("metrics.acc > 0.8 and params.lr = 0.1")
    assert clauses == [
        Clause(Field("metric", "acc"), ">", "0.8", 0.8),
        Clause(Field("param", "lr"), "=", "0.1", 0.1),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc>0.5", Clause(Field("metric", "acc"), ">", "0.5", 0.5)),
        ("METRICS.acc >= -1e3", Clause(Field("metric", "acc"), ">=", "-1e3", -1000.0)),
        ("metric.val/loss < .5", Clause(Field("metric", "val/loss"), "<", ".5", 0.5)),
        ("params.opt = adam", Clause(Field("param", "opt"), "=", "adam", None)),
        ("params.lr = '0.1'", Clause(Field("param", "lr"), "=", "0.1", None)),
        ('tags.team != "churn team"', Clause(Field("tag", "team"), "!=", "churn team", None)),
        ("tags.a.b-c = x", Clause(Field("tag", "a.b-c"), "=", "x", None)),
        ("params.`my key` == 3", Clause(Field("param", "my key"), "=", "3", 3.0)),
        ("name LIKE 'sweep-%'", Clause(Field("attribute", "name"), "like", "sweep-%", None)),
        ("status <> failed", Clause(Field("attribute", "status"), "!=", "failed", None)),
        ("commit = abc123", Clause(Field("attribute", "git_commit"), "=", "abc123", None)),
        ("user = 'it\\'s me'", Clause(Field("attribute", "username"), "=", "it's me", None)),
        ("metrics.acc > '0.5'", Clause(Field("metric", "acc"), ">", "0.5", 0.5)),
    ],
)
def test_one_clause(text: str, expected: Clause) -> None:
    assert parse_filter(text) == [expected]


def test_and_is_case_insensitive_and_empty_means_everything() -> None:
    assert len(parse_filter("status = finished AND kind = stage aNd stage = train")) == 3
    assert parse_filter("") == []
    assert parse_filter("   ") == []


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("metrics.acc >> 1", "'>>'"),
        ("metrics.acc > high", "'high'"),
        ("colour = red", "'colour'"),
        ("metrics.acc > 1 or status = failed", "'or'"),
        ("metrics.acc > 1 status = failed", "'status'"),
        ("metrics. > 1", "'metrics.'"),
        ("status = finsihed", "'finsihed'"),
        ("metrics.acc like 1", "like"),
        ("name = 'open", "position 8"),
        ("metrics.acc >", "ends"),
        ("metrics.acc > 1 and", "ends"),
    ],
)
def test_errors_name_the_token(text: str, token: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    message = str(caught.value)
    assert token in message
    assert "\n" not in message
    assert caught.value.expression == text


def test_order_keys() -> None:
    assert parse_order("-metrics.acc") == [OrderKey(Field("metric", "acc"), True)]
    assert parse_order("metrics.acc DESC, params.lr") == [
        OrderKey(Field("metric", "acc"), True),
        OrderKey(Field("param", "lr"), False),
    ]
    assert parse_order("start_time asc") == [OrderKey(Field("attribute", "start_time"), False)]
    assert parse_order("-end_time") == [OrderKey(Field("attribute", "end_time"), True)]
    assert parse_order("tags.`a b`") == [OrderKey(Field("tag", "a b"), False)]
    assert parse_order("") == []


@pytest.mark.parametrize("text", ["-metrics.acc asc", "size", "metrics.acc sideways", "name,"])
def test_bad_order_keys(text: str) -> None:
    with pytest.raises(FilterError, match="order by"):
        parse_order(text)


@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_raises_filter_error(text: str) -> None:
    try:
        parse_filter(text)
    except FilterError:
        pass
    try:
        parse_order(text)
    except FilterError:
        pass


@given(
    st.text(
        alphabet=st.sampled_from(
            list("metrics.params.tags.status name and or like = != < <= > >= ' \" ` -_0123456789")
        ),
        max_size=60,
    )
)
def test_near_miss_text_parses_or_raises_filter_error(text: str) -> None:
    try:
        parse_filter(text)
    except FilterError:
        pass


keys = st.text(alphabet=st.characters(blacklist_characters="`\0"), min_size=1, max_size=15)
texts = st.text(alphabet=st.characters(blacklist_characters="\0"), max_size=15)
numbers = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def clauses(draw: st.DrawFn) -> tuple[str, Clause]:
    kind = draw(st.sampled_from(["metric", "param", "tag", "attribute"]))
    if kind == "attribute":
        name = draw(st.sampled_from(["name", "stage", "commit", "user", "id", "parent"]))
        field, left = Field("attribute", ATTRIBUTES[name]), name
    else:
        key = draw(keys)
        field, left = Field(kind, key), f"{kind}s.`{key}`"  # type: ignore[arg-type]
    ops = ["=", "!=", "<", "<=", ">", ">="] + ([] if kind == "metric" else ["like"])
    op = draw(st.sampled_from(ops))
    if kind == "metric" or draw(st.booleans()):
        number = draw(numbers)
        return f"{left} {op} {number!r}", Clause(field, op, repr(number), number)
    text = draw(texts)
    return f"{left} {op} {quote(text)}", Clause(field, op, text, None)


@given(st.lists(clauses(), min_size=1, max_size=4))
def test_rendered_clauses_parse_back(items: list[tuple[str, Clause]]) -> None:
    text = " and ".join(rendered for rendered, _ in items)
    assert parse_filter(text) == [clause for _, clause in items]
