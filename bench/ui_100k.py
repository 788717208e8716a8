"""The web UI with 100,000 runs: whet's UI (served by `whet server`) against MLflow's UI
(`mlflow server` 3.17.2), both in the same headless Chromium, on the same data, in one run.

Data: one experiment of 100,000 runs, each with 20 metrics and 20 params, plus one run with a
100,000-step metric history. whet gets every run over REST (runs/create + runs/log-batch);
MLflow gets --rest-runs over REST and the rest written straight into its SQLite file, copied
from the rows MLflow itself wrote (MLflow creates ~20-60 runs/s here, so 100,000 over REST
would take about an hour). The history goes to both over REST, 1,000 points per request.

Measured per UI, each in a fresh browser session (cold cache), median of --rounds:
  first rows    navigation start → the newest run's name shown in the runs table
  bytes         transferred for that page until then (navigation + every resource)
  sort          click on "sort by metric m0, descending" → the run with the largest m0 shown
                and the newest run gone (whet: the m0 column header; MLflow: the item m0 of
                its Sort menu, opened beforehand)
  filter        Enter in the search box with `metrics.m0 > 0.99 and params.p0 = 'a'` (typed
                beforehand) → the newest matching run shown and the newest run gone
  scroll        (whet only) scrolling the runs table to its last row: every page of runs read
  history       navigation start → the 100,000-step chart drawn on the run page
Times are measured in the page (performance.now(): a poller every 10 ms sees the condition
hold, and the time is taken once the next frame is drawn). Sort and filter start at the input
event as the page received it (event.timeStamp of the pointerdown or the Enter keydown), as a
reader's click would; *_webdriver_ms start just before the WebDriver command instead (one
command, ~30 ms on a loaded machine). For whet the UI's performance marks split the time:
input → request sent, the request's round trip, drawing the rows.

Run: bash bench/ui_100k.sh (it builds whet in release and finds the peers' mlflow).
"""

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid

API = "/api/2.0/mlflow"
N_METRICS = 20
N_PARAMS = 20
T0 = 1_700_000_000_000
FILTER = "metrics.m0 > 0.99 and params.p0 = 'a'"
HISTORY_STEPS = 100_000


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def loadavg():
    return open("/proc/loadavg").read().split()[0]


# ---------------------------------------------------------------- the data


def run_values(i):
    """Metrics and params of run i, the same for both servers."""
    rng = random.Random(i)
    metrics = {f"m{k}": rng.random() for k in range(N_METRICS)}
    params = {f"p{k}": rng.choice("abcd") + ("" if k % 2 else str(rng.randrange(10))) for k in range(N_PARAMS)}
    params["p0"] = rng.choice("abcd")
    return metrics, params


def run_name(i):
    return f"run-{i:06d}"


def expectations(n):
    """The names each measurement waits for, and the ones that must be gone."""
    best_m0, matching = None, None
    for i in range(n):
        m, p = run_values(i)
        if best_m0 is None or m["m0"] > best_m0[1]:
            best_m0 = (i, m["m0"])
        if m["m0"] > 0.99 and p["p0"] == "a":
            matching = i
    newest = n - 1
    m, p = run_values(newest)
    assert not (m["m0"] > 0.99 and p["p0"] == "a"), "the newest run must not match the filter"
    return {"newest": run_name(newest), "best_m0": run_name(best_m0[0]), "filter_top": run_name(matching)}


class Conn:
    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def post(self, path, body):
        data = json.dumps(body).encode()
        for t in range(8):
            try:
                self.c.request("POST", API + path, body=data, headers={"Content-Type": "application/json"})
                r = self.c.getresponse()
                out = r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
                continue
            if r.status == 200:
                return json.loads(out) if out else {}
            if r.status not in (429, 500, 502, 503, 504):
                raise RuntimeError(f"POST {path} -> {r.status}: {out[:300]!r}")
            time.sleep(0.05 * 2 ** t)
        raise RuntimeError(f"POST {path}: gave up")


