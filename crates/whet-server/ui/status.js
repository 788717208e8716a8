// The status page: what `whet status` shows, from the same report (GET /api/2.0/whet/status,
// docs/status.md): experiments in the window, studies running, models with their aliases and
// verdicts, and the plan with each step's command. The window and experiment are in the URL.

import * as api from "/ui/api.js";
import { h, put, route, setParams, fmtTime } from "/ui/pages.js";
import { fmtNum } from "/ui/chart.js";

const WINDOWS = ["1d", "7d", "30d", "90d"];

function shortId(id) { return (id || "").slice(0, 12); }
function day(ms) { return fmtTime(ms).split(" ")[0]; }
function runLink(id, text) { return h("a", { href: `#/runs/${id}`, class: "mono" }, text || shortId(id)); }

function trendCell(e) {
  if (!e.metric || !e.best) return h("td", { class: "muted" }, "no score");
  const arrow = e.metric.direction === "minimize" ? "↓" : "↑";
  const best = h("span", {}, e.metric.key, " ", arrow, " ", h("strong", {}, fmtNum(e.best.value)), " ", runLink(e.best.run_id));
  let move = null;
  if (e.trend === "improved") move = h("span", { class: "good" }, ` improved by ${fmtNum(e.gain)} from ${fmtNum(e.best_at_start.value)}`);
  else if (e.trend === "unchanged") move = h("span", { class: "muted" }, " no better study in the window");
  else if (e.trend === "first") move = h("span", { class: "good" }, " first score, in the window");
  return h("td", { "data-trend": e.trend }, best, move);
}

function experimentsTable(r) {
  if (!r.experiments.length) return h("p", { class: "muted" }, "No runs in the window.");
  return h("table", { class: "plain", id: "status-experiments" },
    h("thead", {}, h("tr", {}, h("th", {}, "Experiment"), h("th", { class: "num" }, "Runs"), h("th", { class: "num" }, "Studies"),
      h("th", { class: "num" }, "Failed"), h("th", { class: "num" }, "Killed"), h("th", {}, "Best score"))),
    h("tbody", {}, r.experiments.map((e) => h("tr", { "data-name": e.name },
      h("td", {}, h("a", { href: `#/experiments/${encodeURIComponent(e.experiment_id)}` }, e.name)),
      h("td", { class: "num" }, e.runs.total),
      h("td", { class: "num" }, e.studies),
      h("td", { class: "num" + (e.runs.failed ? " bad" : "") }, e.runs.failed),
      h("td", { class: "num" + (e.runs.killed ? " bad" : "") }, e.runs.killed),
      trendCell(e)))));
}

function attentionList(r) {
  const rows = r.experiments.flatMap((e) => e.attention.map((a) => ({ e, a })));
  if (!rows.length) return null;
  return [h("h2", {}, "Needs attention"),
    h("table", { class: "plain", id: "status-attention" },
      h("thead", {}, h("tr", {}, h("th", {}, "Experiment"), h("th", {}, "Run"), h("th", {}, "What"), h("th", {}, "When"), h("th", {}, "Error"))),
      h("tbody", {}, rows.map(({ e, a }) => h("tr", { "data-reason": a.reason },
        h("td", {}, e.name),
        h("td", {}, runLink(a.run_id, a.run_name)),
        h("td", { class: "bad" }, a.reason === "failed_trials" ? `${a.failed_trials} failed trial${a.failed_trials === 1 ? "" : "s"}` : `${a.kind || "run"} ${a.reason}`),
        h("td", {}, fmtTime(a.end_time || a.start_time)),
        h("td", { class: "small" }, a.error || "")))))];
}

function studiesTable(r) {
  if (!r.studies.length) return h("p", { class: "muted" }, "No study is running.");
  return h("table", { class: "plain", id: "status-studies" },
    h("thead", {}, h("tr", {}, h("th", {}, "Study"), h("th", {}, "Progress"), h("th", { class: "num" }, "Done"), h("th", { class: "num" }, "Running"),
      h("th", { class: "num" }, "Failed"), h("th", { class: "num" }, "Queued"), h("th", { class: "num" }, "Workers"), h("th", {}, "Best so far"), h("th", {}, "Ends"))),
    h("tbody", {}, r.studies.map((s) => h("tr", {},
      h("td", {}, s.experiment, " / ", runLink(s.run_id, s.run_name)),
      h("td", {}, s.progress === null ? "—" : h("span", {}, h("progress", { max: 1, value: s.progress }), ` ${Math.round(100 * s.progress)}%`)),
      h("td", { class: "num" }, s.trials.done + (s.trial_budget ? ` / ${s.trial_budget}` : "")),
      h("td", { class: "num" }, s.trials.running),
      h("td", { class: "num" }, s.trials.failed),
      h("td", { class: "num muted" }, s.trials.queued === null ? "—" : s.trials.queued),
      h("td", { class: "num" }, s.workers_alive === null ? "—" : s.workers_alive),
      h("td", {}, s.best_so_far === null ? "—" : `${s.metric ? s.metric.key + " " : ""}${fmtNum(s.best_so_far)}`),
      h("td", {}, s.estimated_finish ? fmtTime(s.estimated_finish) : "—")))));
}

