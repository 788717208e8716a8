// The study page of a `whet train` run: how the search went (best score over time, overall and
// per learner), the leaderboard of trials, what the final model is (ensemble weights, bag or
// refit and why), its scores, the version it registered and the data warnings the study acted
// on. Trials are the study's child runs; the rest is the study's report (`study.json`), which
// exists once the study has finished. A running study refreshes every 2 s.

import * as api from "/ui/api.js";
import { h, put, route, setParams, fmtTime, runDuration, statusBadge, lowerIsBetter } from "/ui/pages.js";
import { lineChart, legend, fmtNum, fmtDuration, color } from "/ui/chart.js";

/// Every child run of a study, following page tokens.
async function trialsOf(experimentId, studyId) {
  const out = [];
  let token = null;
  do {
    const r = await api.post("runs/search", {
      experiment_ids: [experimentId],
      filter: `tags.mlflow.parentRunId = '${studyId}'`,
      max_results: 1000,
      page_token: token,
    });
    for (const run of r.runs || []) out.push(run);
    token = r.next_page_token || null;
  } while (token);
  return out;
}

/// The study's report, or null while it runs (or for a study from before reports were kept).
async function reportOf(info) {
  const url = api.artifactUrl(info.artifact_uri, "study.json");
  if (!url || info.status === "RUNNING") return null;
  return api.get(url).catch(() => null);
}

function trialRows(runs, metric) {
  return runs.map((run) => {
    const { metrics, params, tags } = api.runData(run);
    const learner = params.learner || "";
    const rest = Object.entries(params).filter(([k]) => k !== "learner");
    const score = metrics["cv_" + metric];
    const std = metrics["cv_" + metric + "_std"];
    const fit = metrics.fit_seconds;
    return {
      run,
      trial: Number(tags["whet.trial"] || 0),
      learner,
      params: rest,
      score: score ? Number(score.value) : null,
      std: std ? Number(std.value) : null,
      fit: fit ? Number(fit.value) : null,
      status: tags["whet.status"] || String(run.info.status || "").toLowerCase(),
      message: tags["whet.message"] || "",
      end: Number(run.info.end_time || 0),
    };
  });
}

/// Best score so far after each trial (by trial number or by time since the study started):
/// one series overall and one per learner.
function bestOverTime(rows, higher, xTime, t0) {
  const done = rows.filter((r) => r.status === "completed" && r.score !== null && Number.isFinite(r.score));
  done.sort((a, b) => (xTime ? a.end - b.end : a.trial - b.trial));
  const better = (a, b) => (higher ? a > b : a < b);
  const series = [];
  const track = (label, subset) => {
    let best = null;
    const points = [];
    for (const r of subset) {
      if (best === null || better(r.score, best)) best = r.score;
      points.push({ x: xTime ? r.end - t0 : r.trial, y: best });
    }
    series.push({ label, points });
  };
  track("overall", done);
  const learners = [...new Set(done.map((r) => r.learner))].sort();
  for (const l of learners) track(l, done.filter((r) => r.learner === l));
  return series;
}

function stat(label, value, sub) {
  return h("div", { class: "stat" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), sub ? h("div", { class: "sub" }, sub) : null);
}

