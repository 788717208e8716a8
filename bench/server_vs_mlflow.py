"""Driver of bench/server_vs_mlflow.sh: `whet server` against `mlflow server` over raw REST.

Both servers run on loopback with a SQLite store and proxied artifacts (MLflow: the default
uvicorn with 4 workers; whet: its default runtime). The client is this script, the same for
both: stdlib http.client with keep-alive, request bodies serialised before the clock starts.
Sections (the load average is recorded before each):

  startup   spawn -> first 200 on GET /health (polled every 2 ms), then idle RSS after a 3 s
            settle; --startups rounds on fresh stores, whet and MLflow alternating; then the
            same on the populated stores at the end (restart).
  ingest    --clients processes, each with its own connection and its own run, POST
            runs/log-batch --batches times with --batch-size metric points; points/s =
            all points / (last finish - first start). --rounds rounds, whet and MLflow
            alternating; medians reported. Server CPU seconds per round from /proc.
  search    --search-runs runs in one experiment, created over REST by --clients processes
            (runs/create + one log-batch per run: metrics m, m2; params p, q; a tag), then
            --queries runs/search requests (filter/order below, max_results 100), whet and
            MLflow alternating request by request after --warmup untimed ones. Both answers
            must name the same runs in the same order.
  artifact  --artifact-mb of random bytes, PUT then GET, --artifact-reps times alternating,
            the server's RSS (MLflow: the whole process tree) sampled every 50 ms; compared
            with dd of the same file on the same disk (page cache, and with conv=fsync).

RSS for MLflow is the sum over the process tree (VmRSS, which counts shared pages once per
process, and Pss, which splits them). whet's request log (stderr, `ms=`) gives its own time per
request, compared with what the client saw.
"""
import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

FILTER = "metrics.m > 0.5 and params.p = 'x'"
ORDER = ["metrics.m DESC"]
API = "/api/2.0/mlflow"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


def unit(i):
    # Same generator as bench/track_vs_mlflow.py.
    m = (1 << 64) - 1
    x = (i * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & m
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & m
    x ^= x >> 29
    return (x >> 11) / float(1 << 53)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round((len(xs) - 1) * p))] if xs else float("nan")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---------------------------------------------------------------- /proc

def proc_tree(root):
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def status_kb(pid, field):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pids):
    total = 0
    for p in pids:
        try:
            stat = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        f = stat[stat.rindex(")") + 2:].split()
        total += int(f[11]) + int(f[12])  # utime, stime
    return total / CLK_TCK


# ---------------------------------------------------------------- HTTP

class Conn:
    """One keep-alive connection; reconnects once if the server closed it."""

    def __init__(self, port, timeout=600, blocksize=1 << 16):
        self.port, self.timeout, self.blocksize = port, timeout, blocksize
        self.c = None

    def _conn(self):
        if self.c is None:
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout,
                                                blocksize=self.blocksize)
        return self.c

    def call(self, method, path, body=None, headers=None):
        h = {"Content-Type": "application/json"} if isinstance(body, (bytes, str)) else {}
        h.update(headers or {})
        for attempt in (0, 1):
            c = self._conn()
            try:
                c.request(method, path, body=body, headers=h)
                r = c.getresponse()
                return r.status, r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise

    def json(self, path, obj=None, method="POST"):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        status, data = self.call(method, path, body if method != "GET" else None)
        if status != 200:
            raise RuntimeError(f"{method} {path} -> {status}: {data[:300]!r}")
        return json.loads(data) if data else {}

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


def post_retry(conn, path, body, tries=8):
    """POST expecting 200; retries 429/5xx like the mlflow client. Returns the retries made."""
    for t in range(tries):
        status, data = conn.call("POST", path, body)
        if status == 200:
            return t
        if status not in (429, 500, 502, 503, 504) or t == tries - 1:
            raise RuntimeError(f"POST {path} -> {status}: {data[:300]!r}")
        time.sleep(0.05 * 2 ** t)


# ---------------------------------------------------------------- servers

