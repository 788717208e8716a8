// Shared page helpers (DOM building, the URL as the page's state, formatting) and the pages
// other than the runs table: experiments, run, compare, models.

import * as api from "/ui/api.js";
import { lineChart, legend, fmtNum, fmtDuration, color, scatterChart, parallelChart, rampColor } from "/ui/chart.js";

export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/// Replaces an element's children, skipping the nulls that stand for "nothing here".
export function put(el, ...kids) {
  el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}

/// The current route: path parts and query parameters of the URL fragment.
export function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || "") };
}

/// Writes the page's state into the URL without a new history entry or a re-render.
export function setParams(update) {
  const r = route();
  for (const [k, v] of Object.entries(update)) {
    if (v === null || v === undefined || v === "" || (Array.isArray(v) && !v.length)) r.params.delete(k);
    else r.params.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  const q = r.params.toString();
  const hash = "#/" + r.parts.map(encodeURIComponent).join("/") + (q ? "?" + q : "");
  history.replaceState(null, "", hash);
}

export function list(params, key) {
  const v = params.get(key);
  return v ? v.split(",").filter(Boolean) : [];
}

export function fmtTime(ms) {
  if (!ms) return "";
  const d = new Date(Number(ms));
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function runDuration(info) {
  const start = Number(info.start_time || 0);
  if (!start) return null;
  const end = info.end_time ? Number(info.end_time) : (info.status === "RUNNING" ? Date.now() : null);
  return end ? end - start : null;
}

export function source(tags) {
  if (tags["whet.kind"] === "study") return "whet study";
  if (tags["whet.kind"] === "trial") return "whet trial " + (tags["whet.trial"] || "");
  const name = tags["mlflow.source.name"] || "";
  return name ? name.split("/").pop() : "MLflow client";
}

export function statusBadge(status) {
  return h("span", { class: "status s-" + String(status || "").toLowerCase() }, (status || "").toLowerCase());
}

export function errorBox(err) {
  const msg = err instanceof Error ? err.message : String(err);
  const box = h("div", { class: "error", role: "alert" }, h("strong", {}, "Could not load: "), h("pre", {}, msg));
  if (err && err.status === 401) {
    const input = h("input", { type: "password", placeholder: "token", "aria-label": "token" });
    box.append(h("form", { class: "token", onsubmit: (e) => { e.preventDefault(); localStorage.setItem("whet.token", input.value.trim()); location.reload(); } },
      "This server needs a token: ", input, h("button", {}, "Use token")));
  }
  return box;
}

/// Metrics for which a lower value is better, by the usual names.
export function lowerIsBetter(key) {
  return /(loss|error|err\b|rmse|mse|mae|mape|logloss|brier|time|seconds|duration)/i.test(key);
}

// ---------------------------------------------------------------- experiments

export async function experimentsPage(main) {
  const [exps, act] = await Promise.all([
    api.post("experiments/search", { max_results: 1000, view_type: "ACTIVE_ONLY" }),
    api.get(api.ACTIVITY),
  ]);
  const byId = {};
  for (const a of act.experiments || []) byId[String(a.experiment_id)] = a;
  const rows = (exps.experiments || []).map((e) => ({ e, a: byId[e.experiment_id] || { runs: 0, last_activity: null } }));
  rows.sort((x, y) => (y.a.last_activity || Number(y.e.last_update_time) || 0) - (x.a.last_activity || Number(x.e.last_update_time) || 0));
  put(main, 
    h("h1", {}, "Experiments"),
    rows.length
      ? h("table", { class: "plain", id: "experiments" },
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "num" }, "Runs"), h("th", {}, "Last activity"), h("th", { title: "the primary metric (the newest study's) and the best finished study on it" }, "Best"), h("th", {}, "Id"))),
          h("tbody", {}, rows.map(({ e, a }) => h("tr", {},
            h("td", {}, h("a", { href: `#/experiments/${encodeURIComponent(e.experiment_id)}` }, e.name)),
            h("td", { class: "num" }, a.runs),
            h("td", {}, fmtTime(a.last_activity || e.last_update_time)),
            h("td", { class: "best-cell", "data-metric": a.metric ? a.metric.name : null }, a.metric && a.best
              ? [h("span", { class: "muted small" }, a.metric.name + (a.metric.direction === "maximize" ? " ↑ " : " ↓ ")),
                 h("a", { href: `#/studies/${a.best.run_id}`, title: a.best.run_name }, fmtNum(a.best.value))]
              : a.metric ? h("span", { class: "muted small" }, a.metric.name + ": no finished study") : ""),
            h("td", { class: "muted mono" }, e.experiment_id)))))
      : h("p", { class: "muted" }, "No experiments yet. `whet train data.csv --target y` records a study here."));
}