function verdicts(v) {
  const parts = [];
  parts.push(v.review
    ? h("span", { class: "good" }, `review ${day(v.review.time)}${v.review.check_warnings ? ` (${v.review.check_warnings} warn)` : ""}`)
    : h("span", { class: "warn" }, "no review"));
  if (v.compare) {
    const cls = v.compare.verdict === "better" ? "good" : v.compare.verdict === "worse" ? "bad" : "warn";
    parts.push(h("span", { class: cls }, `compare ${v.compare.verdict} vs ${v.compare.against_version !== null ? "v" + v.compare.against_version : v.compare.against}`));
  }
  if (v.drift) {
    parts.push(v.drift.verdict === "drift"
      ? h("span", { class: "bad", title: v.drift.drifted.join(", ") }, `drift: ${v.drift.drifted.length} column${v.drift.drifted.length === 1 ? "" : "s"} (${day(v.drift.time)})`)
      : h("span", { class: "good" }, `no drift (${day(v.drift.time)})`));
  } else parts.push(h("span", { class: "muted" }, "no drift check"));
  return parts.flatMap((p, i) => (i ? [" · ", p] : [p]));
}

function modelsTable(r) {
  if (!r.models.length) return h("p", { class: "muted" }, "No registered models.");
  return h("table", { class: "plain", id: "status-models" },
    h("thead", {}, h("tr", {}, h("th", {}, "Model"), h("th", {}, "Version"), h("th", {}, "Aliases"), h("th", {}, "Since"), h("th", {}, "Verdicts"))),
    h("tbody", {}, r.models.flatMap((m) => (m.versions.length ? m.versions : [null]).map((v, i) => {
      const since = v && m.aliases.find((a) => a.alias === v.aliases[0]);
      return h("tr", { "data-model": m.name, "data-version": v ? v.version : "" },
        h("td", {}, i === 0 ? h("a", { href: `#/models/${encodeURIComponent(m.name)}` }, m.name) : ""),
        h("td", {}, v ? "v" + v.version : "—"),
        h("td", {}, v && v.aliases.length ? v.aliases.map((a) => h("span", { class: "alias" }, a)) : h("span", { class: "muted" }, "latest")),
        h("td", {}, since && since.since ? fmtTime(since.since) : ""),
        h("td", { class: "small" }, v ? verdicts(v) : ""));
    }))));
}

function planList(r) {
  if (!r.plan.length) return h("p", { class: "good", id: "status-plan-empty" }, "Nothing to do.");
  return h("ol", { class: "plan", id: "status-plan" }, r.plan.map((p) => h("li", { "data-kind": p.kind },
    h("span", { class: "kind" }, p.kind.replace("_", " ")), " ", p.text,
    h("div", { class: "cmd" }, h("code", {}, "$ " + p.command),
      h("button", { class: "link copy", title: "copy the command", onclick: () => navigator.clipboard && navigator.clipboard.writeText(p.command) }, "copy")))));
}

export async function statusPage(main, live) {
  const { params } = route();
  const since = params.get("since") || "7d";
  const experiment = params.get("experiment") || "";
  const r = await api.get(api.STATUS, { since, experiment });
  const windows = WINDOWS.includes(since) ? WINDOWS : [since, ...WINDOWS];
  const select = h("select", { id: "since", "aria-label": "window", onchange: (e) => { setParams({ since: e.target.value }); statusPage(main, live); } },
    windows.map((w) => h("option", { value: w, selected: w === since }, "last " + w)));
  put(main,
    h("h1", {}, "Status"),
    h("div", { class: "controls" }, select,
      h("span", { class: "muted" }, `since ${fmtTime(r.window.start_time)}`, experiment ? ` · experiment ${experiment}` : "", ` · ${r.store}`)),
    h("h2", {}, "Plan"), planList(r),
    h("h2", {}, "Experiments"), experimentsTable(r),
    attentionList(r),
    h("h2", {}, "Studies running"), studiesTable(r),
    h("h2", {}, "Models"), modelsTable(r));
  // Running studies move: re-read the report while any is running.
  if (r.studies.length) live(() => statusPage(main, live));
}