def log_run(conn, exp_id, i):
    metrics, params = run_values(i)
    rid = conn.post("/runs/create", {"experiment_id": exp_id, "run_name": run_name(i), "start_time": T0 + i * 1000})["run"]["info"]["run_id"]
    conn.post("/runs/log-batch", {
        "run_id": rid,
        "metrics": [{"key": k, "value": v, "timestamp": T0 + i * 1000, "step": 0} for k, v in metrics.items()],
        "params": [{"key": k, "value": v} for k, v in params.items()],
    })
    conn.post("/runs/update", {"run_id": rid, "status": "FINISHED", "end_time": T0 + i * 1000 + 500})
    return rid


def populate_worker(port, exp_id, indices, q):
    conn = Conn(port)
    for i in indices:
        log_run(conn, exp_id, i)
    q.put(len(indices))


def populate(port, exp_id, start, end, clients):
    q = mp.Queue()
    procs = [mp.Process(target=populate_worker, args=(port, exp_id, range(start + c, end, clients), q)) for c in range(clients)]
    for p in procs:
        p.start()
    done = sum(q.get() for _ in procs)
    for p in procs:
        p.join()
    return done


def log_history(port, exp_id):
    conn = Conn(port)
    rid = conn.post("/runs/create", {"experiment_id": exp_id, "run_name": "history", "start_time": T0 - 10_000})["run"]["info"]["run_id"]
    for s0 in range(0, HISTORY_STEPS, 1000):
        conn.post("/runs/log-batch", {"run_id": rid, "metrics": [
            {"key": "loss", "value": 1.0 / (1 + s * 0.001) + 0.01 * ((s * 7919) % 101) / 101, "timestamp": T0 + s, "step": s}
            for s in range(s0, s0 + 1000)]})
    conn.post("/runs/update", {"run_id": rid, "status": "FINISHED", "end_time": T0})
    return rid


def clone_mlflow_runs(db_path, exp_id, start, end):
    """Runs start..end-1 written into MLflow's SQLite file, each a copy of the rows MLflow wrote
    for run 0 over REST with this run's own values."""
    con = sqlite3.connect(db_path, timeout=120)
    con.row_factory = sqlite3.Row
    (tid,) = con.execute("SELECT run_uuid FROM runs WHERE experiment_id = ? AND name = ?", (int(exp_id), run_name(0))).fetchone()

    def rows(table):
        return [dict(r) for r in con.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (tid,))]

    template = rows("runs")[0]
    per_table = {t: rows(t) for t in ("metrics", "latest_metrics", "params", "tags")}
    batches = {}
    for i in range(start, end):
        rid = uuid.uuid4().hex
        metrics, params = run_values(i)
        out = [("runs", dict(template, run_uuid=rid, name=run_name(i), start_time=T0 + i * 1000, end_time=T0 + i * 1000 + 500,
                             artifact_uri=template["artifact_uri"].replace(tid, rid)))]
        for table, trows in per_table.items():
            for t in trows:
                t = dict(t, run_uuid=rid)
                if table in ("metrics", "latest_metrics"):
                    t["value"] = metrics[t["key"]]
                    t["timestamp"] = T0 + i * 1000
                elif table == "params":
                    t["value"] = params[t["key"]]
                elif t["key"] == "mlflow.runName":
                    t["value"] = run_name(i)
                out.append((table, t))
        for table, row in out:
            cols = tuple(row)
            batches.setdefault((table, cols), []).append([row[c] for c in cols])
    with con:
        for (table, cols), values in batches.items():
            con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
    con.close()


# ---------------------------------------------------------------- servers


