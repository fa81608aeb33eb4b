"""Where the time of `mlproj train` goes: one in-process run of `mlproj.workflows.pipeline.train`, step by step.

`mlproj train --json` prints no timings, so this script calls the library directly, the way `cmd_train`
does, and reports `TrainResult.timings` (prepare / cross_validate / fit / holdout / importance) plus
the steps around them that `timings` does not cover: imports, `resolve_inputs` (CSV read, SHA-256 of
the frame, task inference, override check) and `save_artifact` (joblib dump, git state, versions).
Finer probes time the extra work mlproj does that a bare script does not: the baseline CV, the
per-fold metrics, the bootstrap CIs and the permutation importance.

Usage (threads are taken from the environment, as `benchmarks/run.py` sets them):
    MLPROJ_SETTINGS=/tmp/x/settings.ini python benchmarks/diagnose_train.py DATA.csv TARGET
Prints a JSON object on stdout.
"""

import json
import sys
import time
import warnings

t_start = time.perf_counter()
from mlproj.core.settings import load_settings  # noqa: E402
from mlproj.workflows.pipeline import resolve_inputs, train  # noqa: E402

t_import_pipeline = time.perf_counter() - t_start


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, round(time.perf_counter() - t, 4)


def main(data: str, target: str) -> dict:
    import sklearn.ensemble  # noqa: F401  (what cmd_train's first fit imports anyway; keep it out of the steps)

    warnings.simplefilter("ignore")
    s = load_settings()
    out = {"imports": {"mlproj.workflows.pipeline": round(t_import_pipeline, 4),
                       "up_to_sklearn.ensemble": round(time.perf_counter() - t_start, 4)},
           "n_threads_setting": s.train.n_threads}

    t = time.perf_counter()
    result = train(data=data, target=target, model="hgb", settings=s, cache=False, save=True)
    wall = time.perf_counter() - t
    out["train_wall"] = round(wall, 4)
    out["train_timings"] = result.timings
    out["outside_timings"] = round(wall - result.timings["total"], 4)

    # The pieces outside `timings`, measured again one by one.
    from mlproj.lifecycle.artifacts import git_state, package_versions, save_artifact
    from mlproj.data.sources import hash_frame, load_data

    df, out_load = timed(load_data, data)
    _, out_hash = timed(hash_frame, df)
    inputs, out_resolve = timed(resolve_inputs, data, target, "auto", "hgb", None)
    _, out_git = timed(git_state, s.project_dir)
    _, out_versions = timed(package_versions)
    out["around"] = {"resolve_inputs": out_resolve, "of_which_load_data": out_load, "of_which_hash_frame": out_hash,
                     "git_state": out_git, "package_versions": out_versions}
    import tempfile

    # the fields every artifact's metadata must have (`ArtifactMeta.REQUIRED`), with probe values
    probe_meta = {"data": "probe", "data_sha256": "0" * 64, "target": target, "task": result.task, "model": "hgb"}
    with tempfile.TemporaryDirectory() as tmp:
        _, out["around"]["save_artifact"] = timed(save_artifact, result.model, probe_meta, tmp, "probe",
                                                  baseline=result.baseline)

    # The extra work inside `timings` that a bare script does not do.
    from sklearn.pipeline import Pipeline

    from mlproj.data.contracts import infer_column_types
    from mlproj.data.sources import split_data
    from mlproj.modeling.evaluate import (
        bootstrap_metrics,
        compute_metrics,
        cross_validate_model,
        permutation_importance_table,
        predict,
    )
    from mlproj.modeling.models import get_model_spec, make_model

    split = split_data(inputs.df, target, inputs.task, test_size=s.data.test_size, random_state=s.train.seed)
    types = infer_column_types(split.X_train)
    base = Pipeline([("model", get_model_spec(inputs.task, "dummy").make(0))])
    _, out_base_cv = timed(cross_validate_model, base, split.X_train, split.y_train, inputs.task, s.train.cv_folds, 0)
    preds = predict(result.model, split.X_test, split.y_test, inputs.task)
    _, out_metrics = timed(compute_metrics, inputs.task, preds)
    _, out_boot = timed(bootstrap_metrics, inputs.task, preds, s.train.n_bootstrap, 0)
    _, out_pred = timed(predict, result.model, split.X_test, split.y_test, inputs.task)
    _, out_pre = timed(make_model(inputs.task, "hgb", types, random_state=0).named_steps["preprocess"].fit_transform,
                       split.X_train)
    _, out_imp = timed(permutation_importance_table, result.model, split.X_test, split.y_test, inputs.task,
                       random_state=0)
    # One permutation-importance scoring call is a predict_proba on <= 2,000 rows: preprocessing vs model.
    import numpy as np

    from mlproj.core.tasks import get_task

    n = len(preds.y_true)
    W = np.stack([np.bincount(np.random.default_rng(0).integers(0, n, n), minlength=n)] * 50).astype(float)
    X2 = split.X_test.iloc[:2000]
    pre, clf = result.model.named_steps["preprocess"], result.model.named_steps["model"]
    Xt = pre.transform(X2)
    reps = 20
    _, t_pre = timed(lambda: [pre.transform(X2) for _ in range(reps)])
    _, t_clf = timed(lambda: [clf.predict_proba(Xt) for _ in range(reps)])
    _, t_fast = timed(lambda: [get_task(inputs.task).weighted_metrics(preds, W) for _ in range(reps)])
    out["inside"] = {"baseline_cv": out_base_cv, "compute_metrics_once_sklearn": out_metrics,
                     "bootstrap_one_model": out_boot, "bootstrap_one_resample": round(t_fast / reps / 50, 5),
                     "predict_holdout": out_pred, "preprocess_fit_transform_train": out_pre,
                     "permutation_importance": out_imp,
                     "predict_2000_rows_preprocess": round(t_pre / reps, 5),
                     "predict_2000_rows_model": round(t_clf / reps, 5)}
    out["holdout_roc_auc"] = float(result.holdout.loc["roc_auc"].query("model == 'model'")["value"].iloc[0])
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2]), indent=2))
