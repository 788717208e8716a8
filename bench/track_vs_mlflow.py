"""MLflow's side of bench/track_vs_mlflow.sh, against a running `mlflow server`.

ingest: 1,000 runs x 50 metrics x 100 steps through MlflowClient.log_batch (1,000 metrics per
call, MLflow's limit), the fastest client path. Stops after --budget seconds and extrapolates
the rate from the runs done, saying so in the output.

search: 20,000 runs, then p50/p95 of client.search_runs with a metric filter. The runs are
cloned straight into MLflow's SQLite file from one run created through the API, because
creating 20,000 runs over REST would take longer than the whole benchmark; the timed queries
go through the REST API like any client's.
"""
import argparse
import json
import sqlite3
import sys
import time
import uuid

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient


def unit(i):
    # Same generator as crates/whet-track/examples/track_bench.rs.
    m = (1 << 64) - 1
    x = (i * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & m
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & m
    x ^= x >> 29
    return (x >> 11) / float(1 << 53)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round((len(xs) - 1) * p))]


def ingest(client, runs, metrics, steps, budget):
    exp = client.create_experiment(f"ingest-{uuid.uuid4().hex[:8]}")
    keys = [f"metric_{m}" for m in range(metrics)]
    t0 = time.perf_counter()
    done = 0
    for r in range(runs):
        run = client.create_run(exp, run_name=f"run {r}")
        rid = run.info.run_id
        batch = []
        for step in range(steps):
            for key in keys:
                batch.append(Metric(key, unit(r * metrics * steps + len(batch)), 1_700_000_000_000 + step, step))
        params = [Param("learner", "gbdt"), Param("run", str(r))]
        for i in range(0, len(batch), 1000):
            client.log_batch(rid, metrics=batch[i:i + 1000], params=params if i == 0 else [])
        client.set_terminated(rid, "FINISHED")
        done += 1
        if time.perf_counter() - t0 > budget:
            break
    elapsed = time.perf_counter() - t0
    points = done * metrics * steps
    return {
        "runs_done": done,
        "runs_asked": runs,
        "extrapolated": done < runs,
        "points": points,
        "seconds": elapsed,
        "points_per_second": points / elapsed,
        "estimated_full_seconds": elapsed / done * runs,
    }


def populate(client, db_path, n):
    exp = client.create_experiment(f"search-{uuid.uuid4().hex[:8]}")
    template = client.create_run(exp, run_name="template")
    tid = template.info.run_id
    client.log_batch(tid, metrics=[Metric("auc", 0.5, 0, 0), Metric("logloss", 0.5, 0, 0), Metric("rmse", 0.5, 0, 0)],
                     params=[Param("learner", "gbdt"), Param("seed", "0")], tags=[RunTag("team", "x")])
    client.set_terminated(tid, "FINISHED")
    t0 = time.perf_counter()
    con = sqlite3.connect(db_path, timeout=60)
    con.row_factory = sqlite3.Row

    def rows(table):
        return [dict(r) for r in con.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (tid,))]

    run_row = rows("runs")[0]
    per_table = {t: rows(t) for t in ("latest_metrics", "metrics", "params", "tags")}

    def insert(table, row):
        cols = list(row)
        con.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    [row[c] for c in cols])

    base = run_row["start_time"]
    with con:
        for r in range(n):
            rid = uuid.uuid4().hex
            row = dict(run_row, run_uuid=rid, name=f"s{r}", start_time=base + r, end_time=base + r + 1,
                       artifact_uri=run_row["artifact_uri"].replace(tid, rid))
            insert("runs", row)
            values = {"auc": unit(r), "logloss": unit(r + 1_000_000), "rmse": unit(r + 2_000_000)}
            for table, trows in per_table.items():
                for t in trows:
                    t = dict(t, run_uuid=rid)
                    if table in ("latest_metrics", "metrics"):
                        t["value"] = values[t["key"]]
                    if table == "params":
                        t["value"] = ["gbdt", "linear", "knn"][r % 3] if t["key"] == "learner" else str(r % 10)
                    if table == "tags" and t["key"] == "mlflow.runName":
                        t["value"] = f"s{r}"
                    insert(table, t)
        con.execute("DELETE FROM latest_metrics WHERE run_uuid = ?", (tid,))
        for t in ("metrics", "params", "tags"):
            con.execute(f"DELETE FROM {t} WHERE run_uuid = ?", (tid,))
        con.execute("DELETE FROM runs WHERE run_uuid = ?", (tid,))
    con.close()
    return exp, time.perf_counter() - t0


def search(client, exp, queries, max_results):
    out = {}
    for label, order in (("search", None), ("sorted_search", ["metrics.auc DESC"])):
        lat = []
        hits = 0
        for _ in range(queries):
            t = time.perf_counter()
            res = client.search_runs([exp], filter_string="metrics.auc > 0.9", max_results=max_results,
                                     order_by=order)
            lat.append((time.perf_counter() - t) * 1000)
            hits = len(res)
        out[f"{label}_p50_ms"] = pct(lat, 0.5)
        out[f"{label}_p95_ms"] = pct(lat, 0.95)
        out["hits"] = hits
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uri", required=True)
    ap.add_argument("--db", required=True, help="the server's SQLite file")
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--metrics", type=int, default=50)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--budget", type=float, default=300.0, help="seconds of ingest before extrapolating")
    ap.add_argument("--search-runs", type=int, default=20000)
    ap.add_argument("--queries", type=int, default=20,
                    help="timed searches per variant (each takes seconds on MLflow at 20,000 runs)")
    ap.add_argument("--max-results", type=int, default=100)
    a = ap.parse_args()
    client = MlflowClient(tracking_uri=a.uri)
    result = {"ingest": ingest(client, a.runs, a.metrics, a.steps, a.budget)}
    print("mlflow ingest done", json.dumps(result["ingest"]), file=sys.stderr, flush=True)
    exp, populate_s = populate(client, a.db, a.search_runs)
    result["search"] = dict(search(client, exp, a.queries, a.max_results), search_runs=a.search_runs,
                            populate_seconds=populate_s, filter="metrics.auc > 0.9", max_results=a.max_results,
                            queries=a.queries)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
