"""`whet serve` against `mlflow models serve` with the equivalent LightGBM model, same run.

One shared dataset (default mlc_churn), an 80% training part; whet fits a 300-tree GBDT
(`whet fit -p num_iterations=300`), LightGBM 300 trees with the same defaults
(LGBMClassifier, categorical columns as pandas categories), saved with mlflow.lightgbm and
served by `mlflow models serve --env-manager local`. Both get the same single row of the test
part as MLflow's `dataframe_split` on POST /invocations and answer labels (MLflow's LightGBM
pyfunc takes numbers only, so its row has the category columns as integer codes, which
LightGBM was trained on and splits as categories). The load generator is
wrk (Debian), on the same machine:
  - latency: 1 connection, 1 thread, --duration s: p50 / p99 (wrk --latency);
  - throughput: 64 connections, 2 threads, --duration s: requests/s;
  - whet only: 60 s sustained at 64 connections, every non-2xx and socket error counted;
    single-row /predict?explain=true latency; throughput with --drift-window 10000;
  - RSS after the load (MLflow: its whole process tree).

usage: python bench/serve_vs_mlflow.py --whet PATH --mlflow-python PATH --work DIR
       [--dataset mlc_churn] [--duration 20] [--sustained 60] [--mlflow-workers 2]
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

DATASETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "datasets")

LGB_SCRIPT = r"""
import sys
import pandas as pd, lightgbm as lgb, mlflow.lightgbm
train, target, out, cats = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
df = pd.read_csv(train)
y = df.pop(target)
m = lgb.LGBMClassifier(n_estimators=300, verbose=-1, n_jobs=1)
# Category columns come as integer codes; LightGBM splits them as categories.
m.fit(df, y, categorical_feature=[c for c in cats if c])
mlflow.lightgbm.save_model(m, out, input_example=df.head(2))
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ready(url, body, proc, timeout=180):
    until = time.time() + timeout
    while time.time() < until:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as r:
                return json.loads(r.read())
        except Exception:
            time.sleep(0.3)
    sys.exit(f"{url} not ready after {timeout} s")


