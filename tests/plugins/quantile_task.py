"""A task from outside the package: the 0.9 quantile of a numeric target (pinball loss decides).

It lives in the tests folder and registers itself like a project's own task would (`[train] plugins`
in settings.ini); the test in `test_tasks.py` trains, evaluates, reports, scores and serves it without
editing any module of mlproj.
"""

import numpy as np
import pandas as pd

from mlproj.core.errors import DataError
from mlproj.core.tasks import ModelSpec, Predictions, Task, register_task

ALPHA = 0.9


class QuantileRegression(Task):
    "Predict the 0.9 quantile of a numeric target: an upper bound that 90% of the values stay under."

    name = "quantile"
    description = f"the {ALPHA} quantile of a numeric target"
    primary_metric = "pinball"
    directions = {"pinball": False, "coverage_gap": False}
    numeric_target = True

    def check_target(self, y: pd.Series) -> None:
        if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
            raise DataError(f"target {y.name!r} is {y.dtype}, not numeric; a quantile needs numbers.")

    def models(self) -> dict[str, ModelSpec]:
        from sklearn import dummy, ensemble, linear_model

        return {
            "dummy": ModelSpec(self.name, "dummy", lambda rs: dummy.DummyRegressor(strategy="quantile", quantile=ALPHA),
                               False, "the training quantile"),
            "linear": ModelSpec(self.name, "linear", lambda rs: linear_model.QuantileRegressor(
                quantile=ALPHA, alpha=0.0, solver="highs"), True, "linear quantile regression"),
            "hgb": ModelSpec(self.name, "hgb", lambda rs: ensemble.HistGradientBoostingRegressor(
                loss="quantile", quantile=ALPHA, random_state=rs), False, "gradient boosting, pinball loss"),
        }

    def metrics(self, p: Predictions) -> dict[str, float]:
        from sklearn.metrics import mean_pinball_loss

        return {
            "pinball": float(mean_pinball_loss(p.y_true, p.y_pred, alpha=ALPHA)),
            "coverage_gap": float(abs(np.mean(p.y_true <= p.y_pred) - ALPHA)),
        }

    def weighted_metrics(self, p: Predictions, W: np.ndarray) -> dict[str, np.ndarray]:
        n, diff = W.shape[1], p.y_true - p.y_pred
        loss = np.where(diff >= 0, ALPHA * diff, (ALPHA - 1) * diff)
        return {"pinball": W @ loss / n, "coverage_gap": np.abs(W @ (diff <= 0).astype(float) / n - ALPHA)}

    def importance_score(self, y, out, classes, groups=None) -> float:
        diff = np.asarray(y, dtype=float) - out
        return -float(np.mean(np.where(diff >= 0, ALPHA * diff, (ALPHA - 1) * diff)))

    def figures(self, p: Predictions):
        def draw(ax):
            ax.scatter(p.y_pred, p.y_true, s=8, alpha=0.5)
            lo, hi = float(np.min(p.y_pred)), float(np.max(p.y_pred))
            ax.plot([lo, hi], [lo, hi], c="grey", ls="--", lw=1)
            ax.set(xlabel=f"predicted {ALPHA} quantile", ylabel="true", title="Values under the quantile")
            return ax

        return [("Quantile", draw)]


register_task(QuantileRegression())
