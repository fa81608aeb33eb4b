"""The ranking task's default model against LightGBM's LambdaRank called directly, side by side in one run.

For each data set (`make_ranking_data` with 300 and 2000 queries, seeded) it makes one grouped holdout split
(`GroupShuffleSplit`, 20% of the queries, seeded), then, `--repeats` times each:

- mlproj: `make_model(task, <model>, types)` (mlproj's preprocessing + the estimator) fitted through
  `task.fit` (sorts the rows by query and passes the query sizes to a ranker), for the default
  (`lambdarank`) and, for reference, the other models of the catalogue;
- LightGBM directly: `lightgbm.LGBMRanker(objective="lambdarank", ...)` with the same parameters, fitted on
  a ready numeric matrix (numbers as they are, `doc_type` one-hot, made before the clock starts) with
  `group=` the query sizes: the code a user of LightGBM would write.

NDCG@10 (gain 2^rel - 1, ties averaged) is computed on the holdout with the task's own metric for every
row of the table; times are fit wall times only, medians over the repeats, one thread each.

Usage: python benchmarks/rank.py [--repeats 3] [--queries 300,2000] [--json OUT.json]
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.model_selection import GroupShuffleSplit  # noqa: E402

from mlproj.data.contracts import infer_column_types  # noqa: E402
from mlproj.modeling.models import make_model  # noqa: E402
from mlproj.tasks.ranking import Ranking, make_ranking_data, query_metrics  # noqa: E402

DEFAULT = "lambdarank"
LGBM_PARAMS = dict(objective="lambdarank", random_state=0, n_jobs=1, verbose=-1)


def grouped_split(df: pd.DataFrame, seed: int = 0):
    "The holdout split of the task: 20% of the queries, whole."
    gss = GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=seed)
    train, test = next(gss.split(df, groups=df.qid))
    return df.iloc[train], df.iloc[test]


def timed(fit):
    t0 = time.perf_counter()
    out = fit()
    return out, time.perf_counter() - t0


def bench_mlproj(task, name, train, test, repeats):
    X_tr, y_tr = train.drop(columns="relevance"), train.relevance
    X_te, y_te = test.drop(columns="relevance"), test.relevance
    types = infer_column_types(X_tr.drop(columns="qid"))
    times, ndcg = [], None
    for _ in range(repeats):
        model, t = timed(lambda: task.fit(make_model(task, name, types, random_state=0), X_tr, y_tr))
        times.append(t)
        ndcg = task.metrics(task.predict(model, X_te, y_te))["ndcg@10"]
    return ndcg, float(np.median(times))


def bench_lightgbm(task, train, test, repeats):
    import lightgbm

    def matrix(frame):
        return pd.get_dummies(frame.drop(columns=["qid", "relevance"]), columns=["doc_type"], dtype=float)

    tr = train.sort_values("qid", kind="stable")
    M_tr, M_te = matrix(tr), matrix(test)
    sizes = tr.groupby("qid", sort=False).size().to_numpy()
    times, ndcg = [], None
    for _ in range(repeats):
        model, t = timed(lambda: lightgbm.LGBMRanker(**LGBM_PARAMS).fit(M_tr, tr.relevance, group=sizes))
        times.append(t)
        scores = model.predict(M_te[M_tr.columns])
        ndcg = float(
            np.nanmean(query_metrics(test.relevance, scores, test.qid, task.ks, task.gain)["ndcg@10"])
        )
    return ndcg, float(np.median(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--queries", default="300,2000")
    ap.add_argument("--json", default=None, help="also write the rows as JSON to this file")
    args = ap.parse_args(argv)
    task = Ranking().bind({"group": "qid"}, {"k": (5, 10)})
    rows = []
    for n_q in [int(n) for n in args.queries.split(",")]:
        df = make_ranking_data(n_queries=n_q, seed=0)
        train, test = grouped_split(df)
        print(f"{n_q} queries: {len(train)} train rows, {len(test)} holdout rows", file=sys.stderr)
        lgb_ndcg, lgb_t = bench_lightgbm(task, train, test, args.repeats)
        for name in [DEFAULT, "pointwise", "linear", "dummy"]:
            ndcg, t = bench_mlproj(task, name, train, test, args.repeats)
            rows.append(
                dict(
                    queries=n_q,
                    rows=len(df),
                    model=f"mlproj {name}" + (" (default)" if name == DEFAULT else ""),
                    ndcg_at_10=round(ndcg, 4),
                    fit_s=round(t, 3),
                    vs_lightgbm_ndcg=round(ndcg - lgb_ndcg, 4),
                    vs_lightgbm_time=round(t / lgb_t, 2),
                )
            )
        rows.append(
            dict(
                queries=n_q,
                rows=len(df),
                model="LightGBM LGBMRanker direct",
                ndcg_at_10=round(lgb_ndcg, 4),
                fit_s=round(lgb_t, 3),
                vs_lightgbm_ndcg=0.0,
                vs_lightgbm_time=1.0,
            )
        )
    table = pd.DataFrame(rows)
    print(f"$ python benchmarks/rank.py --repeats {args.repeats} --queries {args.queries}")
    print(f"(medians over {args.repeats} fits, 1 thread; NDCG@10 gain 2^rel-1 on a 20% grouped holdout)")
    print(table.to_markdown(index=False) if _has_tabulate() else table.to_string(index=False))
    default = table[table.model.str.endswith("(default)")]
    ok = bool((default.vs_lightgbm_ndcg >= 0).all() and (default.vs_lightgbm_time <= 1.5).all())
    print(f"default NDCG@10 >= LightGBM's and fit time <= 1.5x on every data set: {ok}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": sys.argv, "rows": rows, "target_met": ok}, f, indent=1)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
