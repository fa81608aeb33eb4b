"""The bare scikit-learn script `mlproj train` is benchmarked against.

It does, by hand, the work a user would write to get what `mlproj train --model hgb` gives on the demo
churn CSV (see `benchmarks/README.md`): read the CSV with pandas, drop the columns mlproj drops,
stratified 80/20 split, the same preprocessing mlproj builds for `hgb`, 5-fold stratified CV with six
metrics, a final fit on the training part, probabilities on the holdout, and a joblib dump of the model.

The feature lists mirror what `mlproj.modeling.features.infer_column_types` infers on that CSV (checked by
`benchmarks/run.py`): `signup_date` is read from CSV as text; mlproj recognises it as a date and uses its
calendar parts (year, month, day of week, day of year), and so does this script.

Usage: python benchmarks/bare_sklearn.py DATA.csv OUT_DIR   (prints a JSON summary on stdout)
"""

import json
import sys
import time

t_start = time.perf_counter()

import joblib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.metrics import average_precision_score, brier_score_loss, f1_score, make_scorer, roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder  # noqa: E402

TARGET, POS = "churned", "yes"
DROP = ["customer_id", "region"]  # ID-like and constant: mlproj drops them too
NUMERIC = ["tenure_months", "monthly_usage", "support_calls"]
CATEGORICAL = ["plan"]
DATES = ["signup_date"]
BOOLEAN = ["autopay"]
SEED = 0


def as_float(X):
    "Booleans as 0/1 floats (a module-level function, so the fitted pipeline can be pickled)."
    return X.astype(float)


def as_object(X):
    "Text columns as object with NaN for missing, the form SimpleImputer(strategy='constant') expects."
    return X.astype(object).where(X.notna(), np.nan)


def date_parts(X):
    "Calendar parts of each date column, as floats."
    out = {}
    for col in X.columns:
        d = pd.to_datetime(X[col], errors="coerce")
        for part in ("year", "month", "day_of_week", "day_of_year"):
            out[f"{col}_{part}"] = getattr(d.dt, part).astype(float)
    return pd.DataFrame(out, index=X.index)


def main(data: str, out_dir: str) -> dict:
    timings, t0 = {"imports": round(time.perf_counter() - t_start, 4)}, time.perf_counter()

    def lap(name):
        nonlocal t0
        timings[name] = round(time.perf_counter() - t0, 4)
        t0 = time.perf_counter()

    df = pd.read_csv(data)
    X, y = df.drop(columns=[TARGET, *DROP]), df[TARGET]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=SEED, stratify=y)
    pre = ColumnTransformer([
        ("num", SimpleImputer(strategy="median", add_indicator=True), NUMERIC),  # no scaling for trees
        ("cat", make_pipeline(FunctionTransformer(as_object), SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.01,
                                            sparse_output=False)), CATEGORICAL),
        ("bool", make_pipeline(FunctionTransformer(as_float), SimpleImputer(strategy="most_frequent")), BOOLEAN),
        ("date", make_pipeline(FunctionTransformer(date_parts), SimpleImputer(strategy="median")), DATES),
    ])
    model = make_pipeline(pre, HistGradientBoostingClassifier(random_state=SEED))
    scoring = {
        "roc_auc": "roc_auc",
        "pr_auc": make_scorer(average_precision_score, response_method="predict_proba", pos_label=POS),
        "log_loss": "neg_log_loss",
        "brier": make_scorer(brier_score_loss, response_method="predict_proba", pos_label=POS,
                             greater_is_better=False),
        "accuracy": "accuracy",
        "f1": make_scorer(f1_score, pos_label=POS),
    }
    lap("read_split")
    cv = cross_validate(model, X_train, y_train, scoring=scoring,
                        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED))
    lap("cross_validate")
    model.fit(X_train, y_train)
    lap("fit")
    proba = model.predict_proba(X_test)[:, list(model.classes_).index(POS)]
    holdout = {"roc_auc": float(roc_auc_score(y_test == POS, proba)),
               "pr_auc": float(average_precision_score(y_test == POS, proba))}
    lap("holdout")
    joblib.dump(model, f"{out_dir}/model.joblib")
    lap("dump")
    return {"holdout": holdout, "cv": {k[5:]: float(np.mean(v)) for k, v in cv.items() if k.startswith("test_")},
            "n_train": len(y_train), "n_test": len(y_test), "timings": timings}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2]), indent=2))