// ---------------------------------------------------------------- run

/// From this many steps on, a run page charts a server-sampled history of this many points.
const SAMPLE_ABOVE_STEPS = 4000;

export async function runPage(main, runId, live) {
  const r = route();
  const { run } = await api.get("runs/get", { run_id: runId });
  const info = run.info;
  const { metrics, params, tags } = api.runData(run);
  const keys = Object.keys(metrics).sort();
  let chosen = list(r.params, "m").filter((k) => metrics[k]);
  const log = r.params.get("log") === "1";
  const xAxis = r.params.get("x") === "time" ? "time" : "step";
  const parent = tags["mlflow.parentRunId"];
  const dl = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
  const infoBox = h("dl", { class: "info" },
    dl("Run id", h("span", { class: "mono" }, info.run_id)),
    dl("Status", statusBadge(info.status)),
    dl("Experiment", h("a", { href: `#/experiments/${info.experiment_id}` }, info.experiment_id)),
    parent ? dl("Parent", h("a", { href: `#/runs/${parent}` }, parent.slice(0, 8))) : null,
    dl("Started", fmtTime(info.start_time)),
    dl("Duration", fmtDuration(runDuration(info))),
    dl("User", info.user_id || ""),
    dl("Source", source(tags)));

  const histories = {};
  // Histories longer than the charts can show are sampled by the server (the latest step
  // tells how long a history is before reading it).
  const sampled = (k) => Number(metrics[k].step) >= SAMPLE_ABOVE_STEPS;
  const loadHistory = async (k) => (histories[k] ??= sampled(k) ? await api.sampledHistory(runId, k, SAMPLE_ABOVE_STEPS) : await api.metricHistory(runId, k));
  const charts = h("div", { class: "charts" });
  const overlay = h("div", { class: "overlay" });
  const draw = async () => {
    const pointsOf = (hist) => {
      let t0 = Infinity;
      for (const m of hist) t0 = Math.min(t0, Number(m.timestamp));
      return hist.map((m) => ({ x: xAxis === "time" ? Number(m.timestamp) - t0 : Number(m.step), y: Number(m.value) }))
        .sort((a, b) => a.x - b.x);
    };
    const opts = { log, xLabel: xAxis === "time" ? "time since first value" : "step", time: xAxis === "time" };
    overlay.replaceChildren();
    if (chosen.length > 1) {
      const series = [];
      for (const k of chosen) series.push({ label: k, points: pointsOf(await loadHistory(k)) });
      overlay.append(h("figure", { class: "card wide", "data-overlay": chosen.join(",") }, h("figcaption", {}, "Overlay: " + chosen.join(", ")), lineChart(series, { ...opts, width: 900, height: 300 }), legend(series)));
    }
    const figs = [];
    for (const k of keys.slice(0, 24)) {
      const series = [{ label: k, points: pointsOf(await loadHistory(k)) }];
      const count = sampled(k) ? ` · ${series[0].points.length} values sampled evenly up to step ${metrics[k].step}` : " · " + series[0].points.length + " values";
      figs.push(h("figure", { class: "card", "data-metric": k, "data-sampled": sampled(k) ? "1" : null }, h("figcaption", {}, k, h("span", { class: "muted" }, count)), lineChart(series, opts)));
    }
    charts.replaceChildren(...figs);
  };
  const metricRows = keys.map((k) => {
    const box = h("input", { type: "checkbox", checked: chosen.includes(k), "aria-label": "overlay " + k, onchange: (e) => {
      chosen = e.target.checked ? [...chosen, k] : chosen.filter((x) => x !== k);
      setParams({ m: chosen });
      draw();
    } });
    return h("tr", {}, h("td", {}, box), h("td", { class: "mono" }, k), h("td", { class: "num" }, fmtNum(Number(metrics[k].value))), h("td", { class: "num muted" }, metrics[k].step));
  });
  const controls = h("div", { class: "controls" },
    h("label", {}, h("input", { type: "checkbox", id: "log", checked: log, onchange: (e) => { setParams({ log: e.target.checked ? "1" : null }); rerender(); } }), " log scale"),
    h("label", {}, " x: ", h("select", { id: "xaxis", onchange: (e) => { setParams({ x: e.target.value === "time" ? "time" : null }); rerender(); } },
      h("option", { value: "step", selected: xAxis === "step" }, "step"), h("option", { value: "time", selected: xAxis === "time" }, "time"))));
  const kv = (obj, cls) => {
    const ks = Object.keys(obj).sort();
    return ks.length ? h("table", { class: "plain kv " + cls }, h("tbody", {}, ks.map((k) => h("tr", {}, h("th", { class: "mono" }, k), h("td", { class: "mono" }, obj[k]))))) : h("p", { class: "muted" }, "none");
  };
  const inputs = (run.inputs && run.inputs.dataset_inputs) || [];
  const datasets = inputs.length ? h("table", { class: "plain", id: "datasets" },
    h("thead", {}, h("tr", {}, h("th", {}, "Dataset"), h("th", {}, "Fingerprint"), h("th", {}, "Context"), h("th", {}, "Columns"), h("th", {}, "Profile"))),
    h("tbody", {}, inputs.map((i, idx) => {
      const d = i.dataset || {};
      const ctx = (i.tags || []).find((t) => t.key === "mlflow.data.context");
      let cols = "";
      try { const s = JSON.parse(d.schema || "{}"); cols = (s["mlflow_colspec"] || s.columns || []).map((c) => c.name).join(", "); } catch { cols = ""; }
      return h("tr", {}, h("td", {}, d.name || ""), h("td", { class: "mono" }, (d.digest || "").slice(0, 16)), h("td", {}, ctx ? ctx.value : ""), h("td", { class: "small" }, cols),
        h("td", {}, d.profile && d.profile !== "{}" ? h("a", { href: `#/datasets/${info.run_id}/${idx}`, class: "profile-link" }, "profile") : h("span", { class: "muted" }, "—")));
    }))) : h("p", { class: "muted" }, "none");
  const artifacts = h("div", { class: "artifacts" });
  const rerender = () => window.dispatchEvent(new HashChangeEvent("hashchange"));

  // Built off-screen and swapped in whole, so a live refresh does not make the page jump.
  const page = document.createElement("div");
  put(page,
    h("p", { class: "crumbs" }, h("a", { href: "#/experiments" }, "Experiments"), " / ", h("a", { href: `#/experiments/${info.experiment_id}` }, "experiment " + info.experiment_id), " / run"),
    h("h1", {}, info.run_name || info.run_id, " ", statusBadge(info.status)),
    tags["whet.kind"] === "study" ? h("p", {}, h("a", { href: `#/studies/${info.run_id}`, id: "study-link" }, "Study view: leaderboard, best score over time, final model →")) : null,
    h("div", { class: "cols2" },
      h("section", {}, h("h2", {}, "Info"), infoBox, h("h2", {}, "Parameters"), kv(params, "params")),
      h("section", {}, h("h2", {}, "Metrics"), keys.length ? h("table", { class: "plain", id: "metrics" }, h("thead", {}, h("tr", {}, h("th", { title: "draw the ticked metrics in one chart" }, "Overlay"), h("th", {}, "Metric"), h("th", { class: "num" }, "Latest"), h("th", { class: "num" }, "Step"))), h("tbody", {}, metricRows)) : h("p", { class: "muted" }, "none"),
        h("h2", {}, "Datasets"), datasets)),
    h("h2", {}, "Charts"), controls, overlay, charts,
    h("h2", {}, "Artifacts"), artifacts,
    h("h2", {}, "Tags"), kv(tags, "tags"));
  await draw();
  await artifactTree(artifacts, info, "");
  main.replaceChildren(...page.childNodes);
  if (info.status === "RUNNING") live(() => runPage(main, runId, live));
}

