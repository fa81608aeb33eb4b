"""Recommendation: popularity, item-kNN, EASE, ALS, RP3beta, the default and `Auto` side by side, plus scoring speed.

    .venv/bin/python benchmarks/recommend.py [--repeats 3] [--json PATH] [--skip-real]

Target (issue 13): on a real public ~100k-rating dataset and on generated data, with the default protocol
(`temporal_split`: per user, the last 20% by (time, item) held out, users with < 5 interactions in train only),
the default model's NDCG@10 >= EASE's with a fit time <= 1/4 of EASE's; top-10 for 10,000 users over a
10,000-item catalogue <= 5 s; one user's top-10 p50 <= 5 ms.

Real data: MovieLens 100K (`u.data`: 100,000 ratings, 943 users, 1,682 movies; GroupLens, University of
Minnesota; F. M. Harper and J. A. Konstan, ACM TiiS 5(4), 2015). This machine reaches only package registries,
so it is taken from the PyPI wheel of RecBole 1.2.1 (MIT-licensed code), which bundles it as
`recbole/dataset_example/ml-100k/ml-100k.inter`: `pip download recbole==1.2.1 --no-deps` into
benchmarks/.data/ (git-ignored), then the one file is extracted and its SHA-256 checked. The data's own licence
(GroupLens): research use, acknowledge the source, no redistribution, no commercial use without permission;
so it is downloaded at benchmark time and never committed. Every rating counts as a positive.

Generated data: `make_interactions(n_users=5000, n_items=2000, seed=0)` (~150k interactions).
The default is `make_recommender("default")` (`DEFAULT_MODEL`, `ValidatedRP3Beta`): each fit chooses RP3beta's
popularity penalty and recency half-life on a second temporal split inside the training part and refits; its fit
time includes that selection, and the row records the choice. The fixed RP3beta (the previous default) is shown
beside it.
`Auto` is the grid search (several models fitted on an inner temporal split), shown for reference.
Fit time: median of `--repeats` fits, with the min-max spread; the models take turns (round r fits every model
once) so a slow spell of a shared machine hits them alike. Wall clock, 2 threads for ALS, BLAS as configured.
Peak memory: tracemalloc's peak of one extra fit (numpy and Python allocations; `implicit`'s C++ buffers are not
seen).
Scoring: the default, ALS and item-kNN fitted on `make_interactions(10000, 10000)` (with its times), top-10 for
all 10,000 users (seen items excluded), and the p50/p95 of 1,000 single-user calls (row slicing included).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlproj.modeling.interactions import Interactions, make_interactions, temporal_split  # noqa: E402
from mlproj.modeling.recommenders import (  # noqa: E402
    ALS,
    DEFAULT_MODEL,
    EASE,
    Auto,
    ItemKNN,
    Popularity,
    RP3Beta,
    evaluate_recommender,
    make_recommender,
)

DATA = ROOT / "benchmarks" / ".data"
WHEEL = "recbole==1.2.1"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
SHA256 = "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"
DATASET = (
    "MovieLens 100K (GroupLens, University of Minnesota; research use, no redistribution), "
    f"from the PyPI wheel {WHEEL} (MIT) that bundles it"
)


def load_movielens() -> pd.DataFrame:
    "Return MovieLens 100K as (user, item, rating, time), fetched from PyPI once into benchmarks/.data/."
    path = DATA / "ml-100k.inter"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-q", "-d", str(DATA)], check=True
        )
        wheel = next(DATA.glob("recbole-1.2.1-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            raw = z.read(MEMBER)
        if hashlib.sha256(raw).hexdigest() != SHA256:
            raise SystemExit(f"{wheel.name}: {MEMBER} does not have the expected SHA-256; not using it.")
        path.write_bytes(raw)
    df = pd.read_csv(path, sep="\t")
    df.columns = ["user", "item", "rating", "time"]
    return df


def default_label() -> str:
    "The default's row label: `DEFAULT_MODEL` (its parameters and choice are in the row's `params` and `chosen`)."
    return f"default = {DEFAULT_MODEL}"


def timed_fits(models: dict, X, times, repeats: int) -> dict:
    "Fit every model `repeats` times, taking turns; per label the last model, the fit seconds and a tracemalloc peak (MB)."
    seconds = {label: [] for label in models}
    fitted = {}
    for _ in range(repeats):
        for label, make in models.items():
            t0 = time.perf_counter()
            fitted[label] = make().fit(X, times)
            seconds[label].append(time.perf_counter() - t0)
    out = {}
    for label, make in models.items():
        tracemalloc.start()
        make().fit(X, times)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        out[label] = (fitted[label], seconds[label], peak)
    return out


def compare(name: str, df: pd.DataFrame, repeats: int) -> list[dict]:
    "Fit every model on the temporal split of `df`; one row per model."
    data = Interactions.from_frame(df, user="user", item="item", rating="rating", time="time")
    split = temporal_split(data)
    print(
        f"\n{name}: {data.matrix.shape[0]} users, {data.matrix.shape[1]} items, {data.matrix.nnz} positives "
        f"({data.n_duplicates} duplicates collapsed); {len(split.users)} users evaluated, "
        f"{split.test.nnz} held out, {int(split.catalogue.sum())} catalogue items",
        flush=True,
    )
    models = {
        "popularity": Popularity,
        "item-kNN (100)": lambda: ItemKNN(n_neighbors=100),
        "EASE (l2=200)": lambda: EASE(l2=200.0),
        "ALS (64 factors)": lambda: ALS(factors=64),
        "RP3beta, no recency": lambda: RP3Beta(half_life=None),
        "RP3beta, fixed (alpha 0.8, beta 0.6, half-life 10)": RP3Beta,
        default_label(): lambda: make_recommender("default"),
        "auto (grid search)": Auto,
    }
    rows = []
    for label, (model, seconds, peak) in timed_fits(models, split.train, split.train_times, repeats).items():
        m = evaluate_recommender(model, split, k=10)
        row = {"data": name, "model": label, **{k: round(v, 4) for k, v in m.items()}}
        row.update(
            fit_s=round(statistics.median(seconds), 3),
            fit_range=f"{min(seconds):.3f}-{max(seconds):.3f}",
            peak_mb=round(peak, 1),
        )
        if isinstance(model, Auto):
            row["chosen"] = f"{model.best_name_} {model.best_.get_params()}"
            row["selection"] = pd.DataFrame(model.results_)[["model", "ndcg@10", "seconds"]].round(4).to_dict("records")
        if hasattr(model, "chosen_"):  # the validated default: its choice, validation scores and selection time
            row["params"] = model.get_params()
            row["chosen"] = f"{model.best_name_} {model.best_.get_params()}"
            row["selection"] = pd.DataFrame(model.results_).round(4).to_dict("records")
            row["selection_s"] = round(model.selection_seconds_, 3)
        rows.append(row)
        print(
            f"  {label:18s} ndcg@10={m['ndcg@10']:.4f} recall@10={m['recall@10']:.4f} "
            f"fit={row['fit_s']:.3f}s ({row['fit_range']})",
            flush=True,
        )
    return rows


def scoring_speed(n_users: int = 10_000, n_items: int = 10_000) -> list[dict]:
    "Top-10 for every user of a generated `n_users` x `n_items` set, and single-user latency."
    df = make_interactions(n_users=n_users, n_items=n_items, seed=0)
    data = Interactions.from_frame(df, user="user", item="item", time="time")
    X = data.matrix
    print(f"\nscoring: {X.shape[0]} users x {X.shape[1]} items, {X.nnz} positives", flush=True)
    users = np.arange(X.shape[0])
    rng = np.random.default_rng(0)
    rows = []
    for label, model in {
        f"default = {DEFAULT_MODEL}": make_recommender("default"),
        "ALS (64 factors)": ALS(factors=64),
        "item-kNN (100)": ItemKNN(n_neighbors=100),
    }.items():
        t0 = time.perf_counter()
        model.fit(X, data.times)
        fit_s = time.perf_counter() - t0
        batch = []
        for _ in range(3):
            t0 = time.perf_counter()
            items, _ = model.recommend(users, X, k=10)
            batch.append(time.perf_counter() - t0)
        assert items.shape == (X.shape[0], 10) and X[users[:, None], items].nnz == 0
        single = []
        for u in rng.integers(0, X.shape[0], 1000):
            t0 = time.perf_counter()
            model.recommend(np.array([u]), X[u], k=10)
            single.append(time.perf_counter() - t0)
        row = {
            "model": label,
            "fit_s": round(fit_s, 2),
            "top10_all_users_s": round(statistics.median(batch), 3),
            "single_p50_ms": round(1000 * float(np.percentile(single, 50)), 3),
            "single_p95_ms": round(1000 * float(np.percentile(single, 95)), 3),
        }
        rows.append(row)
        print(f"  {row}", flush=True)
    return rows


def markdown(df: pd.DataFrame) -> str:
    "A Markdown table of `df` (no tabulate dependency)."
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fits per model (the median is reported)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--skip-real", action="store_true", help="generated data only")
    args = parser.parse_args()

    rows = []
    if not args.skip_real:
        print(f"real data: {DATASET}")
        rows += compare("ml-100k", load_movielens(), args.repeats)
    rows += compare(
        "generated 5000x2000", make_interactions(n_users=5000, n_items=2000, seed=0), args.repeats
    )
    speed = scoring_speed()

    cols = ["data", "model", "ndcg@10", "recall@10", "map@10", "coverage", "fit_s", "fit_range", "peak_mb"]
    table = pd.DataFrame(rows)
    print("\n" + markdown(table[cols]))
    label = default_label()
    for data, sub in table.groupby("data", sort=False):
        by = sub.set_index("model")
        ease, default, auto = by.loc["EASE (l2=200)"], by.loc[label], by.loc["auto (grid search)"]
        print(
            f"\n{data}: default {DEFAULT_MODEL}: NDCG@10 {default['ndcg@10']:.4f} vs EASE {ease['ndcg@10']:.4f} "
            f"({'met' if default['ndcg@10'] >= ease['ndcg@10'] else 'NOT met'}); fit {default['fit_s']:.3f}s vs "
            f"EASE {ease['fit_s']:.3f}s = {default['fit_s'] / ease['fit_s']:.2f}x (target <= 0.25x: "
            f"{'met' if default['fit_s'] <= ease['fit_s'] / 4 else 'NOT met'}); the default chose {default['chosen']} "
            f"(selection {default['selection_s']:.3f}s of its fit); auto chose {auto['chosen']}"
        )
    print("\n" + markdown(pd.DataFrame(speed)))
    if args.json:
        args.json.write_text(
            json.dumps({"dataset": DATASET, "compare": rows, "scoring": speed}, indent=1, default=str)
        )


if __name__ == "__main__":
    main()
