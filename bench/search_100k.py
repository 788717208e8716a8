"""runs/search over 100,000 runs, as the web UI asks for them, against one or more whet binaries.

The store: one experiment whose runs carry bench/ui_100k.py's values (20 metrics, 20 params).
Run 0 is logged over REST by the first binary's server; the other runs are copies of its rows
written straight into the SQLite file (seconds instead of minutes over REST). Each binary then
serves the same file in turn, and each query is timed as a client sees it (median of --repeat).

  python3 bench/search_100k.py --whet target/release/whet [--whet OTHER] [--runs 100000]
"""
import argparse, http.client, json, os, shutil, socket, sqlite3, subprocess, sys, time, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ui_100k import T0, log_run, run_name, run_values, Conn  # noqa: E402

QUERIES = [
    ("newest first (the runs page)", {}),
    ("sort by metric m0, descending", {"order_by": ["metrics.m0 DESC"]}),
    ("sort by metric m0, ascending", {"order_by": ["metrics.m0 ASC"]}),
    ("sort by param p1 (4 distinct values)", {"order_by": ["params.p1 ASC"]}),
    ("filter metrics.m0 > 0.99 and params.p0 = 'a'", {"filter": "metrics.m0 > 0.99 and params.p0 = 'a'"}),
    ("the same filter, sorted by m0", {"filter": "metrics.m0 > 0.99 and params.p0 = 'a'", "order_by": ["metrics.m0 DESC"]}),
    ("filter params.p0 = 'a'", {"filter": "params.p0 = 'a'"}),
    ("filter run_name LIKE '%999%'", {"filter": "attributes.run_name LIKE '%999%'"}),
    ("sort by m0, 1,000 runs", {"order_by": ["metrics.m0 DESC"], "max_results": 1000}),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(binary, db, port):
    p = subprocess.Popen([binary, "server", "--store", db, "--port", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise SystemExit(f"{binary} server did not start")


def clone(db, exp_name, n):
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    (exp_id,) = con.execute("SELECT experiment_id FROM experiments WHERE name=?", (exp_name,)).fetchone()
    tmpl = dict(con.execute("SELECT * FROM runs WHERE experiment_id=? ORDER BY run_key LIMIT 1", (exp_id,)).fetchone())
    tags = [dict(r) for r in con.execute("SELECT * FROM tags WHERE run_key=?", (tmpl["run_key"],))]
    (top,) = con.execute("SELECT max(run_key) FROM runs").fetchone()
    runs, params, metrics, tag_rows = [], [], [], []
    for i in range(1, n):
        key, rid = top + i, uuid.uuid4().hex
        m, p = run_values(i)
        runs.append(dict(tmpl, run_key=key, run_uuid=rid, name=run_name(i), start_time=T0 + i * 1000,
                         end_time=T0 + i * 1000 + 500, artifact_uri=tmpl["artifact_uri"].replace(tmpl["run_uuid"], rid)))
        params += [(key, k, v) for k, v in p.items()]
        metrics += [(key, k, 0, T0 + i * 1000, v, 0) for k, v in m.items()]
        tag_rows += [(key, t["key"], run_name(i) if t["key"] == "mlflow.runName" else t["value"]) for t in tags]
    cols = list(tmpl)
    with con:
        con.executemany(f"INSERT INTO runs ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                        [[r[c] for c in cols] for r in runs])
        con.executemany("INSERT INTO params (run_key,key,value) VALUES (?,?,?)", params)
        for table in ("metrics", "latest_metrics"):
            con.executemany(f"INSERT INTO {table} (run_key,key,step,timestamp,value,is_nan) VALUES (?,?,?,?,?,?)", metrics)
        con.executemany("INSERT INTO tags (run_key,key,value) VALUES (?,?,?)", tag_rows)
    con.close()
    return exp_id


def timed(port, body, repeat):
    times, last = [], None
    for _ in range(repeat):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        t = time.perf_counter()
        c.request("POST", "/api/2.0/mlflow/runs/search", body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        times.append((time.perf_counter() - t) * 1000)
        assert r.status == 200, data[:300]
        last = json.loads(data)
    runs = last.get("runs") or []
    return sorted(times)[len(times) // 2], len(runs), runs[0]["info"]["run_name"] if runs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--whet", action="append", required=True, help="a whet binary (repeat to compare)")
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--work", default="bench/data/search_100k")
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    db = os.path.join(a.work, "whet.db")
    port = free_port()
    p = serve(a.whet[0], db, port)
    conn = Conn(port)
    exp = conn.post("/experiments/create", {"name": "big"})["experiment_id"]
    log_run(conn, exp, 0)
    p.terminate()
    p.wait()
    t = time.time()
    exp = clone(db, "big", a.runs)
    print(f"store: {a.runs:,} runs in {time.time() - t:.0f} s; load {os.getloadavg()}")
    results = {}
    for b in a.whet:
        port = free_port()
        p = serve(b, db, port)
        for name, extra in QUERIES:
            body = dict({"experiment_ids": [str(exp)], "max_results": 100}, **extra)
            results.setdefault(name, []).append(timed(port, body, a.repeat))
        p.terminate()
        p.wait()
    head = " | ".join(f"{b}, ms" for b in a.whet)
    print(f"| query | {head} | rows, first run |")
    print("|---|" + "---|" * len(a.whet) + "---|")
    for name, rs in results.items():
        firsts = {(n, f) for _, n, f in rs}
        assert len(firsts) == 1, f"{name}: binaries disagree: {rs}"
        n, f = rs[0][1], rs[0][2]
        print(f"| {name} | " + " | ".join(f"{ms:.1f}" for ms, _, _ in rs) + f" | {n}, {f} |")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