async function artifactTree(container, info, path) {
  const r = await api.get("artifacts/list", { run_id: info.run_id, path });
  const files = r.files || [];
  if (!files.length && !path) { container.append(h("p", { class: "muted" }, "none")); return; }
  const ul = h("ul", { class: "tree" });
  for (const f of files) {
    const name = f.path.split("/").pop();
    if (f.is_dir) {
      const sub = h("div");
      let open = false;
      ul.append(h("li", {}, h("button", { class: "link", onclick: async () => { open = !open; sub.replaceChildren(); if (open) await artifactTree(sub, info, f.path); } }, "▸ " + name + "/"), sub));
    } else {
      const url = api.artifactUrl(info.artifact_uri, f.path);
      const rel = api.artifactPath(info.artifact_uri, f.path);
      const preview = h("div", { class: "preview" });
      ul.append(h("li", { "data-artifact": f.path },
        h("button", { class: "link", onclick: () => previewArtifact(preview, url, name, rel) }, name),
        h("span", { class: "muted" }, " " + fmtBytes(Number(f.file_size || 0)) + " "),
        url ? h("a", { href: url, download: name }, "download") : null, preview));
    }
  }
  container.append(ul);
}

function fmtBytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KiB";
  return (n / (1 << 20)).toFixed(1) + " MiB";
}