class Server:
    def __init__(self, kind, a, directory, env=None, log_name="server"):
        self.kind, self.a, self.dir, self.env = kind, a, directory, env
        os.makedirs(directory, exist_ok=True)
        self.proc = None
        self.port = None
        self.stderr_path = os.path.join(directory, log_name + ".err")
        self.stdout_path = os.path.join(directory, log_name + ".out")

    def command(self):
        if self.kind == "whet":
            return [self.a.whet, "server", "--host", "127.0.0.1", "--port", str(self.port),
                    "--store", os.path.join(self.dir, "whet.db"),
                    "--artifacts-destination", os.path.join(self.dir, "artifacts")]
        return [self.a.mlflow_python, "-m", "mlflow", "server",
                "--backend-store-uri", "sqlite:///" + os.path.join(self.dir, "mlflow.db"),
                "--artifacts-destination", os.path.join(self.dir, "mlartifacts"),
                "--host", "127.0.0.1", "--port", str(self.port)]

    def start(self, limit=180.0):
        """Spawns the server; returns seconds from spawn to the first 200 on /health."""
        self.port = free_port()
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        env = dict(os.environ, **self.env) if self.env else None
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env=env)
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/health")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return time.perf_counter() - t0
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with {self.proc.returncode}; see {self.stderr_path}")
            if time.perf_counter() - t0 > limit:
                raise RuntimeError(f"{self.kind} server not up after {limit} s")
            time.sleep(0.002)

    def pids(self):
        return proc_tree(self.proc.pid)

    def rss_kb(self):
        return sum(status_kb(p, "VmRSS") for p in self.pids())

    def pss_kb(self):
        return sum(pss_kb(p) for p in self.pids())

    def cpu(self):
        return cpu_seconds(self.pids())

    def memory(self):
        pids = self.pids()
        return {"rss_mb": sum(status_kb(p, "VmRSS") for p in pids) / 1024,
                "pss_mb": sum(pss_kb(p) for p in pids) / 1024, "processes": len(pids)}

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        # The server was started in its own session: its process group id is its pid.
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        # uvicorn workers may linger a moment after their parent.
        time.sleep(0.2)

    def log_offset(self):
        return os.path.getsize(self.stderr_path) if os.path.exists(self.stderr_path) else 0

    def request_ms(self, path_suffix, since):
        """whet's own per-request ms for paths ending in path_suffix, from log byte offset since."""
        with open(self.stderr_path, "rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
        ms = []
        for line in text.splitlines():
            m = re.search(r"path=(\S+) status=(\d+) ms=([0-9.]+)", line)
            if m and m.group(1).endswith(path_suffix):
                ms.append(float(m.group(3)))
        return ms


def wait_settled(server, seconds):
    time.sleep(seconds)
    return server.memory()


# ---------------------------------------------------------------- section: start-up

def startup_round(a, kind, directory, settle=None):
    s = Server(kind, a, directory)
    try:
        t = s.start()
        mem = wait_settled(s, a.settle if settle is None else settle)
    finally:
        s.stop()
    return t, mem


def section_startup(a, label, dirs_for):
    out = {"whet": [], "mlflow": []}
    load = loadavg()
    if label == "fresh":
        # One untimed whet start first: the first exec of the fresh binary copy reads 180 MB
        # from disk (once 470 ms), which is not the server's start-up. MLflow gets none: its
        # start takes tens of seconds here, and the median of 5 absorbs one cold start.
        t, _ = startup_round(a, "whet", dirs_for("whet", "warmup"), settle=0)
        log(f"startup warm-up whet: {t * 1000:.1f} ms (not counted)")
    for i in range(a.startups):
        order = ("whet", "mlflow") if i % 2 == 0 else ("mlflow", "whet")
        for kind in order:
            t, mem = startup_round(a, kind, dirs_for(kind, i))
            out[kind].append({"seconds": t, **mem})
            log(f"startup {label} {kind} #{i + 1}: {t * 1000:.1f} ms, idle RSS {mem['rss_mb']:.1f} MB "
                f"(PSS {mem['pss_mb']:.1f}, {mem['processes']} processes)")
    res = {"load_before": load}
    for kind, xs in out.items():
        res[kind] = {"samples_ms": [x["seconds"] * 1000 for x in xs],
                     "median_ms": med([x["seconds"] * 1000 for x in xs]),
                     "idle_rss_mb_median": med([x["rss_mb"] for x in xs]),
                     "idle_pss_mb_median": med([x["pss_mb"] for x in xs]),
                     "processes": xs[-1]["processes"]}
    return res


# ---------------------------------------------------------------- section: ingest

def batch_bodies(run_id, batches, size, seed):
    keys = [f"m{k}" for k in range(10)]
    per_key = max(1, size // len(keys))
    bodies = []
    for b in range(batches):
        metrics = []
        for s in range(per_key):
            step = b * per_key + s
            for k in keys:
                if len(metrics) == size:
                    break
                metrics.append({"key": k, "value": unit(seed + len(metrics) + b * size),
                                "timestamp": 1_700_000_000_000 + step, "step": step})
        bodies.append(json.dumps({"run_id": run_id, "metrics": metrics}).encode())
    return bodies


def ingest_worker(port, run_id, batches, size, seed, barrier, results):
    bodies = batch_bodies(run_id, batches, size, seed)
    conn = Conn(port)
    conn.call("GET", "/health")  # open the connection before the clock starts
    lat, retries = [], 0
    barrier.wait()
    t0 = time.perf_counter()
    c0 = os.times()
    for body in bodies:
        t = time.perf_counter()
        retries += post_retry(conn, API + "/runs/log-batch", body)
        lat.append((time.perf_counter() - t) * 1000)
    t1 = time.perf_counter()
    c1 = os.times()
    conn.close()
    results.put({"start": t0, "end": t1, "lat_ms": lat, "retries": retries,
                 "client_cpu": (c1.user - c0.user) + (c1.system - c0.system)})


def ingest_round(a, server, exp_id, rnd):
    conn = Conn(server.port)
    runs = [conn.json(API + "/runs/create", {"experiment_id": exp_id, "run_name": f"r{rnd}-c{c}",
                                              "start_time": int(time.time() * 1000)})["run"]["info"]["run_id"]
            for c in range(a.clients)]
    conn.close()
    barrier = mp.Barrier(a.clients + 1)
    results = mp.Queue()
    procs = [mp.Process(target=ingest_worker,
                        args=(server.port, runs[c], a.batches, a.batch_size, (rnd * 100 + c) * 10_000_000,
                              barrier, results))
             for c in range(a.clients)]
    for p in procs:
        p.start()
    log_at = server.log_offset()
    cpu0 = server.cpu()
    barrier.wait()
    got = [results.get() for _ in procs]
    cpu1 = server.cpu()
    for p in procs:
        p.join()
    wall = max(g["end"] for g in got) - min(g["start"] for g in got)
    points = a.clients * a.batches * a.batch_size
    lat = [x for g in got for x in g["lat_ms"]]
    r = {"points": points, "seconds": wall, "points_per_s": points / wall,
         "lat_p50_ms": pct(lat, 0.5), "lat_p95_ms": pct(lat, 0.95),
         "retries": sum(g["retries"] for g in got),
         "server_cpu_s": cpu1 - cpu0, "client_cpu_s": sum(g["client_cpu"] for g in got)}
    if server.kind == "whet":
        ms = server.request_ms("/runs/log-batch", log_at)
        r["server_ms_p50"], r["server_ms_p95"], r["server_ms_n"] = pct(ms, 0.5), pct(ms, 0.95), len(ms)
    return r


def section_ingest(a, servers):
    load = loadavg()
    exps = {k: Conn(s.port).json(API + "/experiments/create", {"name": "ingest"})["experiment_id"]
            for k, s in servers.items()}
    rounds = {"whet": [], "mlflow": []}
    for rnd in range(a.rounds):
        order = ("whet", "mlflow") if rnd % 2 == 0 else ("mlflow", "whet")
        for kind in order:
            load_before = loadavg()
            r = ingest_round(a, servers[kind], exps[kind], rnd)
            r["load_before"] = load_before
            rounds[kind].append(r)
            extra = f", server-side p50 {r['server_ms_p50']:.2f} ms" if "server_ms_p50" in r else ""
            log(f"ingest round {rnd + 1} {kind}: {r['points_per_s']:,.0f} points/s ({r['seconds']:.2f} s), "
                f"request p50 {r['lat_p50_ms']:.1f} ms p95 {r['lat_p95_ms']:.1f} ms{extra}, "
                f"server CPU {r['server_cpu_s']:.2f} s, retries {r['retries']}")
    res = {"load_before": load, "clients": a.clients, "batches": a.batches, "batch_size": a.batch_size}
    for kind, rs in rounds.items():
        res[kind] = {"rounds": rs, "points_per_s_median": med([r["points_per_s"] for r in rs]),
                     "lat_p50_ms_median": med([r["lat_p50_ms"] for r in rs]),
                     "lat_p95_ms_median": med([r["lat_p95_ms"] for r in rs]),
                     "server_cpu_us_per_point": med([r["server_cpu_s"] / r["points"] * 1e6 for r in rs])}
        if kind == "whet":
            res[kind]["server_ms_p50_median"] = med([r["server_ms_p50"] for r in rs])
            res[kind]["server_ms_p95_median"] = med([r["server_ms_p95"] for r in rs])
    return res


# ---------------------------------------------------------------- section: search

P_VALUES = ["x", "y", "z", "w"]


def populate_worker(port, exp_id, indices, results):
    conn = Conn(port)
    retries = 0
    t0 = time.perf_counter()
    for i in indices:
        body = json.dumps({"experiment_id": exp_id, "run_name": f"s{i}", "start_time": 1_700_000_000_000 + i})
        for t in range(8):
            status, data = conn.call("POST", API + "/runs/create", body.encode())
            if status == 200:
                break
            retries += 1
            time.sleep(0.05 * 2 ** t)
        else:
            raise RuntimeError(f"runs/create -> {status}: {data[:200]!r}")
        rid = json.loads(data)["run"]["info"]["run_id"]
        batch = {"run_id": rid,
                 "metrics": [{"key": "m", "value": unit(i), "timestamp": 1_700_000_000_000, "step": 0},
                             {"key": "m2", "value": unit(i + 1_000_000), "timestamp": 1_700_000_000_000, "step": 0}],
                 "params": [{"key": "p", "value": P_VALUES[i % 4]}, {"key": "q", "value": str(i % 10)}],
                 "tags": [{"key": "team", "value": "a"}]}
        retries += post_retry(conn, API + "/runs/log-batch", json.dumps(batch).encode())
    results.put({"seconds": time.perf_counter() - t0, "retries": retries})


def populate(a, server, rest_runs):
    """Runs 0..rest_runs-1 over REST by --clients processes; returns the experiment and timings."""
    conn = Conn(server.port)
    exp_id = conn.json(API + "/experiments/create", {"name": "search"})["experiment_id"]
    conn.close()
    results = mp.Queue()
    t0 = time.perf_counter()
    cpu0 = server.cpu()
    procs = [mp.Process(target=populate_worker,
                        args=(server.port, exp_id, range(c, rest_runs, a.clients), results))
             for c in range(a.clients)]
    for p in procs:
        p.start()
    got = [results.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    return exp_id, {"rest_runs": rest_runs, "seconds": wall, "runs_per_s": rest_runs / wall,
                    "server_cpu_s": server.cpu() - cpu0, "retries": sum(g["retries"] for g in got)}


def clone_mlflow_runs(db_path, exp_id, start, end):
    """Runs start..end-1 written straight into MLflow's SQLite file, copied from the rows MLflow
    itself wrote for run s0 (over REST) with this run's values: the same rows and indexes a REST
    client would have produced, minutes faster (MLflow creates ~20 runs/s here)."""
    import sqlite3
    import uuid
    con = sqlite3.connect(db_path, timeout=120)
    con.row_factory = sqlite3.Row
    (tid,) = con.execute("SELECT run_uuid FROM runs WHERE experiment_id = ? AND name = 's0'",
                         (int(exp_id),)).fetchone()

    def rows(table):
        return [dict(r) for r in con.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (tid,))]

    template = rows("runs")[0]
    per_table = {t: rows(t) for t in ("metrics", "latest_metrics", "params", "tags")}
    inserts = {}
    t0 = time.perf_counter()
    with con:
        for i in range(start, end):
            rid = uuid.uuid4().hex
            values = {"m": unit(i), "m2": unit(i + 1_000_000)}
            params = {"p": P_VALUES[i % 4], "q": str(i % 10)}
            out = [("runs", dict(template, run_uuid=rid, name=f"s{i}", start_time=1_700_000_000_000 + i,
                                 artifact_uri=template["artifact_uri"].replace(tid, rid)))]
            for table, trows in per_table.items():
                for t in trows:
                    t = dict(t, run_uuid=rid)
                    if table in ("metrics", "latest_metrics"):
                        t["value"] = values[t["key"]]
                    elif table == "params":
                        t["value"] = params[t["key"]]
                    elif t["key"] == "mlflow.runName":
                        t["value"] = f"s{i}"
                    out.append((table, t))
            for table, row in out:
                cols = tuple(row)
                sql = inserts.get((table, cols))
                if sql is None:
                    sql = inserts[(table, cols)] = (f"INSERT INTO {table} ({', '.join(cols)}) "
                                                    f"VALUES ({', '.join('?' * len(cols))})")
                con.execute(sql, [row[c] for c in cols])
    con.close()
    return time.perf_counter() - t0


def section_search(a, servers):
    res = {"load_before": loadavg(), "runs": a.search_runs, "filter": FILTER, "order_by": ORDER,
           "max_results": 100, "queries": a.queries}
    exps = {}
    for kind in ("whet", "mlflow"):
        rest = a.search_runs if kind == "whet" else min(a.search_runs, a.mlflow_rest_runs)
        exps[kind], pop = populate(a, servers[kind], rest)
        log(f"populated {rest} runs over REST on {kind} in {pop['seconds']:.1f} s "
            f"({pop['runs_per_s']:.0f} runs/s, 2 requests per run, retries {pop['retries']})")
        if rest < a.search_runs:
            pop["cloned_runs"] = a.search_runs - rest
            pop["clone_seconds"] = clone_mlflow_runs(os.path.join(servers[kind].dir, "mlflow.db"), exps[kind],
                                                     rest, a.search_runs)
            log(f"cloned {pop['cloned_runs']} more runs into MLflow's SQLite file in {pop['clone_seconds']:.1f} s")
        res.setdefault(kind, {})["populate"] = pop
    res["load_before_queries"] = loadavg()
    conns = {k: Conn(s.port) for k, s in servers.items()}
    bodies = {k: json.dumps({"experiment_ids": [exps[k]], "filter": FILTER, "run_view_type": "ACTIVE_ONLY",
                             "max_results": 100, "order_by": ORDER}).encode() for k in servers}

    def query(kind):
        t = time.perf_counter()
        status, data = conns[kind].call("POST", API + "/runs/search", bodies[kind])
        dt = (time.perf_counter() - t) * 1000
        if status != 200:
            raise RuntimeError(f"{kind} runs/search -> {status}: {data[:300]!r}")
        return dt, data

    answers = {}
    for _ in range(a.warmup):
        for kind in servers:
            answers[kind] = json.loads(query(kind)[1])
    names = {k: [r["info"]["run_name"] for r in v.get("runs", [])] for k, v in answers.items()}
    res["hits_per_page"] = len(names["whet"])
    res["same_answer"] = names["whet"] == names["mlflow"]
    if not res["same_answer"]:
        log("WARNING: whet and MLflow return different runs", names["whet"][:5], names["mlflow"][:5])
    lat = {"whet": [], "mlflow": []}
    log_at = servers["whet"].log_offset()
    cpu0 = {k: s.cpu() for k, s in servers.items()}
    t_mlflow = 0.0
    for q in range(a.queries):
        order = ("whet", "mlflow") if q % 2 == 0 else ("mlflow", "whet")
        for kind in order:
            if kind == "mlflow" and t_mlflow > a.mlflow_search_budget and len(lat["mlflow"]) >= 20:
                continue
            dt, _ = query(kind)
            lat[kind].append(dt)
            if kind == "mlflow":
                t_mlflow += dt / 1000
    cpu1 = {k: s.cpu() for k, s in servers.items()}
    for kind in servers:
        xs = lat[kind]
        res[kind].update({"n": len(xs), "p50_ms": pct(xs, 0.5), "p95_ms": pct(xs, 0.95), "min_ms": min(xs),
                          "max_ms": max(xs), "server_cpu_ms_per_query": (cpu1[kind] - cpu0[kind]) / len(xs) * 1000})
        log(f"search {kind}: {len(xs)} queries, p50 {res[kind]['p50_ms']:.2f} ms, p95 {res[kind]['p95_ms']:.2f} ms")
    ms = servers["whet"].request_ms("/runs/search", log_at)
    res["whet"].update({"server_ms_p50": pct(ms, 0.5), "server_ms_p95": pct(ms, 0.95), "server_ms_n": len(ms)})
    # whet alone, back to back: the same query without MLflow's seconds of CPU in between.
    log_at = servers["whet"].log_offset()
    cpu0 = servers["whet"].cpu()
    xs = [query("whet")[0] for _ in range(a.queries)]
    ms = servers["whet"].request_ms("/runs/search", log_at)
    res["whet"]["alone"] = {"n": len(xs), "p50_ms": pct(xs, 0.5), "p95_ms": pct(xs, 0.95),
                            "server_ms_p50": pct(ms, 0.5), "server_ms_p95": pct(ms, 0.95),
                            "server_cpu_ms_per_query": (servers["whet"].cpu() - cpu0) / len(xs) * 1000,
                            "load_before": loadavg()}
    log(f"search whet alone: p50 {pct(xs, 0.5):.2f} ms, p95 {pct(xs, 0.95):.2f} ms "
        f"(server-side p50 {pct(ms, 0.5):.2f}, p95 {pct(ms, 0.95):.2f})")
    res["whet"]["breakdown"] = search_breakdown(a, servers["whet"], bodies["whet"])
    for c in conns.values():
        c.close()
    return res


def search_breakdown(a, main_whet, body):
    """Where whet's search time goes: a second whet server on the same store (WAL lets both
    read it) with sqlx's statement log on (WHET_LOG, no code change); per request, the time
    of each SQL statement (sqlx's `elapsed`: execution plus fetching the rows through sqlx)
    against the whole request (`ms=`). The statement log itself adds a little."""
    s = Server("whet", a, main_whet.dir, env={"WHET_LOG": "info,sqlx=debug"}, log_name="breakdown")
    s.start()
    conn = Conn(s.port)
    for _ in range(a.warmup):
        conn.call("POST", API + "/runs/search", body)
    at = s.log_offset()
    for _ in range(a.queries):
        conn.call("POST", API + "/runs/search", body)
    conn.close()
    s.stop()
    with open(s.stderr_path, "rb") as f:
        f.seek(at)
        text = f.read().decode("utf-8", "replace")
    requests, statements = [], []
    for line in text.splitlines():
        m = re.search(r'summary="(\S+ \S+ \S+)[^"]*".*elapsed_secs=([0-9.e+-]+)', line)
        if m:
            statements.append((m.group(1), float(m.group(2)) * 1000))
            continue
        m = re.search(r"path=(\S+) status=\d+ ms=([0-9.]+)", line)
        if m and m.group(1).endswith("/runs/search"):
            requests.append((float(m.group(2)), statements))
            statements = []
    per = {}
    for _, st in requests:
        for name, ms in st:
            per.setdefault(name, []).append(ms)
    total = [r[0] for r in requests]
    sql = [sum(ms for _, ms in r[1]) for r in requests]
    out = {"requests": len(requests), "request_ms_p50": pct(total, 0.5), "sql_ms_p50": pct(sql, 0.5),
           "outside_sql_ms_p50": pct([t - q for t, q in zip(total, sql)], 0.5),
           "statements": {k: {"n": len(v), "p50_ms": pct(v, 0.5), "p95_ms": pct(v, 0.95)} for k, v in per.items()}}
    log(f"search breakdown (whet, statement log on): request p50 {out['request_ms_p50']:.2f} ms = SQL "
        f"{out['sql_ms_p50']:.2f} + outside SQL {out['outside_sql_ms_p50']:.2f}; "
        + "; ".join(f"{k!r} p50 {v['p50_ms']:.2f}" for k, v in out["statements"].items()))
    return out


# ---------------------------------------------------------------- section: artifact

class Sampler(threading.Thread):
    def __init__(self, server, period=0.05):
        super().__init__(daemon=True)
        self.server, self.period, self.peak, self.n = server, period, 0, 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, self.server.rss_kb())
            self.n += 1
            time.sleep(self.period)

    def stop(self):
        self.done.set()
        self.join()
        self.peak = max(self.peak, self.server.rss_kb())
        return self.peak / 1024


def dd_baseline(src, directory):
    out = {}
    dst = os.path.join(directory, "dd.bin")
    size = os.path.getsize(src)
    for label, extra in (("dd_page_cache", []), ("dd_fsync", ["conv=fsync"])):
        times = []
        for _ in range(3):
            if os.path.exists(dst):
                os.remove(dst)
            t = time.perf_counter()
            subprocess.run(["dd", f"if={src}", f"of={dst}", "bs=1M", *extra], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
        out[label + "_mb_s"] = size / 1e6 / med(times)
    t = time.perf_counter()
    with open(dst, "rb") as f:
        while f.read(1 << 20):
            pass
    out["read_cached_mb_s"] = size / 1e6 / (time.perf_counter() - t)
    os.remove(dst)
    return out


def artifact_path(kind, server, exp, run):
    return f"{exp}/{run}/artifacts/big.bin"


def section_artifact(a, servers, work):
    res = {"load_before": loadavg(), "mb": a.artifact_mb}
    src = os.path.join(work, "big.bin")
    size = a.artifact_mb * 1_000_000
    with open(src, "wb") as f:
        for _ in range(a.artifact_mb):
            f.write(os.urandom(1_000_000))
    res["disk"] = dd_baseline(src, work)
    log("disk: " + ", ".join(f"{k} {v:,.0f}" for k, v in res["disk"].items()))
    ids = {}
    for kind, s in servers.items():
        c = Conn(s.port)
        e = c.json(API + "/experiments/create", {"name": "artifacts"})["experiment_id"]
        r = c.json(API + "/runs/create", {"experiment_id": e, "start_time": int(time.time() * 1000)})["run"]["info"]["run_id"]
        ids[kind] = (e, r)
        c.close()
    reps = {"whet": [], "mlflow": []}
    for i in range(a.artifact_reps):
        order = ("whet", "mlflow") if i % 2 == 0 else ("mlflow", "whet")
        for kind in order:
            s = servers[kind]
            e, r = ids[kind]
            # A new file each time (an overwrite also frees the old file's blocks in rename).
            name = "big.bin" if i == 0 else f"big-{i + 1}.bin"
            url = f"/api/2.0/mlflow-artifacts/artifacts/{e}/{r}/artifacts/{name}"
            rec = {"rss_before_mb": s.rss_kb() / 1024}
            log_at = s.log_offset()
            conn = Conn(s.port, blocksize=1 << 20)
            sampler = Sampler(s)
            sampler.start()
            t = time.perf_counter()
            with open(src, "rb") as f:
                status, data = conn.call("PUT", url, f, {"Content-Length": str(size),
                                                         "Content-Type": "application/octet-stream"})
            up = time.perf_counter() - t
            rec["upload_peak_rss_mb"] = sampler.stop()
            if status != 200:
                raise RuntimeError(f"{kind} PUT -> {status}: {data[:300]!r}")
            sampler = Sampler(s)
            sampler.start()
            t = time.perf_counter()
            conn.c.request("GET", url)
            resp = conn.c.getresponse()
            buf = bytearray(1 << 20)
            view = memoryview(buf)
            got = 0
            while True:
                n = resp.readinto(view)
                if not n:
                    break
                got += n
            down = time.perf_counter() - t
            rec["download_peak_rss_mb"] = sampler.stop()
            conn.close()
            if resp.status != 200 or got != size:
                raise RuntimeError(f"{kind} GET -> {resp.status}, {got} bytes of {size}")
            rec.update({"upload_mb_s": size / 1e6 / up, "download_mb_s": size / 1e6 / down,
                        "upload_s": up, "download_s": down,
                        "rss_after_mb": s.rss_kb() / 1024, "samples": sampler.n})
            if kind == "whet":
                own = s.request_ms("/" + name, log_at)
                if len(own) == 2:
                    rec["server_put_ms"], rec["server_get_ms"] = own
            reps[kind].append(rec)
            log(f"artifact {kind} #{i + 1}: PUT {rec['upload_mb_s']:.0f} MB/s (peak RSS {rec['upload_peak_rss_mb']:.1f} MB), "
                f"GET {rec['download_mb_s']:.0f} MB/s (peak RSS {rec['download_peak_rss_mb']:.1f} MB), "
                f"RSS before {rec['rss_before_mb']:.1f} MB")
    # The stored copy must equal the source (checked outside the clock).
    stored = {"whet": os.path.join(servers["whet"].dir, "artifacts"),
              "mlflow": os.path.join(servers["mlflow"].dir, "mlartifacts")}
    for kind, root in stored.items():
        e, r = ids[kind]
        p = os.path.join(root, e, r, "artifacts", "big.bin")
        res.setdefault(kind, {})["stored_identical"] = (
            os.path.exists(p) and subprocess.run(["cmp", "-s", src, p]).returncode == 0)
    for kind, rs in reps.items():
        res[kind].update({
            "reps": rs,
            "upload_mb_s_median": med([r["upload_mb_s"] for r in rs]),
            "download_mb_s_median": med([r["download_mb_s"] for r in rs]),
            "peak_rss_mb_max": max(max(r["upload_peak_rss_mb"], r["download_peak_rss_mb"]) for r in rs),
            "rss_before_mb_median": med([r["rss_before_mb"] for r in rs]),
        })
        if kind == "whet":
            res[kind]["server_put_ms_median"] = med([r["server_put_ms"] for r in rs if "server_put_ms" in r])
            res[kind]["client_put_ms_median"] = med([r["upload_s"] * 1000 for r in rs])
    os.remove(src)
    return res


# ---------------------------------------------------------------- report

def table(r):
    rows = []

    def add(measure, w, m, ratio="", goal=""):
        rows.append(f"| {measure} | {w} | {m} | {ratio} | {goal} |")

    st, ing, se, ar = r.get("startup"), r.get("ingest"), r.get("search"), r.get("artifact")
    if ing:
        w, m = ing["whet"], ing["mlflow"]
        x = w["points_per_s_median"] / m["points_per_s_median"]
        add(f"log-batch ingest, {ing['clients']} clients × {ing['batches']} × {ing['batch_size']} points, points/s",
            f"{w['points_per_s_median']:,.0f}", f"{m['points_per_s_median']:,.0f}", f"{x:.1f}×",
            f"≥ 20×: {'met' if x >= 20 else 'MISSED'}")
        add("log-batch request p50 / p95 under that load, ms",
            f"{w['lat_p50_ms_median']:.1f} / {w['lat_p95_ms_median']:.1f}",
            f"{m['lat_p50_ms_median']:.0f} / {m['lat_p95_ms_median']:.0f}")
        add("log-batch p50 / p95, whet's own time (request log `ms=`), ms",
            f"{w['server_ms_p50_median']:.1f} / {w['server_ms_p95_median']:.1f}", "")
        add("server CPU per 1,000 points, ms", f"{w['server_cpu_us_per_point']:.2f}",
            f"{m['server_cpu_us_per_point']:.1f}", f"{m['server_cpu_us_per_point'] / w['server_cpu_us_per_point']:.0f}×")
    if se:
        w, m = se["whet"], se["mlflow"]
        add(f"create runs over REST (runs/create + log-batch, {r['args']['clients']} clients; "
            f"{w['populate']['rest_runs']:,} / {m['populate']['rest_runs']:,} runs), runs/s",
            f"{w['populate']['runs_per_s']:,.0f}", f"{m['populate']['runs_per_s']:,.0f}",
            f"{w['populate']['runs_per_s'] / m['populate']['runs_per_s']:.1f}×")
        add(f"search p50, ms (n = {w['n']} / {m['n']})", f"{w['p50_ms']:.2f}", f"{m['p50_ms']:.1f}",
            f"{m['p50_ms'] / w['p50_ms']:.0f}×")
        add("search p95, ms", f"{w['p95_ms']:.2f}", f"{m['p95_ms']:.1f}", f"{m['p95_ms'] / w['p95_ms']:.0f}×",
            f"< 10 ms and ≥ 10×: {'met' if w['p95_ms'] < 10 and m['p95_ms'] / w['p95_ms'] >= 10 else 'MISSED'}")
        add("search p50 / p95, whet's own time (request log `ms=`), ms",
            f"{w['server_ms_p50']:.2f} / {w['server_ms_p95']:.2f}", "")
        add("search server CPU per query, ms", f"{w['server_cpu_ms_per_query']:.1f}",
            f"{m['server_cpu_ms_per_query']:,.0f}", f"{m['server_cpu_ms_per_query'] / w['server_cpu_ms_per_query']:.0f}×")
        wa = w["alone"]
        add(f"search p50 / p95, whet alone ({wa['n']} back to back), ms", f"{wa['p50_ms']:.2f} / {wa['p95_ms']:.2f}", "")
        b = w.get("breakdown")
        if b:
            parts = " + ".join(f"`{k}…` {v['p50_ms']:.2f}" for k, v in b["statements"].items())
            add("whet search p50 with sqlx's statement log: request = SQL statements + outside SQL, ms",
                f"{b['request_ms_p50']:.2f} = {parts} + {b['outside_sql_ms_p50']:.2f}", "")
    if st:
        w, m = st["fresh"]["whet"], st["fresh"]["mlflow"]
        add("idle RSS after start-up (fresh store), MB; MLflow: sum over the process tree",
            f"{w['idle_rss_mb_median']:.1f}", f"{m['idle_rss_mb_median']:.0f} ({m['processes']} processes; PSS {m['idle_pss_mb_median']:.0f})",
            f"{m['idle_rss_mb_median'] / w['idle_rss_mb_median']:.0f}×",
            f"whet < 30 MB: {'met' if w['idle_rss_mb_median'] < 30 else 'MISSED'}")
    for key, label in (("after_start", "idle RSS of the benchmarked server after start-up, MB"),
                       ("after_ingest", "idle RSS after the ingest, MB"),
                       ("after_search", "idle RSS after populate + search, MB"),
                       ("after_artifact", "idle RSS after the artifact transfers, MB")):
        if key in r.get("rss", {}):
            w, m = r["rss"][key]["whet"], r["rss"][key]["mlflow"]
            add(label, f"{w['rss_mb']:.1f}", f"{m['rss_mb']:.0f} (PSS {m['pss_mb']:.0f})")
    if st:
        w, m = st["fresh"]["whet"], st["fresh"]["mlflow"]
        add("start-up to first 200 on /health, fresh store, median of "
            f"{len(w['samples_ms'])}, ms", f"{w['median_ms']:.1f}", f"{m['median_ms']:,.0f}",
            f"{m['median_ms'] / w['median_ms']:.0f}×", f"whet < 100 ms: {'met' if w['median_ms'] < 100 else 'MISSED'}")
        if "restart" in st:
            w, m = st["restart"]["whet"], st["restart"]["mlflow"]
            add("start-up on the populated store, median, ms", f"{w['median_ms']:.1f}", f"{m['median_ms']:,.0f}",
                f"{m['median_ms'] / w['median_ms']:.0f}×", f"whet < 100 ms: {'met' if w['median_ms'] < 100 else 'MISSED'}")
    if ar:
        w, m, d = ar["whet"], ar["mlflow"], ar["disk"]
        add(f"{ar['mb']} MB artifact upload (PUT), MB/s", f"{w['upload_mb_s_median']:,.0f}",
            f"{m['upload_mb_s_median']:,.0f}", f"{w['upload_mb_s_median'] / m['upload_mb_s_median']:.1f}×",
            f"dd: {d['dd_page_cache_mb_s']:,.0f} (page cache) / {d['dd_fsync_mb_s']:,.0f} (fsync)")
        add(f"{ar['mb']} MB artifact download (GET), MB/s", f"{w['download_mb_s_median']:,.0f}",
            f"{m['download_mb_s_median']:,.0f}", f"{w['download_mb_s_median'] / m['download_mb_s_median']:.1f}×",
            f"cached read: {d['read_cached_mb_s']:,.0f}")
        if w.get("server_put_ms_median") == w.get("server_put_ms_median"):
            add("whet PUT, own time (request log `ms=`) / client time, ms",
                f"{w['server_put_ms_median']:.0f} / {w['client_put_ms_median']:.0f}", "")
        add("server peak RSS during the transfers (before), MB",
            f"{w['peak_rss_mb_max']:.1f} ({w['rss_before_mb_median']:.1f})",
            f"{m['peak_rss_mb_max']:.0f} ({m['rss_before_mb_median']:.0f})")
    head = ["| measure | whet | MLflow | ratio | goal |", "|---|---|---|---|---|"]
    return "\n".join(head + rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--whet", required=True, help="whet binary (a stable copy)")
    ap.add_argument("--mlflow-python", default=sys.executable, help="python with mlflow installed")
    ap.add_argument("--work", required=True, help="scratch folder (emptied)")
    ap.add_argument("--sections", default="startup,ingest,search,artifact,restart")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--batches", type=int, default=10, help="log-batch requests per client per round")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--search-runs", type=int, default=20000)
    ap.add_argument("--mlflow-rest-runs", type=int, default=500,
                    help="of the --search-runs, how many MLflow gets over REST; the rest are cloned into its SQLite file")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--mlflow-search-budget", type=float, default=180.0,
                    help="seconds of MLflow query time after which MLflow's queries stop (>= 20 done)")
    ap.add_argument("--startups", type=int, default=5)
    ap.add_argument("--restarts", type=int, default=3, help="start-ups on the populated stores at the end")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds before an idle RSS reading")
    ap.add_argument("--artifact-mb", type=int, default=100)
    ap.add_argument("--artifact-reps", type=int, default=3)
    ap.add_argument("--out", help="write the results JSON here too")
    a = ap.parse_args()
    sections = set(a.sections.split(","))
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    t_start = time.time()
    r = {"args": vars(a), "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "machine": {
        "nproc": os.cpu_count(), "python": platform.python_version(),
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_at_start": loadavg()}}
    ver = subprocess.run([a.mlflow_python, "-c", "import mlflow; print(mlflow.__version__)"],
                         capture_output=True, text=True).stdout.strip()
    r["mlflow_version"] = ver
    r["whet_version"] = subprocess.run([a.whet, "--version"], capture_output=True, text=True).stdout.strip()
    log(f"mlflow {ver}, {r['whet_version']}, nproc {os.cpu_count()}, load {loadavg()}")

    if "startup" in sections:
        r["startup"] = {"fresh": section_startup(a, "fresh", lambda k, i: os.path.join(work, f"start-{k}-{i}"))}
    servers = {"whet": Server("whet", a, os.path.join(work, "whet")),
               "mlflow": Server("mlflow", a, os.path.join(work, "mlflow"))}
    r["rss"] = {}
    try:
        for kind in ("whet", "mlflow"):
            t = servers[kind].start()
            log(f"{kind} server up in {t * 1000:.0f} ms on port {servers[kind].port} (pid {servers[kind].proc.pid})")
        time.sleep(a.settle)
        r["rss"]["after_start"] = {k: s.memory() for k, s in servers.items()}
        if "ingest" in sections:
            r["ingest"] = section_ingest(a, servers)
            time.sleep(a.settle)
            r["rss"]["after_ingest"] = {k: s.memory() for k, s in servers.items()}
        if "search" in sections:
            r["search"] = section_search(a, servers)
            time.sleep(a.settle)
            r["rss"]["after_search"] = {k: s.memory() for k, s in servers.items()}
        if "artifact" in sections:
            r["artifact"] = section_artifact(a, servers, work)
            time.sleep(a.settle)
            r["rss"]["after_artifact"] = {k: s.memory() for k, s in servers.items()}
        for k, v in r["rss"].items():
            log(f"RSS {k}: " + ", ".join(f"{kind} {m['rss_mb']:.1f} MB (PSS {m['pss_mb']:.1f}, {m['processes']} proc)"
                                         for kind, m in v.items()))
    finally:
        for s in servers.values():
            s.stop()
    if "restart" in sections and "startup" in sections:
        a.startups = a.restarts
        r["startup"]["restart"] = section_startup(a, "restart", lambda k, i: servers[k].dir)
    r["machine"]["load_at_end"] = loadavg()
    r["elapsed_s"] = time.time() - t_start
    text = json.dumps(r, indent=1)
    if a.out:
        open(a.out, "w").write(text)
    print(text)
    print()
    print(table(r))


if __name__ == "__main__":
    main()
