"""The search-space grammar (Hydra's override parser -> Optuna distributions) and override quoting."""

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from lalm_framework.errors import UserError
from lalm_framework.tuning.space import format_override, parse_search_space


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("choice(1,2)", CategoricalDistribution([1, 2])),
        ("a,b", CategoricalDistribution(["a", "b"])),
        ("choice(true, false)", CategoricalDistribution([True, False])),
        # stop excluded, as in Hydra's own range (the BasicSweeper runs 1, 2, 3)
        ("range(1,4)", IntDistribution(1, 3)),
        ("range(2,17,step=4)", IntDistribution(2, 14, step=4)),
        ("range(0.5,2.5,step=0.5)", FloatDistribution(0.5, 2.0, step=0.5)),
        ("interval(1,5)", FloatDistribution(1.0, 5.0)),
        ("int(interval(1,5))", IntDistribution(1, 5)),
        ("tag(log, interval(1e-5, 1e-2))", FloatDistribution(1e-5, 1e-2, log=True)),
        ("tag(log, int(interval(4, 64)))", IntDistribution(4, 64, log=True)),
    ],
)
def test_expression_to_distribution(expr, expected):
    space = parse_search_space({"key": expr}, [])
    assert space.distributions == {"key": expected}
    assert space.fixed == []


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
    "expr, words",
    [
        ("tag(exp, interval(1,2))", "unknown tag"),
        ("tag(log, interval(0,1))", "positive start"),
        ("range(5,1)", "empty"),
        ("choice(1", "Cannot parse"),
    ],
)
def test_bad_expressions_say_what_and_how(expr, words):
    with pytest.raises(UserError, match=words):
        parse_search_space({"key": expr}, [])


@pytest.mark.parametrize(
    "value", ["plain", "with space", "a,b", "it's", "1", "true", "null", "x=y", 1e-05, 3, None, True]
)
def test_format_override_round_trips_through_hydra(value):
    parsed = OverridesParser.create().parse_override(format_override("k", value))
    assert not parsed.is_sweep_override()
    assert parsed.value() == value