export async function studyPage(main, studyId, live) {
  const r = route();
  const { run } = await api.get("runs/get", { run_id: studyId });
  const info = run.info;
  const { metrics, params, tags } = api.runData(run);
  if (tags["whet.kind"] !== "study") {
    put(main, h("h1", {}, "Not a study"), h("p", {}, "Run ", h("a", { href: `#/runs/${studyId}` }, info.run_name || studyId), " was not made by `whet train`; its run page has everything logged."));
    return;
  }
  const metric = tags["whet.metric"] || params.metric || "";
  const higher = tags["whet.metric.direction"] ? tags["whet.metric.direction"] === "maximize" : !lowerIsBetter(metric);
  const [runs, report, versions] = await Promise.all([
    trialsOf(info.experiment_id, studyId),
    reportOf(info),
    api.get("model-versions/search", { filter: `run_id = '${studyId}'`, max_results: 100 }).catch(() => ({})),
  ]);
  const rows = trialRows(runs, metric);
  const byTrial = new Map(rows.map((x) => [x.trial, x]));
  const completed = rows.filter((x) => x.status === "completed" && x.score !== null);
  completed.sort((a, b) => (higher ? b.score - a.score : a.score - b.score) || a.trial - b.trial);
  const others = rows.filter((x) => !(x.status === "completed" && x.score !== null)).sort((a, b) => a.trial - b.trial);
  const counts = { completed: 0, pruned: 0, failed: 0, running: 0 };
  for (const x of rows) {
    if (x.run.info.status === "RUNNING") counts.running += 1;
    else if (x.status in counts) counts[x.status] += 1;
  }

  const xTime = r.params.get("x") === "time";
  const learnerFilter = r.params.get("learner") || "";
  const t0 = Number(info.start_time || 0);
  const series = bestOverTime(rows, higher, xTime, t0).map((s, i) => ({ ...s, color: color(i) }));
  const rerender = () => window.dispatchEvent(new HashChangeEvent("hashchange"));

  const cv = metrics["cv_" + metric] ? Number(metrics["cv_" + metric].value) : (report ? report.cv_score : null);
  const cvStd = metrics["cv_" + metric + "_std"] ? Number(metrics["cv_" + metric + "_std"].value) : (report ? report.cv_std : null);
  const tests = Object.keys(metrics).filter((k) => k.startsWith("test_")).sort();
  const mv = (versions.model_versions || [])[0];

  const cards = h("div", { class: "cards", id: "study-scores" },
    stat("CV " + metric + (higher ? " ↑" : " ↓"), cv === null || cv === undefined ? "—" : fmtNum(cv), cvStd !== null && cvStd !== undefined && Number.isFinite(cvStd) ? "± " + fmtNum(cvStd) + " over folds" : (report ? report.cv : params.cv || "")),
    metrics["test_" + metric] ? stat("test " + metric, fmtNum(Number(metrics["test_" + metric].value)), "held-out rows") : null,
    stat("trials", String(rows.length), `${counts.completed} completed · ${counts.pruned} pruned · ${counts.failed} failed` + (counts.running ? ` · ${counts.running} running` : "")),
    stat("duration", fmtDuration(runDuration(info)) || "—", report ? "stopped by " + String(report.stopped_by).replace(/_/g, " ") : (info.status === "RUNNING" ? "running" : "")),
    mv ? stat("registered", h("a", { href: `#/models/${encodeURIComponent(mv.name)}` }, `${mv.name} v${mv.version}`), (mv.aliases || []).length ? "aliases: " + mv.aliases.join(", ") : "no alias yet") : null);

  const dl = (k, v) => (v === null || v === undefined || v === "" ? null : [h("dt", {}, k), h("dd", {}, v)]);
  const setup = h("dl", { class: "info", id: "study-setup" },
    dl("Target", tags.target || ""),
    dl("Task", report ? report.task : ""),
    dl("Metric", metric + (higher ? " (higher is better)" : " (lower is better)")),
    dl("Validation", report ? report.cv : params.cv),
    dl("Learners", params.learners),
    dl("Rows × features", params.train_rows ? `${params.train_rows} × ${params.features}` : ""),
    dl("Budget", params.time_budget_seconds ? fmtDuration(Number(params.time_budget_seconds) * 1000) : params.trial_budget ? params.trial_budget + " trials" : ""),
    dl("Seed", params.seed),
    dl("Started", fmtTime(info.start_time)),
    dl("Run", h("a", { href: `#/runs/${studyId}` }, "run page (params, artifacts, tags)")));

  let finalBox = h("p", { class: "muted" }, info.status === "RUNNING" ? "The final model is built when the search ends." : "This study has no report (it failed, was stopped before the final model, or predates reports).");
  if (report) {
    const ens = report.ensemble;
    const used = report.final_model === "ensemble";
    const cmp = report.refit_comparison;
    finalBox = h("div", { id: "study-final" },
      h("p", {}, h("strong", {}, used ? "Ensemble" : "Best single trial"), ": ", report.final_model_detail),
      h("p", {}, "Final strategy: ", h("strong", {}, report.final_strategy),
        report.final_strategy === "bag" ? " — each member's fold models are averaged, so no model is fitted outside the validated folds." : " — each member is fitted once more on all training rows.",
        cmp ? h("span", { class: "muted" }, ` Compared in nested cross-validation on ${cmp.folds_compared} of ${cmp.folds} folds: bag ${fmtNum(cmp.bag_score)} vs refit ${fmtNum(cmp.refit_score)} (${cmp.refit_gain >= 0 ? "refit" : "bag"} ahead by ${fmtNum(Math.abs(cmp.refit_gain))} ± ${cmp.refit_gain_se === null ? "—" : fmtNum(cmp.refit_gain_se)} per fold).`) : null),
      ens ? h("div", {},
        h("p", { class: "muted small" }, `Ensemble out-of-fold ${metric} ${fmtNum(ens.cv_score)} vs best trial ${fmtNum(ens.best_trial_oof_score)} on the same rows${used ? "" : " (not used)"}.`),
        h("table", { class: "plain", id: "ensemble" },
          h("thead", {}, h("tr", {}, h("th", {}, "Trial"), h("th", {}, "Learner"), h("th", {}, "Weight"))),
          h("tbody", {}, ens.members.map((m) => {
            const t = byTrial.get(Number(m.trial));
            return h("tr", {},
              h("td", {}, t ? h("a", { href: `#/runs/${t.run.info.run_id}` }, "#" + m.trial) : "#" + m.trial),
              h("td", {}, m.learner),
              h("td", { class: "num" }, h("span", { class: "bar", style: `width:${Math.round(Number(m.weight) * 120)}px` }), fmtNum(Number(m.weight))));
          })))) : null,
      tests.length ? h("div", {}, h("h3", {}, "Test scores"),
        h("table", { class: "plain", id: "test-metrics" }, h("tbody", {}, tests.map((k) => h("tr", {}, h("th", { class: "mono" }, k.slice(5)), h("td", { class: "num" }, fmtNum(Number(metrics[k].value)))))))) : null);
  }

  const warnings = report ? [...report.warnings] : [];
  const dropped = report ? report.dropped_columns : [];
  const notes = report ? report.notes : [];
  const dataBox = report ? h("div", { id: "study-data" },
    dropped.length ? h("p", {}, "Columns not used: ", dropped.map((c, i) => [i ? ", " : "", h("code", {}, c)])) : null,
    warnings.length ? h("div", {}, h("h3", {}, "Data warnings the study acted on"), h("ul", { class: "notes warn-list" }, warnings.map((w) => h("li", { class: "warn" }, w)))) : h("p", { class: "muted" }, "No data warnings."),
    notes.length ? h("div", {}, h("h3", {}, "Decisions"), h("ul", { class: "notes" }, notes.map((n) => h("li", {}, n)))) : null) : null;

  // Leaderboard: completed trials best first, then the pruned and failed ones.
  const learners = [...new Set(rows.map((x) => x.learner).filter(Boolean))].sort();
  const shownRows = [...completed, ...others].filter((x) => !learnerFilter || x.learner === learnerFilter);
  const varying = new Set();
  const firstVal = new Map();
  for (const x of rows) for (const [k, v] of x.params) { if (!firstVal.has(k)) firstVal.set(k, v); else if (firstVal.get(k) !== v) varying.add(k); }
  const rankOf = new Map(completed.map((x, i) => [x.trial, i + 1]));
  const board = h("table", { class: "plain", id: "leaderboard" },
    h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Rank"), h("th", {}, "Trial"), h("th", {}, "Learner"), h("th", { class: "num" }, "CV " + metric), h("th", { class: "num" }, "± std"), h("th", { class: "num" }, "Fit"), h("th", {}, "Status"), h("th", {}, "Parameters"))),
    h("tbody", {}, shownRows.slice(0, 500).map((x) => h("tr", { "data-trial": x.trial, class: rankOf.get(x.trial) === 1 ? "top" : null },
      h("td", { class: "num" }, rankOf.get(x.trial) || ""),
      h("td", {}, h("a", { href: `#/runs/${x.run.info.run_id}` }, "#" + x.trial)),
      h("td", {}, x.learner),
      h("td", { class: "num" + (rankOf.get(x.trial) === 1 ? " best" : "") }, x.score === null ? "—" : fmtNum(x.score)),
      h("td", { class: "num muted" }, x.std === null || !Number.isFinite(x.std) || x.status !== "completed" ? "" : fmtNum(x.std)),
      h("td", { class: "num muted" }, x.fit === null ? "" : fmtDuration(x.fit * 1000)),
      h("td", { title: x.message }, x.run.info.status === "RUNNING" ? statusBadge("RUNNING") : x.status),
      h("td", { class: "params", title: x.params.map(([k, v]) => `${k}=${v}`).join("\n") }, x.params.filter(([k]) => varying.has(k)).map(([k, v]) => `${k}=${v}`).join("  "))))));
  const boardControls = h("div", { class: "controls" },
    h("label", {}, "learner: ", h("select", { id: "learner", onchange: (e) => { setParams({ learner: e.target.value || null }); rerender(); } },
      h("option", { value: "" }, "all"), learners.map((l) => h("option", { value: l, selected: l === learnerFilter }, l)))),
    h("span", { class: "muted small" }, shownRows.length > 500 ? `first 500 of ${shownRows.length}` : `${shownRows.length} trials`));

  const chartControls = h("div", { class: "controls" },
    h("label", {}, "x: ", h("select", { id: "study-x", onchange: (e) => { setParams({ x: e.target.value === "time" ? "time" : null }); rerender(); } },
      h("option", { value: "trial", selected: !xTime }, "trial"), h("option", { value: "time", selected: xTime }, "time since start"))));
  const chart = h("figure", { class: "card wide", id: "best-over-time" },
    h("figcaption", {}, `best CV ${metric} so far`),
    lineChart(series, { width: 900, height: 300, xLabel: xTime ? "time since the study started" : "trial", time: xTime }),
    legend(series));

  put(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/experiments" }, "Experiments"), " / ", h("a", { href: `#/experiments/${info.experiment_id}` }, "experiment " + info.experiment_id), " / study"),
    h("h1", {}, info.run_name || studyId, " ", statusBadge(info.status)),
    cards,
    h("div", { class: "cols2" },
      h("section", {}, h("h2", {}, "Setup"), setup),
      h("section", {}, h("h2", {}, "Final model"), finalBox)),
    h("h2", {}, "Search"), chartControls, chart,
    h("h2", {}, "Leaderboard"), boardControls, h("div", { class: "hscroll" }, board),
    report ? [h("h2", {}, "Data"), dataBox] : null);
  if (info.status === "RUNNING") live(() => studyPage(main, studyId, live));
}
