"""User-defined formats: regexes with named groups, from arguments or trainboard.toml."""
from __future__ import annotations

import pytest

from parsing import PatternError, UserPattern, load_patterns, parse_text

LOG = "it 10 | obj 2.50 | lr 1e-3\nsomething else\nit 20 | obj 2.25 | lr 9e-4\n"


def test_named_metric_groups():
    patterns = load_patterns([r"it (?P<step>\d+) \| obj (?P<loss>[\d.]+) \| lr (?P<lr>\S+)"])
    recs = parse_text(LOG, patterns)
    assert [(r.step, r.metrics) for r in recs] == [
        (10, {"loss": 2.5, "learning_rate": 1e-3}), (20, {"loss": 2.25, "learning_rate": 9e-4})]


def test_name_value_pairs_repeat_over_the_line():
    patterns = load_patterns([r"(?P<name>[a-z]+) (?P<value>[\d.e-]+)"])
    recs = parse_text("obj 2.5 gn 0.3 acc 0.9\n", patterns)
    assert recs[0].metrics == {"obj": 2.5, "gn": 0.3, "acc": 0.9}


def test_a_named_pattern_with_one_group():
    pattern = UserPattern(r"objective is ([\d.]+)", name="loss")
    assert parse_text("the objective is 1.75\n", [pattern])[0].metrics == {"loss": 1.75}


def test_user_patterns_win_over_built_in_formats():
    patterns = load_patterns([r"loss=(?P<my_loss>[\d.]+)"])
    assert parse_text("step=3 loss=2.5\n", patterns)[0].metrics == {"my_loss": 2.5}


def test_toml_file(tmp_path):
    toml = tmp_path / "trainboard.toml"
    toml.write_text(
        '[[parsing.patterns]]\nregex = \'it (?P<step>\\d+) \\| obj (?P<loss>[\\d.]+)\'\nname = "my framework"\n'
    )
    patterns = load_patterns([], str(toml))
    assert patterns[0].name == "my framework"
    assert [r.metrics for r in parse_text(LOG, patterns)] == [{"loss": 2.5}, {"loss": 2.25}]


@pytest.mark.parametrize("regex", [r"loss (?P<loss>[\d.]+", r"(?P<2bad>x)", r"*"])
def test_a_pattern_that_does_not_compile_names_itself(regex):
    with pytest.raises(PatternError) as err:
        load_patterns([regex])
    assert regex in str(err.value)
    assert isinstance(err.value, ValueError)


def test_a_pattern_without_a_metric_group_is_an_error():
    with pytest.raises(PatternError, match="no metric group"):
        load_patterns([r"step (?P<step>\d+)"])


def test_a_bad_toml_entry_is_an_error(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text('[[parsing.patterns]]\nregex = "(unclosed"\nname = "broken one"\n')
    with pytest.raises(PatternError, match="broken one"):
        load_patterns([], str(toml))
    toml.write_text("[[parsing.patterns]]\nname = 'no regex'\n")
    with pytest.raises(PatternError, match="entry 1"):
        load_patterns([], str(toml))