def tree_rss_mb(pid):
    """RSS of a process and its descendants, MB."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,rss="], capture_output=True, text=True).stdout
    kids, rss = {}, {}
    for line in out.splitlines():
        p, pp, r = (int(x) for x in line.split())
        kids.setdefault(pp, []).append(p)
        rss[p] = r
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(kids.get(p, []))
    return total / 1024


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url, body_file, connections, threads, seconds):
    lua = body_file + ".lua"
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        f.write("local f = io.open(%s, 'r')\nwrk.body = f:read('*a')\nf:close()\n" % json.dumps(body_file))
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
         "--timeout", "10s", "-s", lua, url],
        capture_output=True, text=True).stdout
    res = {"raw": out}
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)", out, re.M)
        res[f"p{q}_ms"] = float(m.group(1)) * UNITS[m.group(2)] if m else None
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return res


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except Exception:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except Exception:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--whet", required=True)
    ap.add_argument("--mlflow-python", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--dataset", default="mlc_churn")
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--sustained", type=int, default=60)
    ap.add_argument("--mlflow-workers", type=int, default=2)
    args = ap.parse_args()
    import pandas as pd

    manifest = pd.read_csv(os.path.join(DATASETS, "MANIFEST.tsv"), sep="\t")
    row = manifest[manifest.file == f"{args.dataset}.csv"].iloc[0]
    data = pd.read_csv(os.path.join(DATASETS, row.file))
    data = data.sample(frac=1.0, random_state=0).reset_index(drop=True)
    n_test = len(data) // 5
    train = os.path.join(args.work, "train.csv")
    data.iloc[n_test:].to_csv(train, index=False)
    # LightGBM through MLflow's pyfunc takes numbers only: text columns become integer codes
    # (declared categorical), and MLflow gets the same row coded.
    cats = [c for c in data.columns if c != row.target and not pd.api.types.is_numeric_dtype(data[c])]
    coded = data.copy()
    for c in cats:
        coded[c] = coded[c].astype("category").cat.codes
    train_coded = os.path.join(args.work, "train_coded.csv")
    coded.iloc[n_test:].to_csv(train_coded, index=False)

    def row_body(frame, name):
        one = frame.iloc[:1].drop(columns=row.target)
        body = json.dumps({"dataframe_split": json.loads(one.to_json(orient="split", index=False))})
        path = os.path.join(args.work, name)
        with open(path, "w") as f:
            f.write(body)
        return body, path

    body, body_file = row_body(data, "row.json")
    ml_body, ml_body_file = row_body(coded, "row_coded.json")

    model = os.path.join(args.work, "gbdt300.whet")
    t0 = time.time()
    subprocess.run([args.whet, "fit", train, "--target", row.target, "-p", "num_iterations=300",
                    "--quiet", "--out", model], check=True, stdout=subprocess.DEVNULL)
    print(f"whet fit: {time.time() - t0:.1f} s")
    lgb_dir = os.path.join(args.work, "lgb_model")
    t0 = time.time()
    p = subprocess.run([args.mlflow_python, "-c", LGB_SCRIPT, train_coded, row.target, lgb_dir,
                        ",".join(cats)], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"lightgbm fit failed:\n{p.stderr}")
    print(f"lightgbm fit + mlflow save: {time.time() - t0:.1f} s")

    results = {}
    env = dict(os.environ, WHET_LOG="warn")
    env.pop("WHET_STORE", None)

    # whet serve
    port = free_port()
    whet = subprocess.Popen([args.whet, "serve", model, "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(args.work, "whet.err"), "w"),
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/invocations"
    t0 = time.time()
    answer = wait_ready(url, body.encode(), whet)
    results["whet"] = {"startup_s": time.time() - t0, "answer": answer}
    results["whet"]["latency"] = wrk(url, body_file, 1, 1, args.duration)
    results["whet"]["throughput"] = wrk(url, body_file, 64, 2, args.duration)
    results["whet"]["sustained"] = wrk(url, body_file, 64, 2, args.sustained)
    results["whet"]["rss_mb"] = tree_rss_mb(whet.pid)
    explain_url = f"http://127.0.0.1:{port}/predict?explain=true"
    results["whet"]["explain"] = wrk(explain_url, body_file, 1, 1, args.duration)
    stop(whet)

    # whet serve --drift-window 10000: the cost of keeping the window and checking it.
    port = free_port()
    whet = subprocess.Popen([args.whet, "serve", model, "--port", str(port), "--drift-window", "10000"],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(args.work, "whet-drift.err"), "w"),
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/invocations"
    wait_ready(url, body.encode(), whet)
    results["whet"]["drift_window"] = wrk(url, body_file, 64, 2, args.duration)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/drift", timeout=30) as r:
        d = json.loads(r.read())
    results["whet"]["drift_checks"] = d["checks"]
    results["whet"]["drift_rss_mb"] = tree_rss_mb(whet.pid)
    stop(whet)

    # mlflow models serve
    port = free_port()
    mlflow_bin = os.path.join(os.path.dirname(args.mlflow_python), "mlflow")
    ml = subprocess.Popen([mlflow_bin, "models", "serve", "-m", lgb_dir, "--env-manager", "local",
                           "-h", "127.0.0.1", "-p", str(port), "-w", str(args.mlflow_workers)],
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(args.work, "mlflow.err"), "w"),
                          start_new_session=True,
                          # It starts uvicorn by name: the virtualenv's bin must be on PATH.
                          env=dict(os.environ, PATH=os.path.dirname(mlflow_bin) + os.pathsep + os.environ["PATH"]))
    url = f"http://127.0.0.1:{port}/invocations"
    t0 = time.time()
    answer = wait_ready(url, ml_body.encode(), ml)
    results["mlflow"] = {"startup_s": time.time() - t0, "answer": answer}
    results["mlflow"]["latency"] = wrk(url, ml_body_file, 1, 1, args.duration)
    results["mlflow"]["throughput"] = wrk(url, ml_body_file, 64, 2, args.duration)
    results["mlflow"]["rss_mb"] = tree_rss_mb(ml.pid)
    stop(ml)

    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    w, m = results["whet"], results["mlflow"]
    print(f"answers: whet {w['answer']}, mlflow {m['answer']}")
    print()
    print("| measure | whet serve | mlflow models serve | ratio |")
    print("|---|---|---|---|")

    def fmt(v, d=2):
        return "–" if v is None else f"{v:.{d}f}"

    for label, key in [("p50 ms, 1 connection", "p50_ms"), ("p99 ms, 1 connection", "p99_ms")]:
        a, b = w["latency"][key], m["latency"][key]
        print(f"| {label} | {fmt(a, 3)} | {fmt(b, 3)} | {fmt(b / a if a and b else None, 1)}× |")
    a, b = w["throughput"]["rps"], m["throughput"]["rps"]
    print(f"| requests/s, 64 connections | {fmt(a, 0)} | {fmt(b, 0)} | {fmt(a / b if a and b else None, 1)}× |")
    print(f"| p99 ms, 64 connections | {fmt(w['throughput']['p99_ms'])} | {fmt(m['throughput']['p99_ms'])} | |")
    print(f"| errors (non-2xx + socket), {args.duration} s at 64 | "
          f"{w['throughput']['non2xx'] + w['throughput']['socket_errors']} | "
          f"{m['throughput']['non2xx'] + m['throughput']['socket_errors']} | |")
    print(f"| RSS MB after load | {fmt(w['rss_mb'], 1)} | {fmt(m['rss_mb'], 1)} | "
          f"{fmt(m['rss_mb'] / w['rss_mb'], 1)}× |")
    print(f"| start-up to first answer s | {fmt(w['startup_s'])} | {fmt(m['startup_s'])} | |")
    e = w["explain"]
    print(f"| whet `/predict?explain=true`, p50 / p99 ms, 1 connection | {fmt(e['p50_ms'], 3)} / "
          f"{fmt(e['p99_ms'], 3)} ({e['non2xx']} non-2xx) | | |")
    d = w["drift_window"]
    print(f"| whet `--drift-window 10000`, requests/s at 64 (checks made; RSS MB) | {fmt(d['rps'], 0)} "
          f"({w['drift_checks']}; {fmt(w['drift_rss_mb'], 1)}) | | |")
    s = w["sustained"]
    print(f"\nwhet sustained {args.sustained} s at 64 connections: {s['requests']} requests, "
          f"{fmt(s['rps'], 0)}/s, p99 {fmt(s['p99_ms'])} ms, non-2xx {s['non2xx']}, "
          f"socket errors {s['socket_errors']}")


if __name__ == "__main__":
    main()
