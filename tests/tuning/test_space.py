"""The search-space grammar (Hydra's override parser -> Optuna distributions) and override quoting."""

import re

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from lalm_framework.errors import UserError
from lalm_framework.tuning.space import format_override, parse_search_space

# Every form Hydra's override grammar can give a sweep (choice / a,b / range / interval / glob, under
# tag, shuffle, sort and the int/float/str/bool casts) is either honoured as written ...
HONOURED = [
    ("choice(1,2)", CategoricalDistribution([1, 2])),
    ("a,b", CategoricalDistribution(["a", "b"])),
    ("choice(true, false)", CategoricalDistribution([True, False])),
    ("choice('tag(x)', b)", CategoricalDistribution(["tag(x)", "b"])),  # a quoted "tag(" is a value
    ("sort(choice(3,1,2))", CategoricalDistribution([1, 2, 3])),
    ("sort(3,1,2)", CategoricalDistribution([1, 2, 3])),
    ("str(choice(1,2))", CategoricalDistribution(["1", "2"])),
    ("int(choice(1.5,2.5))", CategoricalDistribution([1, 2])),
    ("bool(choice(0,1))", CategoricalDistribution([False, True])),
    # stop excluded, as in Hydra's own range (the BasicSweeper runs 1, 2, 3)
    ("range(1,4)", IntDistribution(1, 3)),
    ("range(5)", IntDistribution(0, 4)),
    ("range(2,17,step=4)", IntDistribution(2, 14, step=4)),
    ("range(0.5,2.5,step=0.5)", FloatDistribution(0.5, 2.0, step=0.5)),
    ("float(range(1,4))", FloatDistribution(1.0, 3.0, step=1.0)),
    ("int(range(0.5,3.5))", IntDistribution(0, 2)),
    ("sort(range(1,5), reverse=true)", IntDistribution(1, 4)),
    ("range(4,0,step=-1)", IntDistribution(1, 4)),
    ("tag(log, range(1,65))", IntDistribution(1, 64, log=True)),
    ("tag(log, sort(range(1,9)))", IntDistribution(1, 8, log=True)),
    ("interval(1,5)", FloatDistribution(1.0, 5.0)),
    ("int(interval(1,5))", IntDistribution(1, 5)),
    ("float(interval(1,5))", FloatDistribution(1.0, 5.0)),
    ("tag(log, interval(1e-5, 1e-2))", FloatDistribution(1e-5, 1e-2, log=True)),
    ("tag(log, int(interval(4, 64)))", IntDistribution(4, 64, log=True)),
    ("int(tag(log, interval(4, 64)))", IntDistribution(4, 64, log=True)),  # int() keeps an interval's tags
]


@pytest.mark.parametrize("expr, expected", HONOURED)
def test_expression_to_distribution(expr, expected):
    space = parse_search_space({"key": expr}, [])
    assert space.distributions == {"key": expected}
    assert space.fixed == []


@pytest.mark.parametrize("expr, values", [("shuffle(choice(1,2,3))", {1, 2, 3}), ("shuffle(range(1,4))", {1, 2, 3})])
def test_shuffled_sweeps_are_categorical_over_the_same_values(expr, values):
    (dist,) = parse_search_space({"key": expr}, []).distributions.values()
    assert isinstance(dist, CategoricalDistribution) and set(dist.choices) == values


# ... or an error before any trial starts, naming what to write instead (issue 11 #6: a tag on a choice
# was silently dropped and a full sweep started).
REFUSED = [
    ("tag(log, choice(1e-5, 1e-3))", "a choice has no scale"),
    ("tag(log, 1e-5, 1e-3)", "Cannot parse"),
    ("tag(log, shuffle(choice(1,2)))", "a choice has no scale"),
    ("shuffle(tag(log, choice(1,2)))", "a choice has no scale"),
    ("tag(log, sort(choice(1,2)))", "a choice has no scale"),
    ("tag(exp, choice(1,2))", "unknown tag"),
    ("int(tag(log, range(1,10)))", "the tag is lost"),
    ("float(tag(log, range(1,10)))", "the tag is lost"),
    ("int(tag(log, choice(1,2)))", "the tag is lost"),
    ("str(tag(log, choice(1,2)))", "the tag is lost"),
    ("tag(interval(0,1))", "the tag is lost"),
    ("tag(log, range(0,10))", "positive start with step 1"),
    ("tag(log, range(1,10,step=2))", "positive start with step 1"),
    ("tag(log, range(0.5,2.5,step=0.5))", "needs integers"),
    ("tag(log, shuffle(range(1,5)))", "needs integers"),
    ("tag(exp, interval(1,2))", "unknown tag"),
    ("tag(log, grid, interval(1,2))", "unknown tag"),
    ("tag(log, interval(0,1))", "positive start"),
    ("tag(log, interval(-1,1))", "positive start"),
    ("interval(2,1)", "invalid interval"),
    ("interval(1,1)", "invalid interval"),
    ("str(interval(0,1))", "Cannot parse"),
    ("bool(interval(0,1))", "Cannot parse"),
    ("str(range(1,3))", "Cannot parse"),
    ("range(5,1)", "empty"),
    ("range(1,10,step=0)", "cannot be 0"),  # Hydra's own iterator never ends on it
    ("glob(*)", "glob"),
    ("choice([1,2],[3])", "choices must be"),
    ("choice()", "Cannot parse"),
    ("choice(1", "Cannot parse"),
]


@pytest.mark.parametrize("expr, words", REFUSED)
def test_forms_the_sweeper_cannot_honour_are_errors(expr, words):
    with pytest.raises(UserError, match=re.escape(words)) as info:
        parse_search_space({"key": expr}, [])
    assert len(str(info.value).splitlines()) <= 3


def test_a_deleted_key_cannot_be_searched():
    with pytest.raises(UserError, match="cannot be searched"):
        parse_search_space({}, ["~key=choice(1,2)"])


def test_command_line_overrides_params_and_keeps_fixed_ones_verbatim():
    space = parse_search_space(
        {"lr": "interval(0,1)", "model.lora.r": "choice(4,8)"},
        ["lr=0.1", "+extra=3", "~model.foo", "model.lora.alpha=range(8,33,step=8)"],
    )
    assert list(space.distributions) == ["model.lora.r", "model.lora.alpha"]
    assert space.fixed == ["lr=0.1", "+extra=3", "~model.foo"]


def test_grid_is_hydra_cartesian_order():
    space = parse_search_space({}, ["group1=file1,file2", "bar=range(100,301,step=100)"])
    assert space.grid()[:4] == [
        {"group1": "file1", "bar": 100},
        {"group1": "file1", "bar": 200},
        {"group1": "file1", "bar": 300},
        {"group1": "file2", "bar": 100},
    ]


@pytest.mark.parametrize(
    "value", ["plain", "with space", "a,b", "it's", "1", "true", "null", "x=y", 1e-05, 3, None, True]
)
def test_format_override_round_trips_through_hydra(value):
    parsed = OverridesParser.create().parse_override(format_override("k", value))
    assert not parsed.is_sweep_override()
    assert parsed.value() == value