function previewTable(header, rows) {
  return h("div", { class: "hscroll" }, h("table", { class: "plain small" }, h("thead", {}, h("tr", {}, header.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((l) => h("tr", {}, l.map((c) => h("td", { class: c === null ? "muted" : null }, c === null ? "null" : c)))))));
}

async function previewArtifact(box, url, name, rel) {
  if (!url) { box.replaceChildren(h("p", { class: "muted" }, "stored outside this server; no preview")); return; }
  if (box.childElementCount) { box.replaceChildren(); return; }
  const ext = (name.split(".").pop() || "").toLowerCase();
  if (ext === "parquet") {
    try {
      const p = await api.get(api.PREVIEW, { path: rel, rows: 50 });
      box.replaceChildren(h("p", { class: "muted small" }, `first ${p.rows.length} of ${p.total_rows} rows · ${p.columns.length} columns`),
        previewTable(p.columns.map((c) => c.name + (c.type ? " (" + c.type + ")" : "")), p.rows));
    } catch (err) { box.replaceChildren(errorBox(err)); }
    return;
  }
  if (["png", "jpg", "jpeg", "gif", "svg", "webp"].includes(ext)) { box.replaceChildren(h("img", { src: url, alt: name })); return; }
  if (ext === "html" || ext === "htm") { box.replaceChildren(h("iframe", { src: url, sandbox: "", title: name })); return; }
  const resp = await fetch(url);
  if (!resp.ok) { box.replaceChildren(h("p", { class: "error" }, "download failed: HTTP " + resp.status)); return; }
  const text = (await resp.text()).slice(0, 256 * 1024);
  if (ext === "json") {
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch { /* shown as text */ }
    box.replaceChildren(h("pre", {}, shown));
  } else if (ext === "csv" || ext === "tsv") {
    const sep = ext === "tsv" ? "\t" : ",";
    const lines = text.split(/\r?\n/).filter(Boolean).slice(0, 51).map((l) => l.split(sep));
    box.replaceChildren(previewTable(lines[0] || [], lines.slice(1)));
  } else {
    box.replaceChildren(h("pre", {}, text));
  }
}

// ---------------------------------------------------------------- dataset profile

/// A run's dataset input and its profile: whet's profile (`whet profile --json`, stored with
/// every dataset `whet train` logs) as a report, or MLflow's small profile as key/values.
export async function datasetPage(main, runId, index) {
  const { run } = await api.get("runs/get", { run_id: runId });
  const input = ((run.inputs && run.inputs.dataset_inputs) || [])[Number(index)];
  const crumbs = h("p", { class: "crumbs" }, h("a", { href: "#/experiments" }, "Experiments"), " / ", h("a", { href: `#/runs/${runId}` }, run.info.run_name || runId), " / dataset");
  if (!input) { put(main, crumbs, h("h1", {}, "No such dataset"), h("p", {}, "The run has no dataset input ", index, ".")); return; }
  const d = input.dataset || {};
  let p = {};
  try { p = JSON.parse(d.profile || "{}"); } catch { p = {}; }
  const head = [crumbs, h("h1", {}, d.name || "dataset"),
    h("dl", { class: "info" }, h("dt", {}, "Fingerprint"), h("dd", { class: "mono" }, d.digest || ""), h("dt", {}, "Source"), h("dd", { class: "mono small" }, d.source || ""))];
  if (!Array.isArray(p.columns)) {
    const keys = Object.keys(p);
    put(main, head, h("h2", {}, "Profile"), keys.length ? h("table", { class: "plain kv" }, h("tbody", {}, keys.map((k) => h("tr", {}, h("th", {}, k), h("td", { class: "mono" }, JSON.stringify(p[k])))))) : h("p", { class: "muted" }, "no profile recorded"));
    return;
  }
  const sev = { critical: "bad", warning: "warn", info: "muted" };
  const stat = (c, k) => {
    // Datetime statistics are epoch milliseconds: show the first and last day instead.
    if (c.type === "datetime") return k === "min" ? (c.first || "").slice(0, 10) : k === "max" ? (c.last || "").slice(0, 10) : "";
    return c.stats && c.stats[k] !== undefined && c.stats[k] !== null ? fmtNum(Number(c.stats[k])) : "";
  };
  put(main, head,
    h("div", { class: "cards" },
      h("div", { class: "stat" }, h("div", { class: "label" }, "rows"), h("div", { class: "value" }, String(p.rows))),
      h("div", { class: "stat" }, h("div", { class: "label" }, "columns"), h("div", { class: "value" }, String(p.n_columns))),
      h("div", { class: "stat" }, h("div", { class: "label" }, "duplicate rows"), h("div", { class: "value" }, String(p.duplicate_rows || 0))),
      p.target ? h("div", { class: "stat" }, h("div", { class: "label" }, "target"), h("div", { class: "value" }, p.target), h("div", { class: "sub" }, p.task || "")) : null),
    h("h2", {}, "Warnings"),
    (p.warnings || []).length ? h("ul", { class: "notes", id: "profile-warnings" }, p.warnings.map((w) => h("li", { class: sev[w.severity] || "" },
      h("strong", {}, w.severity), " ", w.column ? h("code", {}, w.column) : null, " ", w.message, h("span", { class: "muted" }, " — " + w.suggestion)))) : h("p", { class: "muted" }, "no warnings"),
    h("h2", {}, "Columns"),
    h("div", { class: "hscroll" }, h("table", { class: "plain", id: "profile-columns" },
      h("thead", {}, h("tr", {}, ["Column", "Type", "Role", "Missing %", "Distinct", "Min", "Mean", "Max", "Top values"].map((x, i) => h("th", { class: i >= 3 && i <= 7 ? "num" : null }, x)))),
      h("tbody", {}, p.columns.map((c) => h("tr", {},
        h("td", { class: "mono" }, c.name), h("td", {}, c.type), h("td", {}, c.role),
        h("td", { class: "num" + (c.missing_pct > 20 ? " warn" : "") }, fmtNum(Number(c.missing_pct || 0))),
        h("td", { class: "num" }, c.distinct), h("td", { class: "num" }, stat(c, "min")), h("td", { class: "num" }, stat(c, "mean")), h("td", { class: "num" }, stat(c, "max")),
        h("td", { class: "small muted" }, (c.top_values || []).slice(0, 4).map((v) => `${v.value} (${v.count})`).join(", "))))))),
    (p.notes || []).length ? [h("h2", {}, "Notes"), h("ul", { class: "notes" }, p.notes.map((n) => h("li", {}, n)))] : null);
}

// ---------------------------------------------------------------- compare

export async function comparePage(main) {
  const r = route();
  const ids = list(r.params, "runs").slice(0, 20);
  if (ids.length < 2) { put(main, h("h1", {}, "Compare runs"), h("p", { class: "muted" }, "Select 2 to 20 runs in an experiment's table, then Compare.")); return; }
  const runs = await Promise.all(ids.map((id) => api.get("runs/get", { run_id: id }).then((x) => x.run)));
  const data = runs.map(api.runData);
  const names = runs.map((x) => x.info.run_name || x.info.run_id.slice(0, 8));
  const allParams = [...new Set(data.flatMap((d) => Object.keys(d.params)))].sort();
  const allMetrics = [...new Set(data.flatMap((d) => Object.keys(d.metrics)))].sort();
  const head = h("thead", {}, h("tr", {}, h("th", {}, ""), runs.map((x, i) => h("th", {}, h("i", { class: "swatch", style: `background:${color(i)}` }), h("a", { href: `#/runs/${x.info.run_id}` }, names[i])))));
  const paramRows = allParams.map((k) => {
    const vals = data.map((d) => d.params[k]);
    const differ = new Set(vals.map((v) => v ?? "")).size > 1;
    return h("tr", { class: differ ? "diff" : null }, h("th", { class: "mono" }, k), vals.map((v) => h("td", { class: "mono" }, v ?? "—")));
  });
  const metricRows = allMetrics.map((k) => {
    const vals = data.map((d) => (d.metrics[k] ? Number(d.metrics[k].value) : null));
    const finite = vals.filter((v) => v !== null && Number.isFinite(v));
    const best = finite.length ? (lowerIsBetter(k) ? Math.min(...finite) : Math.max(...finite)) : null;
    return h("tr", {}, h("th", { class: "mono" }, k, h("span", { class: "muted" }, lowerIsBetter(k) ? " ↓" : " ↑")),
      vals.map((v) => h("td", { class: "num" + (v !== null && v === best && finite.length > 1 ? " best" : "") }, v === null ? "—" : fmtNum(v), v !== null && v === best && finite.length > 1 ? " ★" : "")));
  });
  const charts = h("div", { class: "charts" });
  const explore = exploreCharts(r, runs, data, names, allParams, allMetrics);
  put(main, 
    h("h1", {}, `Compare ${runs.length} runs`),
    h("h2", {}, "Parameters ", h("span", { class: "muted small" }, "(rows that differ are highlighted)")),
    h("div", { class: "hscroll" }, h("table", { class: "plain compare", id: "compare-params" }, head, h("tbody", {}, paramRows))),
    h("h2", {}, "Metrics ", h("span", { class: "muted small" }, "(★ best; ↓ lower is better)")),
    h("div", { class: "hscroll" }, h("table", { class: "plain compare", id: "compare-metrics" }, head.cloneNode(true), h("tbody", {}, metricRows))),
    explore,
    h("h2", {}, "Histories"), charts);
  const figs = [];
  for (const k of allMetrics.slice(0, 12)) {
    const series = await Promise.all(runs.map(async (x, i) => ({
      label: names[i],
      points: x.data && data[i].metrics[k] ? (await api.metricHistory(x.info.run_id, k)).map((m) => ({ x: Number(m.step), y: Number(m.value) })).sort((a, b) => a.x - b.x) : [],
    })));
    figs.push(h("figure", { class: "card", "data-metric": k }, h("figcaption", {}, k), lineChart(series), legend(series)));
  }
  charts.replaceChildren(...figs);
}

/// The parallel-coordinates chart (the params that differ, then the chosen metric, lines
/// coloured by it) and a scatter of any two params or metrics; choices live in the URL.
function exploreCharts(r, runs, data, names, allParams, allMetrics) {
  const differing = allParams.filter((k) => new Set(data.map((d) => d.params[k] ?? "")).size > 1);
  const metricVal = (d, k) => (d.metrics[k] ? Number(d.metrics[k].value) : null);
  const metric = allMetrics.includes(r.params.get("pm")) ? r.params.get("pm") : allMetrics[0];
  const choices = [...allMetrics.map((k) => "metrics." + k), ...allParams.map((k) => "params." + k)];
  const valueOf = (d, spec) => (spec.startsWith("metrics.") ? metricVal(d, spec.slice(8)) : d.params[spec.slice(7)] ?? null);
  const sx = choices.includes(r.params.get("sx")) ? r.params.get("sx") : (differing[0] ? "params." + differing[0] : choices[1] || choices[0]);
  const sy = choices.includes(r.params.get("sy")) ? r.params.get("sy") : (metric ? "metrics." + metric : choices[0]);
  const rerender = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  const select = (id, value, options, key) => h("select", { id, onchange: (e) => { setParams({ [key]: e.target.value }); rerender(); } },
    options.map((o) => h("option", { value: o, selected: o === value }, o)));
  if (!metric) return null;
  const vals = data.map((d) => metricVal(d, metric));
  const finite = vals.filter((v) => v !== null && Number.isFinite(v));
  const lo = Math.min(...finite), hi = Math.max(...finite);
  const higher = !lowerIsBetter(metric);
  const lines = runs.map((x, i) => ({ label: names[i], color: rampColor(vals[i], lo, hi, higher) }));
  const dims = [...differing.map((k) => ({ name: k, values: data.map((d) => d.params[k] ?? null) })), { name: metric, values: vals }];
  const points = runs.map((x, i) => ({ x: valueOf(data[i], sx), y: valueOf(data[i], sy), label: names[i], color: color(i) }));
  return h("div", {},
    h("h2", {}, "Parameters against a metric"),
    h("div", { class: "controls" }, h("label", {}, "metric: ", select("pc-metric", metric, allMetrics, "pm")),
      h("span", { class: "muted small" }, `${differing.length} parameter${differing.length === 1 ? "" : "s"} differ; lines from blue (worst) to orange (best ${metric})`)),
    h("figure", { class: "card wide", id: "parallel" }, parallelChart(dims, lines, { width: 900, height: 300 })),
    h("h2", {}, "Scatter"),
    h("div", { class: "controls" }, h("label", {}, "x: ", select("scatter-x", sx, choices, "sx")), h("label", {}, "y: ", select("scatter-y", sy, choices, "sy"))),
    h("figure", { class: "card wide", id: "scatter" }, scatterChart(points, { xLabel: sx, yLabel: sy, width: 900, height: 320 }),
      legend(points.map((p) => ({ label: p.label, color: p.color })))));
}

// ---------------------------------------------------------------- registry

export async function modelsPage(main) {
  const r = await api.get("registered-models/search", { max_results: 1000 });
  const models = r.registered_models || [];
  put(main, h("h1", {}, "Registered models"),
    models.length ? h("table", { class: "plain", id: "models" },
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Latest version"), h("th", {}, "Aliases"), h("th", {}, "Updated"))),
      h("tbody", {}, models.map((m) => h("tr", {},
        h("td", {}, h("a", { href: `#/models/${encodeURIComponent(m.name)}` }, m.name)),
        h("td", {}, (m.latest_versions || []).map((v) => "v" + v.version).join(", ")),
        h("td", {}, (m.aliases || []).map((a) => h("span", { class: "alias" }, a.alias + " → v" + a.version))),
        h("td", {}, fmtTime(m.last_updated_timestamp))))))
      : h("p", { class: "muted" }, "No registered models. `whet train … --register NAME` registers one."));
}

/// The newest review, compare and drift run of each version of a model, from the runs those
/// commands record (tagged with the model's name and version), across experiments.
async function checksOf(name) {
  const exps = await api.post("experiments/search", { max_results: 1000, view_type: "ACTIVE_ONLY" });
  const ids = (exps.experiments || []).map((e) => e.experiment_id);
  if (!ids.length) return {};
  const r = await api.post("runs/search", {
    experiment_ids: ids,
    filter: `tags.\`whet.model.name\` = '${name.replace(/'/g, "\\'")}'`,
    order_by: ["attributes.start_time DESC"],
    max_results: 1000,
  }).catch(() => ({}));
  const out = {};
  for (const run of r.runs || []) {
    const { tags, metrics } = api.runData(run);
    const kind = tags["whet.kind"], version = tags["whet.model.version"];
    if (!version || !["review", "compare", "drift"].includes(kind)) continue;
    const slot = (out[version] ||= {});
    if (slot[kind]) continue;
    slot[kind] = { run, tags, metrics };
  }
  return out;
}

function checkLinks(c) {
  const link = (x, text, cls) => h("a", { href: `#/runs/${x.run.info.run_id}`, class: "check " + (cls || ""), title: fmtTime(x.run.info.end_time || x.run.info.start_time) }, text);
  const parts = [];
  if (c.review) {
    const w = c.review.metrics.check_warnings ? Number(c.review.metrics.check_warnings.value) : 0;
    parts.push(link(c.review, w ? `review: ${w} warning${w === 1 ? "" : "s"}` : "review ✓", w ? "warn" : "good"));
  }
  if (c.compare) {
    const v = c.compare.tags["whet.compare.verdict"] || "compared";
    parts.push(link(c.compare, "compare: " + v.replace(/_/g, " "), v === "better" ? "good" : v === "worse" ? "bad" : ""));
  }
  if (c.drift) {
    const v = c.drift.tags["whet.drift.verdict"] || "";
    parts.push(link(c.drift, v === "drift" ? "drift: " + (c.drift.tags["whet.drift.columns"] || "yes") : "no drift", v === "drift" ? "bad" : "good"));
  }
  if (!parts.length) return h("span", { class: "muted small" }, "none yet");
  return parts.flatMap((p, i) => (i ? [" · ", p] : [p]));
}

export async function modelPage(main, name) {
  const [m, vs, hist] = await Promise.all([
    api.get("registered-models/get", { name }),
    api.get("model-versions/search", { filter: `name = '${name.replace(/'/g, "\\'")}'`, max_results: 1000 }),
    api.get(api.ALIAS_HISTORY, { name }).catch(() => null),
  ]);
  const model = m.registered_model;
  const checks = await checksOf(name);
  const aliasesOf = {};
  for (const a of model.aliases || []) (aliasesOf[a.version] ||= []).push(a.alias);
  const versions = (vs.model_versions || []).sort((a, b) => Number(b.version) - Number(a.version));
  // Each version's run: its dataset and scores (the newest 50 versions).
  const runOf = {};
  await Promise.all(versions.slice(0, 50).filter((v) => v.run_id).map(async (v) => {
    try { runOf[v.version] = (await api.get("runs/get", { run_id: v.run_id })).run; } catch { /* deleted run */ }
  }));
  const scores = (run) => {
    if (!run) return "";
    const { metrics, tags } = api.runData(run);
    const metric = tags["whet.metric"];
    const keys = metric ? ["cv_" + metric, "test_" + metric].filter((k) => metrics[k]) : Object.keys(metrics).sort().slice(0, 3);
    return keys.map((k) => k + " " + fmtNum(Number(metrics[k].value))).join(" · ");
  };
  const datasetOf = (run) => {
    const inputs = (run && run.inputs && run.inputs.dataset_inputs) || [];
    return inputs.length ? h("a", { href: `#/datasets/${run.info.run_id}/0` }, (inputs[0].dataset || {}).name || "dataset") : "";
  };
  const moves = hist ? (hist.alias_history || []).slice().sort((a, b) => b.moved_time - a.moved_time) : [];
  put(main, 
    h("p", { class: "crumbs" }, h("a", { href: "#/models" }, "Models"), " / ", name),
    h("h1", {}, name),
    model.description ? h("p", {}, model.description) : null,
    h("h2", {}, "Versions"),
    h("table", { class: "plain", id: "versions" },
      h("thead", {}, h("tr", {}, h("th", {}, "Version"), h("th", {}, "Aliases"), h("th", {}, "Run"), h("th", {}, "Dataset"), h("th", {}, "Scores"), h("th", { title: "the latest whet review, compare and drift runs of this version" }, "Checks"), h("th", {}, "Source"), h("th", {}, "Registered by"), h("th", {}, "Created"))),
      h("tbody", {}, versions.map((v) => h("tr", { "data-version": v.version },
        h("td", {}, "v" + v.version),
        h("td", {}, (aliasesOf[v.version] || []).map((a) => h("span", { class: "alias" }, a))),
        h("td", {}, v.run_id ? [h("a", { href: `#/runs/${v.run_id}`, class: "mono" }, v.run_id.slice(0, 8)), " ", h("a", { href: `#/studies/${v.run_id}`, class: "small" }, "study")] : ""),
        h("td", {}, datasetOf(runOf[v.version])),
        h("td", { class: "small mono" }, scores(runOf[v.version])),
        h("td", { class: "checks" }, checkLinks(checks[v.version] || {})),
        h("td", { class: "mono small" }, v.source || ""),
        h("td", {}, v.user_id || ""),
        h("td", {}, fmtTime(v.creation_timestamp)))))),
    h("h2", {}, "Alias history"),
    moves.length ? h("table", { class: "plain", id: "alias-history" },
      h("thead", {}, h("tr", {}, h("th", {}, "When"), h("th", {}, "Alias"), h("th", {}, "From"), h("th", {}, "To"), h("th", {}, "By"))),
      h("tbody", {}, moves.map((x) => h("tr", {}, h("td", {}, fmtTime(x.moved_time)), h("td", {}, x.alias),
        h("td", {}, x.previous_version === null || x.previous_version === undefined ? "—" : "v" + x.previous_version),
        h("td", {}, x.version === null || x.version === undefined ? "removed" : "v" + x.version), h("td", {}, x.user_id || "")))))
      : h("p", { class: "muted" }, "no alias moves recorded"));
}