class Server:
    def __init__(self, kind, args, directory):
        self.kind, self.args, self.dir = kind, args, directory
        os.makedirs(directory, exist_ok=True)
        self.proc, self.port = None, None

    def start(self):
        self.port = free_port()
        if self.kind == "whet":
            cmd = [self.args.whet, "server", "--host", "127.0.0.1", "--port", str(self.port),
                   "--store", os.path.join(self.dir, "whet.db"), "--artifacts-destination", os.path.join(self.dir, "artifacts")]
            env = dict(os.environ, WHET_LOG="warn")
        else:
            cmd = [self.args.mlflow_python, "-m", "mlflow", "server", "--backend-store-uri", "sqlite:///" + os.path.join(self.dir, "mlflow.db"),
                   "--artifacts-destination", os.path.join(self.dir, "mlartifacts"), "--host", "127.0.0.1", "--port", str(self.port)]
            env = dict(os.environ, MLFLOW_ENABLE_TELEMETRY="false", DO_NOT_TRACK="true")
        self.proc = subprocess.Popen(cmd, stdout=open(os.path.join(self.dir, "server.out"), "ab"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        t0 = time.time()
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.time() - t0 > 300:
                    raise RuntimeError(f"{self.kind} server did not start; see {self.dir}/server.out")
                time.sleep(0.1)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------- the browser (plain WebDriver)


class Browser:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(self.base + "/status", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        opts = {"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--force-device-scale-factor=1"]}
        for b in ["/usr/bin/chromium", "/usr/bin/chromium-browser"]:
            if os.path.exists(b):
                opts["binary"] = b
                break
        v = self.req("POST", "/session", {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": opts}}})
        self.sid = v["value"]["sessionId"]

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=900) as resp:
            return json.loads(resp.read())

    def cmd(self, method, path, body=None):
        if body is None and method == "POST":
            body = {}
        return self.req(method, f"/session/{self.sid}/{path}", body)["value"]

    def go(self, url):
        self.cmd("POST", "url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "execute/sync", {"script": script, "args": list(args)})

    def element(self, using, value):
        v = self.cmd("POST", "element", {"using": using, "value": value})
        return list(v.values())[0]

    def click(self, using, value):
        self.click_el(self.element(using, value))

    def click_el(self, e):
        self.cmd("POST", f"element/{e}/click")

    def keys(self, e, text):
        self.cmd("POST", f"element/{e}/value", {"text": text})

    def type(self, using, value, text):
        e = self.element(using, value)
        self.cmd("POST", f"element/{e}/clear")
        self.cmd("POST", f"element/{e}/value", {"text": text})

    def quit(self):
        try:
            self.req("DELETE", f"/session/{self.sid}")
        except OSError:
            pass
        self.proc.kill()


# Installs a poller that records (performance.now()) when the first frame after `cond` first
# holds has been drawn: the condition reads the DOM, the frame is what the reader sees.
WATCH = """
const cond = new Function(arguments[0]);
window.__done = null;
window.__start = performance.now();
const tick = () => {
  try { if (cond()) { requestAnimationFrame(() => setTimeout(() => { window.__done = performance.now(); }, 0)); return; } } catch (e) {}
  setTimeout(tick, 10);
};
tick();
"""

# The reader's input as the page received it (event.timeStamp, on performance.now()'s clock):
# the first pointerdown or Enter from now on. WebDriver's own transport (a command per click,
# ~30 ms each on a loaded machine) is not the page's time.
INPUT_CLOCK = """
window.__input = null;
const on = (e) => { if (window.__input === null && (e.type === 'pointerdown' || e.key === 'Enter')) window.__input = e.timeStamp; };
window.addEventListener('pointerdown', on, true);
window.addEventListener('keydown', on, true);
"""


class PageFailed(RuntimeError):
    pass


def wait_done(b, what, limit=300.0):
    t0 = time.time()
    checked = t0
    while True:
        v = b.js("return window.__done === undefined ? 'nav' : window.__done")
        if isinstance(v, (int, float)):
            return v
        now = time.time()
        if now - checked > 1.0:
            checked = now
            # MLflow's UI replaces the page with this when a request fails or times out.
            if b.js("return document.body.innerText.includes('Something went wrong')"):
                raise PageFailed(f"{what}: the page shows 'Something went wrong' after {now - t0:.0f} s")
        if now - t0 > limit:
            raise PageFailed(f"timed out after {limit:.0f} s waiting for {what}")
        time.sleep(0.02)


def text_has(name, gone=None):
    """A link with exactly this run name is on the page (and none with `gone`): both UIs show
    run names as links, and reading links needs no layout, unlike innerText."""
    s = f"const t = new Set([...document.querySelectorAll('a')].map(a => a.textContent.trim())); return t.has({json.dumps(name)})"
    if gone:
        s += f" && !t.has({json.dumps(gone)})"
    return s


def after_navigation(b, url, cond, what):
    """ms from navigation start until cond holds on the page at url (a fresh document)."""
    b.go("about:blank")
    b.go(url)
    b.js(WATCH, cond)
    done = wait_done(b, what)
    return done  # performance.now() counts from the navigation's start


def after_action(b, cond, action, what, out=None, key=None):
    """ms from the reader's input (the page's event time) until the frame showing cond is
    drawn. With `out`, also records under key+"_webdriver_ms" the time from just before the
    WebDriver command, and for whet the UI's marks: input → request sent, the request's
    round trip, and drawing the rows (performance marks in runs.js)."""
    b.js(INPUT_CLOCK)
    b.js(WATCH, cond)
    start = b.js("window.__done = null; performance.clearMarks(); return window.__start = performance.now()")
    action()
    done = wait_done(b, what)
    inp = b.js("return window.__input")
    if inp is None:
        raise PageFailed(f"{what}: the page saw no click or Enter")
    if out is not None:
        out[key + "_webdriver_ms"] = done - start
        marks = b.js("const m = {}; for (const e of performance.getEntriesByType('mark')) if (!(e.name in m)) m[e.name] = e.startTime; return m")
        if all(f"whet:runs:{k}" in marks for k in ("request", "response", "drawn")):
            out[key + "_to_request_ms"] = marks["whet:runs:request"] - inp
            out[key + "_request_ms"] = marks["whet:runs:response"] - marks["whet:runs:request"]
            out[key + "_draw_ms"] = marks["whet:runs:drawn"] - marks["whet:runs:response"]
    return done - inp


def transferred(b):
    return b.js("""
      const nav = performance.getEntriesByType('navigation')[0];
      let n = nav ? nav.transferSize : 0;
      for (const r of performance.getEntriesByType('resource')) n += r.transferSize;
      return n;""")


def fresh_page(url, newest, what):
    """A new browser session (cold cache, no saved view) showing the runs page."""
    b = Browser()
    try:
        b.go(url)
        b.js(WATCH, text_has(newest))
        wait_done(b, what)
    except BaseException:
        b.quit()
        raise
    return b


def attempt(out, key, fn):
    """Records fn()'s value under key, or why it failed (the other measurements go on)."""
    try:
        out[key] = fn()
    except PageFailed as e:
        out.setdefault("failed", []).append(f"{key}: {e}")
        log("FAILED", key, e)


def in_session(out, key, make, fn):
    try:
        b = make()
    except PageFailed as e:
        out.setdefault("failed", []).append(f"{key}: {e}")
        log("FAILED", key, e)
        return
    try:
        fn(b)
    finally:
        b.quit()


def measure_whet(a, port, exp_id, history_id, exp):
    base = f"http://127.0.0.1:{port}/"
    url = base + f"#/experiments/{exp_id}?cols=metrics.m0,metrics.m1,params.p0"
    out = {}

    def first(b):
        attempt(out, "first_rows_ms", lambda: after_navigation(b, url, text_has(exp["newest"]), "whet first rows"))
        time.sleep(0.5)
        out["bytes"] = transferred(b)
        header = b.element("css selector", ".grid-head [data-col='metrics.m0']")
        attempt(out, "sort_ms", lambda: after_action(b, text_has(exp["best_m0"], exp["newest"]), lambda: b.click_el(header), "whet sort", out, "sort"))
    in_session(out, "first_rows_ms", Browser, first)

    def filter_(b):
        # The expression is typed first; the clock starts at Enter.
        b.type("css selector", "#filter", FILTER)
        box = b.element("css selector", "#filter")
        attempt(out, "filter_ms", lambda: after_action(b, text_has(exp["filter_top"], exp["newest"]),
                                                       lambda: b.keys(box, "\ue007"), "whet filter", out, "filter"))
    in_session(out, "filter_ms", lambda: fresh_page(url, exp["newest"], "whet runs page"), filter_)

    def scroll(b):
        last = run_name(0)
        t0 = time.time()
        b.js(WATCH, "const g = document.getElementById('runs'); g.scrollTop = g.scrollHeight; " + text_has(last).replace("const t", "const t2").replace("t.has", "t2.has"))
        attempt(out, "scroll_to_end_ms", lambda: (wait_done(b, "whet scroll", limit=1800), (time.time() - t0) * 1000)[1])
        attempt(out, "history_ms", lambda: after_navigation(
            b, base + f"#/runs/{history_id}",
            "const p = document.querySelector(\"figure[data-metric='loss'] g.series path\"); return p && p.getAttribute('d').length > 100", "whet history"))
    in_session(out, "scroll_to_end_ms", lambda: fresh_page(url, exp["newest"], "whet runs page"), scroll)
    return out


def measure_mlflow(a, port, exp_id, history_id, exp):
    base = f"http://127.0.0.1:{port}/"
    url = base + f"#/experiments/{exp_id}/runs"
    out = {}

    def sort_menu(b):
        b.click("xpath", "//button[starts-with(normalize-space(.), 'Sort')]")
        time.sleep(0.3)
        return b.element("xpath", "//*[@role='menuitemcheckbox'][normalize-space(.)='m0']")

    def first(b):
        attempt(out, "first_rows_ms", lambda: after_navigation(b, url, text_has(exp["newest"]), "mlflow first rows"))
        time.sleep(0.5)
        out["bytes"] = transferred(b)
        # The Sort menu opens on a click and needs a moment to draw its items: the clock starts
        # at the click on its item m0.
        item = sort_menu(b)
        attempt(out, "sort_ms", lambda: after_action(b, text_has(exp["best_m0"], exp["newest"]), lambda: b.click_el(item), "mlflow sort", out, "sort"))
    in_session(out, "first_rows_ms", Browser, first)

    def rest(b):
        b.type("css selector", "input[placeholder^='metrics.']", FILTER)
        box = b.element("css selector", "input[placeholder^='metrics.']")
        attempt(out, "filter_ms", lambda: after_action(b, text_has(exp["filter_top"], exp["newest"]),
                                                       lambda: b.keys(box, "\ue007"), "mlflow filter", out, "filter"))
        attempt(out, "history_ms", lambda: after_navigation(
            b, base + f"#/experiments/{exp_id}/runs/{history_id}/model-metrics",
            "const p = document.querySelector('.js-plotly-plot .scatterlayer path.js-line'); return p && (p.getAttribute('d') || '').length > 100", "mlflow history"))
    in_session(out, "filter_ms", lambda: fresh_page(url, exp["newest"], "mlflow runs page"), rest)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--whet", required=True)
    p.add_argument("--mlflow-python", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--runs", type=int, default=100_000)
    p.add_argument("--rest-runs", type=int, default=200, help="MLflow runs logged over REST; the rest are cloned")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", required=True)
    p.add_argument("--skip-mlflow", action="store_true", help="measure whet's UI only")
    p.add_argument("--whet-copy", action="store_true",
                   help="whet: run 0 over REST and the rest copied into its SQLite file (bench/search_100k.py's copy), minutes instead of a REST load")
    a = p.parse_args()

    exp = expectations(a.runs)
    log("expect", exp)
    res = {"runs": a.runs, "metrics": N_METRICS, "params": N_PARAMS, "history_steps": HISTORY_STEPS, "filter": FILTER,
           "load_before": loadavg(), "whet": {}, "mlflow": {}}
    servers = {"whet": Server("whet", a, os.path.join(a.work, "whet"))}
    if not a.skip_mlflow:
        servers["mlflow"] = Server("mlflow", a, os.path.join(a.work, "mlflow"))
    try:
        for kind, s in servers.items():
            s.start()
            c = Conn(s.port)
            body = {"name": "ui-100k"}
            if kind == "mlflow":
                body["tags"] = [{"key": "mlflow.experimentKind", "value": "custom_model_development"}]
            exp_id = c.post("/experiments/create", body)["experiment_id"]
            t0 = time.time()
            if kind == "whet" and a.whet_copy:
                from search_100k import clone
                populate(s.port, exp_id, 0, 1, 1)
                s.stop()
                clone(os.path.join(s.dir, "whet.db"), "ui-100k", a.runs)
                s.start()
            elif kind == "whet":
                populate(s.port, exp_id, 0, a.runs, a.clients)
            else:
                populate(s.port, exp_id, 0, a.rest_runs, a.clients)
                log("cloning MLflow runs")
                clone_mlflow_runs(os.path.join(s.dir, "mlflow.db"), exp_id, a.rest_runs, a.runs)
            res[kind]["populate_s"] = time.time() - t0
            res[kind]["history_run"] = log_history(s.port, exp_id)
            res[kind]["experiment"] = exp_id
            log(f"{kind}: {a.runs} runs in {res[kind]['populate_s']:.0f} s")
            if kind == "mlflow":
                # A restart, so MLflow's server sees the cloned rows like any others.
                s.stop()
                s.start()
        for r in range(a.rounds):
            for kind, s in servers.items():
                fn = measure_whet if kind == "whet" else measure_mlflow
                m = fn(a, s.port, res[kind]["experiment"], res[kind]["history_run"], exp)
                log(kind, "round", r + 1, m)
                res[kind].setdefault("rounds", []).append(m)
        res["load_after"] = loadavg()
    finally:
        for s in servers.values():
            s.stop()
    for kind in ("whet", "mlflow"):
        rounds = res[kind].get("rounds", [])
        if not rounds:
            res[kind]["median"] = {}
            continue
        keys = sorted({k for r in rounds for k, v in r.items() if isinstance(v, (int, float))})
        res[kind]["median"] = {k: statistics.median(r[k] for r in rounds if k in r) for k in keys}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    w, m = res["whet"]["median"], res["mlflow"]["median"]
    print(f"| measure (median of {a.rounds}) | whet | MLflow | goal |")
    print("|---|---|---|---|")
    goals = {"first_rows_ms": "< 1000 ms", "sort_ms": "< 300 ms", "filter_ms": "< 300 ms", "history_ms": "< 500 ms", "bytes": "< 1 MB"}
    for k in ("first_rows_ms", "bytes", "sort_ms", "sort_webdriver_ms", "sort_to_request_ms", "sort_request_ms", "sort_draw_ms",
              "filter_ms", "filter_webdriver_ms", "filter_to_request_ms", "filter_request_ms", "filter_draw_ms",
              "scroll_to_end_ms", "history_ms"):
        fmt = (lambda v: f"{v / 1e6:.2f} MB") if k == "bytes" else (lambda v: f"{v:.0f} ms")
        print(f"| {k} | {fmt(w[k]) if k in w else '—'} | {fmt(m[k]) if k in m else '—'} | {goals.get(k, '')} |")
    print(f"load average before {res['load_before']}, after {res['load_after']}")


if __name__ == "__main__":
    main()
