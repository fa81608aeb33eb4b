"Property-based tests: a contract inferred from a frame accepts that frame and rejects targeted mutations of it."

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlproj.data.contracts import check_contract, infer_contract
from mlproj.core.errors import SchemaError

LEVELS = ["red", "green", "blue", "amber"]


@st.composite
def frames(draw) -> pd.DataFrame:
    "Mixed-type frames: two numeric columns (one with missing values), a categorical, a boolean and a target."
    n = draw(st.integers(min_value=25, max_value=60))
    finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
    a = draw(st.lists(finite, min_size=n, max_size=n))
    b = draw(st.lists(st.one_of(finite, st.none()), min_size=n, max_size=n))
    cat = draw(st.lists(st.sampled_from(LEVELS[:3]), min_size=n, max_size=n))
    flag = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    df = pd.DataFrame({"a": a, "b": pd.array(b, dtype="Float64").astype(float), "cat": cat, "flag": flag,
                       "y": draw(st.lists(st.sampled_from(["no", "yes"]), min_size=n, max_size=n))})
    # keep every column informative, so none is dropped as constant
    df.loc[0, ["a", "b"]], df.loc[1, ["a", "b"]] = [0.0, 1.0], [1.0, 2.0]
    df.loc[0, "cat"], df.loc[1, "cat"] = "red", "green"
    df.loc[0, "flag"], df.loc[1, "flag"] = True, False
    return df


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _contract(df):
    return infer_contract(df, target="y", task="classification")


@SETTINGS
@given(frames())
def test_contract_accepts_its_own_frame(df: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning
        assert check_contract(df, _contract(df)) == []
        assert check_contract(df.drop(columns="y"), _contract(df)) == []  # scoring data has no target


@SETTINGS
@given(frames(), st.sampled_from(["a", "b", "cat", "flag"]))
def test_missing_column_is_rejected(df: pd.DataFrame, col: str) -> None:
    with pytest.raises(SchemaError, match=rf"missing required column\(s\) \['{col}'\]"):
        check_contract(df.drop(columns=col), _contract(df))


@SETTINGS
@given(frames(), st.integers(min_value=0, max_value=24), st.sampled_from(["abc", "n/a", "1,5"]))
def test_text_in_numeric_column_is_rejected(df: pd.DataFrame, row: int, text: str) -> None:
    bad = df.astype({"a": object})
    bad.loc[row, "a"] = text
    with pytest.raises(SchemaError, match=rf"column 'a' must hold numbers; 1 value\(s\) do not: '{text}' at row {row}"):
        check_contract(bad, _contract(df))


@SETTINGS
@given(frames(), st.integers(min_value=0, max_value=24), st.sampled_from([np.inf, -np.inf]))
def test_infinite_value_is_rejected(df: pd.DataFrame, row: int, value: float) -> None:
    bad = df.copy()
    bad.loc[row, "a"] = value
    with pytest.raises(SchemaError, match="must hold finite numbers"):
        check_contract(bad, _contract(df))


@SETTINGS
@given(frames(), st.integers(min_value=0, max_value=24))
def test_absorbable_changes_are_warnings(df: pd.DataFrame, row: int) -> None:
    changed = df.copy()
    changed.loc[row, "cat"] = "amber"  # never seen in training
    changed.loc[row, "a"] = df["a"].max() + 1  # outside the training range
    changed["extra"] = 1
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        found = check_contract(changed, _contract(df))
    assert any("never seen in training {'amber': 1}" in f for f in found)
    assert any("column 'a' has 1 value(s) outside the training range" in f for f in found)
    assert any("ignoring column(s) the model was not trained on: ['extra']" in f for f in found)
