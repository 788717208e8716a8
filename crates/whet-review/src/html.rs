//! The review and the comparison as self-contained HTML pages (inline CSS and SVG, no scripts
//! or fetches), written to be read by a team: headings that say what a section answers,
//! numbers with their intervals, verdicts in words.

use std::fmt::Write;

use whet_data::Task;
use whet_data::report::escape;

use crate::bootstrap::Estimate;
use crate::compare::{Comparison, Verdict};
use crate::review::{CheckVerdict, Review};
use crate::svg::{BLUE, Chart, GREEN, GREY, ORANGE, RED, padded_range, value_color};

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1180px;padding:0 1.5rem;color:#1d2330;background:#fafbfc;line-height:1.45}\
h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2.2rem 0 .6rem;padding-bottom:.3rem;border-bottom:2px solid #e3e6ea}h3{font-size:1rem;margin:1.2rem 0 .4rem}\
.meta{color:#5b6472;margin-bottom:1rem}table{border-collapse:collapse;background:#fff;margin:.4rem 0 1rem}\
th,td{border-bottom:1px solid #e3e6ea;padding:.35rem .7rem;text-align:left;vertical-align:top;font-size:.9rem}\
th{background:#f0f2f5}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.ci{color:#5b6472}.pass{color:#2e7d32;font-weight:600}.warn{color:#b3261e;font-weight:600}.nc{color:#5b6472;font-weight:600}\
.banner{padding:1rem 1.2rem;border-radius:.5rem;margin:1rem 0;font-size:1.05rem;background:#fff;border-left:6px solid #8a94a3}\
.banner.better{border-color:#2e7d32}.banner.worse{border-color:#b3261e}.banner.indistinguishable{border-color:#d9822b}\
.banner b{font-size:1.2rem}.grid{display:flex;flex-wrap:wrap;gap:1.2rem}figure{margin:0;background:#fff;border:1px solid #e3e6ea;border-radius:.4rem;padding:.5rem}\
figcaption{font-size:.85rem;color:#5b6472;text-align:center;margin-top:.2rem}tr.flag td{background:#fdecea}tr.opt td{background:#eaf4ea}\
.small{color:#5b6472;font-size:.85rem}.bar{display:inline-block;height:.7rem;background:#2f6db5;vertical-align:middle;margin-right:.4rem}\
ul.checks{list-style:none;padding:0}ul.checks li{background:#fff;border:1px solid #e3e6ea;border-radius:.4rem;padding:.6rem .8rem;margin:.4rem 0}\
code{background:#f0f2f5;padding:0 .25rem;border-radius:.2rem}";

fn num(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-4) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// Counts and costs: no trailing zeros.
fn short(v: f64) -> String {
    whet_data::report::fmt_short(v)
}

fn signed(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:+.3e}")
    } else {
        format!("{v:+.4}")
    }
}

fn ci(e: &Estimate) -> String {
    if e.lo.is_nan() {
        "<span class=\"ci\">—</span>".into()
    } else {
        format!("<span class=\"ci\">{} – {}</span>", num(e.lo), num(e.hi))
    }
}

fn head(h: &mut String, title: &str) {
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
}

fn verdict_class(v: CheckVerdict) -> (&'static str, &'static str) {
    match v {
        CheckVerdict::Pass => ("pass", "PASS"),
        CheckVerdict::Warn => ("warn", "WARNING"),
        CheckVerdict::NotChecked => ("nc", "NOT CHECKED"),
    }
}

fn roc_chart(r: &Review) -> Option<String> {
    let b = r.binary.as_ref()?;
    let auc = r.metrics.iter().find(|m| m.def.name == "roc_auc")?;
    let mut c = Chart::new(360.0, 320.0, (0.0, 1.0), (0.0, 1.0));
    c.axes("false positive rate", "true positive rate");
    c.polyline(&[(0.0, 0.0), (1.0, 1.0)], GREY, 1.0, true);
    c.polyline(&b.roc, BLUE, 2.0, false);
    Some(c.finish(&format!(
        "ROC curve — AUC {} ({})",
        num(auc.estimate.value),
        ci_text(&auc.estimate)
    )))
}

fn ci_text(e: &Estimate) -> String {
    if e.lo.is_nan() {
        "no interval".into()
    } else {
        format!("95% CI {} – {}", num(e.lo), num(e.hi))
    }
}

fn pr_chart(r: &Review) -> Option<String> {
    let b = r.binary.as_ref()?;
    let ap = r.metrics.iter().find(|m| m.def.name == "pr_auc")?;
    let mut c = Chart::new(360.0, 320.0, (0.0, 1.0), (0.0, 1.0));
    c.axes("recall", "precision");
    c.polyline(&[(0.0, b.prevalence), (1.0, b.prevalence)], GREY, 1.0, true);
    c.polyline(&b.pr, ORANGE, 2.0, false);
    Some(c.finish(&format!(
        "Precision–recall — AP {} ({}); dashed: random ranking",
        num(ap.estimate.value),
        ci_text(&ap.estimate)
    )))
}

fn calibration_chart(r: &Review) -> Option<String> {
    let bins = r.calibration.as_ref()?;
    let ece = r.metrics.iter().find(|m| m.def.name == "ece")?;
    let mut c = Chart::new(360.0, 320.0, (0.0, 1.0), (0.0, 1.0));
    let what = if r.model.task == Task::Binary {
        "predicted probability"
    } else {
        "confidence of the predicted class"
    };
    c.axes(what, "observed frequency");
    c.polyline(&[(0.0, 0.0), (1.0, 1.0)], GREY, 1.0, true);
    // Bars at the bottom show where the predictions fall (share of rows per bin, scaled).
    let max = bins.iter().map(|b| b.rows).max().unwrap_or(1).max(1) as f64;
    for b in bins {
        c.bar(
            b.lo + 0.01,
            b.hi - 0.01,
            0.0,
            0.15 * b.rows as f64 / max,
            "#dde6f2",
        );
    }
    let pts: Vec<(f64, f64)> = bins
        .iter()
        .filter(|b| b.rows > 0)
        .map(|b| (b.mean_predicted, b.observed))
        .collect();
    c.polyline(&pts, BLUE, 2.0, false);
    // A bin of few rows is noisy: its dot is drawn small.
    let size: Vec<f64> = bins
        .iter()
        .filter(|b| b.rows > 0)
        .map(|b| 1.5 + 4.5 * (b.rows as f64 / max).sqrt())
        .collect();
    for (p, r) in pts.iter().zip(&size) {
        c.points(std::slice::from_ref(p), *r, 1.0, |_| BLUE.into());
    }
    Some(c.finish(&format!(
        "Reliability diagram — ECE {} ({}); bars and dot sizes: rows per bin",
        num(ece.estimate.value),
        ci_text(&ece.estimate)
    )))
}

fn per_class_table(h: &mut String, r: &Review) {
    let find = |name: String| {
        r.metrics
            .iter()
            .find(|m| m.def.name == name)
            .map(|m| m.estimate)
    };
    h.push_str("<h3>Per class</h3><table><tr><th>class</th><th>rows</th><th>precision</th><th>95% interval</th><th>recall</th><th>95% interval</th><th>F1</th><th>95% interval</th></tr>");
    for (k, c) in r.model.classes.iter().enumerate() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td>",
            escape(c),
            r.data.class_rows.get(k).copied().unwrap_or(0)
        );
        for what in ["precision", "recall", "f1"] {
            match find(format!("{what}[{c}]")) {
                Some(e) => {
                    let _ = write!(
                        h,
                        "<td class=\"num\"><b>{}</b></td><td class=\"num\">{}</td>",
                        num(e.value),
                        ci(&e)
                    );
                }
                None => h.push_str("<td></td><td></td>"),
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn confusion_table(h: &mut String, r: &Review) {
    let Some(cm) = &r.confusion else { return };
    let _ = write!(
        h,
        "<h3>Confusion matrix</h3><p class=\"small\">Rows: true class; columns: predicted class{}.</p><table><tr><th>true \\ predicted</th>",
        if r.model.task == Task::Binary {
            format!(" at threshold {}", num(r.threshold.unwrap_or(0.5)))
        } else {
            String::new()
        }
    );
    for c in &cm.classes {
        let _ = write!(h, "<th>{}</th>", escape(c));
    }
    h.push_str("<th>recall</th></tr>");
    for (i, row) in cm.matrix.iter().enumerate() {
        let total: u64 = row.iter().sum();
        let _ = write!(h, "<tr><th>{}</th>", escape(&cm.classes[i]));
        for (j, v) in row.iter().enumerate() {
            let share = if total > 0 {
                *v as f64 / total as f64
            } else {
                0.0
            };
            let bg = if i == j {
                format!("rgba(46,125,50,{:.2})", 0.08 + 0.5 * share)
            } else {
                format!("rgba(179,38,30,{:.2})", 0.6 * share)
            };
            let _ = write!(h, "<td class=\"num\" style=\"background:{bg}\">{v}</td>");
        }
        let recall = if total > 0 {
            row[i] as f64 / total as f64
        } else {
            f64::NAN
        };
        let _ = write!(h, "<td class=\"num\">{}</td></tr>", num(recall));
    }
    h.push_str("</table>");
}

fn threshold_table(h: &mut String, r: &Review) {
    let Some(b) = &r.binary else { return };
    let _ = write!(
        h,
        "<h3>Thresholds</h3><p>Best F1 at threshold <b>{}</b> (F1 {}, precision {}, recall {}). Lowest cost at <b>{}</b> (cost {} with a false positive costing {} and a false negative {}; set <code>--cost-fp</code>/<code>--cost-fn</code>).</p>",
        num(b.f1_optimal.threshold),
        num(b.f1_optimal.f1),
        num(b.f1_optimal.precision),
        num(b.f1_optimal.recall),
        num(b.cost_optimal.threshold),
        short(b.cost_optimal.cost),
        short(b.cost_fp),
        short(b.cost_fn)
    );
    h.push_str("<table><tr><th>threshold</th><th>precision</th><th>recall</th><th>F1</th><th>true pos.</th><th>false pos.</th><th>false neg.</th><th>true neg.</th><th>cost</th></tr>");
    let mut rows = b.table.clone();
    for extra in [&b.f1_optimal, &b.cost_optimal] {
        if !rows
            .iter()
            .any(|t| (t.threshold - extra.threshold).abs() < 1e-12)
        {
            rows.push(extra.clone());
        }
    }
    rows.sort_by(|a, b| a.threshold.total_cmp(&b.threshold));
    for t in rows {
        let mut tags = Vec::new();
        if (t.threshold - b.f1_optimal.threshold).abs() < 1e-12 {
            tags.push("best F1");
        }
        if (t.threshold - b.cost_optimal.threshold).abs() < 1e-12 {
            tags.push("lowest cost");
        }
        if r.threshold.is_some_and(|x| (x - t.threshold).abs() < 1e-12) {
            tags.push("used");
        }
        let class = if tags.iter().any(|t| *t != "used") {
            " class=\"opt\""
        } else {
            ""
        };
        let _ = write!(
            h,
            "<tr{class}><td class=\"num\">{}{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            num(t.threshold),
            if tags.is_empty() {
                String::new()
            } else {
                format!(" <span class=\"small\">({})</span>", tags.join(", "))
            },
            num(t.precision),
            num(t.recall),
            num(t.f1),
            t.tp,
            t.fp,
            t.fn_,
            t.tn,
            short(t.cost)
        );
    }
    h.push_str("</table>");
}

fn regression_charts(h: &mut String, r: &Review) {
    let Some(g) = &r.regression else { return };
    let (lo, hi) = padded_range(g.points.iter().flat_map(|p| [p.0, p.1]));
    let mut c = Chart::new(360.0, 320.0, (lo, hi), (lo, hi));
    c.axes("predicted", "actual");
    c.polyline(&[(lo, lo), (hi, hi)], GREY, 1.0, true);
    c.points(&g.points, 2.0, 0.35, |_| BLUE.into());
    h.push_str("<div class=\"grid\">");
    h.push_str(&c.finish("Predicted vs actual (dashed: perfect)"));
    let res: Vec<(f64, f64)> = g.points.iter().map(|p| (p.0, p.1 - p.0)).collect();
    let (xl, xh) = padded_range(res.iter().map(|p| p.0));
    let (yl, yh) = padded_range(res.iter().map(|p| p.1));
    let mut c = Chart::new(360.0, 320.0, (xl, xh), (yl, yh));
    c.axes("predicted", "residual (actual − predicted)");
    c.polyline(&[(xl, 0.0), (xh, 0.0)], GREY, 1.0, true);
    c.points(&res, 2.0, 0.35, |_| ORANGE.into());
    h.push_str(&c.finish("Residuals vs predicted"));
    if g.residual_edges.len() > 1 {
        let max = g.residual_counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        let first = g.residual_edges[0];
        let last = *g.residual_edges.last().unwrap_or(&first);
        let mut c = Chart::new(360.0, 320.0, (first, last), (0.0, max * 1.05));
        c.axes("residual", "rows");
        for (i, &n) in g.residual_counts.iter().enumerate() {
            c.bar(
                g.residual_edges[i],
                g.residual_edges[i + 1],
                0.0,
                n as f64,
                "#8fb0d9",
            );
        }
        c.vline(0.0, RED);
        h.push_str(&c.finish(&format!(
            "Residual histogram — mean {}, sd {}",
            num(g.residual_mean),
            num(g.residual_std)
        )));
    }
    h.push_str("</div>");
}

fn explanations(h: &mut String, r: &Review) {
    let Some(ex) = &r.explanations else { return };
    let _ = write!(
        h,
        "<h2>What drives the predictions</h2><p class=\"small\">Permutation importance: how much the loss ({}) grows when a column's values are shuffled, on {} rows, {} shuffles per column, with a 95% interval. A column whose interval reaches 0 may not matter at all.</p>",
        if r.model.task == Task::Regression {
            "squared error"
        } else {
            "log loss per row"
        },
        ex.rows_used,
        ex.repeats
    );
    let top: Vec<_> = ex.importance.iter().take(15).collect();
    if !top.is_empty() {
        let n = top.len() as f64;
        let max = top
            .iter()
            .map(|i| i.permutation.hi.max(i.permutation.value))
            .fold(0.0f64, f64::max)
            .max(1e-12);
        let min = top
            .iter()
            .map(|i| i.permutation.lo.min(i.permutation.value))
            .fold(0.0f64, f64::min);
        let mut c = Chart::new(
            560.0,
            40.0 + 22.0 * n + 20.0,
            (min, max * 1.05),
            (-0.5, n - 0.5),
        )
        .with_left(170.0);
        c.axes("loss increase when shuffled", "");
        c.vline(0.0, GREY);
        for (i, imp) in top.iter().enumerate() {
            let y = n - 1.0 - i as f64;
            c.row_label(y, &imp.column);
            c.whisker(
                y,
                imp.permutation.lo,
                imp.permutation.value,
                imp.permutation.hi,
                if imp.permutation.lo > 0.0 { BLUE } else { GREY },
            );
        }
        h.push_str("<div class=\"grid\">");
        h.push_str(&c.finish(
            "Permutation importance with 95% intervals (grey: not distinguishable from 0)",
        ));
        h.push_str("</div>");
    }
    let has_gain = ex.importance.iter().any(|i| i.gain_share.is_some());
    let has_shap = ex.importance.iter().any(|i| i.mean_abs_shap.is_some());
    h.push_str("<table><tr><th>column</th><th>permutation importance</th><th>95% interval</th>");
    if has_gain {
        h.push_str("<th>share of split gain</th>");
    }
    if has_shap {
        h.push_str("<th>mean |SHAP|</th>");
    }
    h.push_str("</tr>");
    for i in &ex.importance {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            escape(&i.column),
            num(i.permutation.value),
            ci(&i.permutation)
        );
        if has_gain {
            let g = i.gain_share.unwrap_or(f64::NAN);
            let _ = write!(
                h,
                "<td class=\"num\"><span class=\"bar\" style=\"width:{:.0}px\"></span>{:.1}%</td>",
                80.0 * g.max(0.0),
                100.0 * g
            );
        }
        if has_shap {
            let _ = write!(
                h,
                "<td class=\"num\">{}</td>",
                num(i.mean_abs_shap.unwrap_or(f64::NAN))
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    match (&ex.shap, &ex.shap_note) {
        (Some(s), _) => {
            let _ = write!(
                h,
                "<h3>SHAP values</h3><p class=\"small\">{}; units: {}; expected value {}. Each dot is a row: its position is how much the column moved that row's prediction, its colour the column's value (blue low, red high, grey categorical or missing).</p>",
                escape(&s.method),
                escape(&s.units),
                s.expected_value
                    .iter()
                    .map(|v| num(*v))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if !s.beeswarm.is_empty() {
                let n = s.beeswarm.len() as f64;
                let (lo, hi) =
                    padded_range(s.beeswarm.iter().flat_map(|(_, v)| v.iter().map(|p| p.0)));
                let mut c = Chart::new(640.0, 40.0 + 30.0 * n + 20.0, (lo, hi), (-0.5, n - 0.5))
                    .with_left(170.0);
                c.axes("SHAP value (effect on the prediction)", "");
                c.vline(0.0, GREY);
                for (i, (col, pts)) in s.beeswarm.iter().enumerate() {
                    let y = n - 1.0 - i as f64;
                    c.row_label(y, col);
                    // Deterministic vertical jitter so overlapping dots stay visible.
                    let placed: Vec<(f64, f64)> = pts
                        .iter()
                        .enumerate()
                        .map(|(k, p)| (p.0, y + ((k * 7919 % 97) as f64 / 97.0 - 0.5) * 0.6))
                        .collect();
                    c.points(&placed, 2.2, 0.7, |k| value_color(pts[k].1));
                }
                h.push_str("<div class=\"grid\">");
                h.push_str(&c.finish("SHAP summary (beeswarm), top columns"));
                h.push_str("</div>");
            }
            if !s.dependence.is_empty() {
                h.push_str("<h3>Dependence of the prediction on the top numeric columns</h3><div class=\"grid\">");
                for (col, pts) in &s.dependence {
                    let (xl, xh) = padded_range(pts.iter().map(|p| p.0));
                    let (yl, yh) = padded_range(pts.iter().map(|p| p.1));
                    let mut c = Chart::new(360.0, 280.0, (xl, xh), (yl, yh));
                    c.axes(col, "SHAP value");
                    c.points(pts, 2.2, 0.5, |_| BLUE.into());
                    h.push_str(&c.finish(&format!("SHAP dependence: {col}")));
                }
                h.push_str("</div>");
            }
        }
        (None, Some(note)) => {
            let _ = write!(
                h,
                "<p class=\"small\">No SHAP values: {}.</p>",
                escape(note)
            );
        }
        _ => {}
    }
    if !ex.confident_errors.is_empty() {
        let what = if r.model.task == Task::Regression {
            "The largest errors"
        } else {
            "The most confident mistakes"
        };
        let _ = write!(
            h,
            "<h3>{what}</h3><table><tr><th>DATA row</th><th>actual</th><th>predicted</th><th>largest contributions (SHAP)</th></tr>"
        );
        for e in &ex.confident_errors {
            let contrib = if e.contributions.is_empty() {
                "—".to_string()
            } else {
                e.contributions
                    .iter()
                    .map(|(c, v)| format!("{} {}", escape(c), signed(*v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = write!(
                h,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{contrib}</td></tr>",
                e.row,
                escape(&e.actual),
                escape(&e.predicted)
            );
        }
        h.push_str("</table>");
    }
}

fn slices(h: &mut String, r: &Review) {
    let s = &r.slices;
    let flagged = s.slices.iter().filter(|x| x.significantly_worse).count();
    let _ = write!(
        h,
        "<h2>Where does it fail? Slices</h2><p>{} on the whole data: <b>{}</b>. {} of {} slices (levels of categorical columns, quartiles of numeric ones, at least {} rows each) are <b>significantly worse</b>: their 95% interval lies entirely on the worse side of the whole-data value. They come first, by impact (rows × shortfall).</p>",
        escape(&s.metric.label),
        num(s.overall),
        flagged,
        s.slices.len(),
        s.min_rows
    );
    if s.slices.is_empty() {
        h.push_str("<p class=\"small\">No slice has enough rows.</p>");
        return;
    }
    h.push_str("<table><tr><th>slice</th><th>rows</th><th>value</th><th>95% interval</th><th>verdict</th></tr>");
    for x in s.slices.iter().take(60) {
        let _ = write!(
            h,
            "<tr{}><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            if x.significantly_worse {
                " class=\"flag\""
            } else {
                ""
            },
            escape(&x.label),
            x.rows,
            num(x.estimate.value),
            ci(&x.estimate),
            if x.significantly_worse {
                "<span class=\"warn\">significantly worse</span>"
            } else {
                "within noise or better"
            }
        );
    }
    h.push_str("</table>");
    if s.slices.len() > 60 {
        let _ = write!(
            h,
            "<p class=\"small\">{} more slices in the JSON report.</p>",
            s.slices.len() - 60
        );
    }
}

fn drift_section(h: &mut String, r: &Review) {
    let Some(d) = &r.drift else { return };
    let _ = write!(
        h,
        "<h2>Has the data moved since training?</h2><p class=\"small\">Each input column and the model's predictions against the model file's reference profile of {} training rows, by the rule of <code>whet drift</code>: a Kolmogorov–Smirnov test (numeric) or a chi-square test (categorical) and a test of the missing rate, each held to {:.1e} (5% over all the tests of this report), and a change large enough to matter (a KS gap or total variation of 0.05, or 5 points of missing rate); a major shift from a population stability index of 0.25.</p>",
        d.train_rows, d.test_level
    );
    let moved: Vec<_> = d
        .columns
        .iter()
        .filter(|c| c.moved() && c.bins.len() > 1)
        .take(3)
        .collect();
    if !moved.is_empty() {
        h.push_str("<div class=\"grid\">");
        for c in moved {
            let n = c.bins.len();
            let max = c
                .train_share
                .iter()
                .chain(&c.data_share)
                .fold(0.0f64, |a, &b| a.max(b))
                .max(1e-9);
            let mut ch = Chart::new(360.0, 280.0, (0.0, n as f64), (0.0, max * 1.1));
            ch.axes(
                "bin (training quantiles or levels; last: missing)",
                "share of rows",
            );
            for b in 0..n {
                ch.bar(
                    b as f64 + 0.08,
                    b as f64 + 0.48,
                    0.0,
                    c.train_share[b],
                    GREY,
                );
                ch.bar(
                    b as f64 + 0.52,
                    b as f64 + 0.92,
                    0.0,
                    c.data_share[b],
                    ORANGE,
                );
            }
            ch.legend(&[(GREY, "training"), (ORANGE, "this data")]);
            h.push_str(&ch.finish(&format!("{} ({}) — PSI {}", c.column, c.kind, num(c.psi))));
        }
        h.push_str("</div>");
    }
    h.push_str("<table><tr><th>column</th><th>kind</th><th>PSI</th><th>test p</th><th>verdict</th><th>missing in training</th><th>missing here</th></tr>");
    for c in &d.columns {
        let word = if c.major() {
            "<span class=\"warn\">major shift</span>"
        } else if c.moved() {
            "<span class=\"nc\">some shift</span>"
        } else {
            "stable"
        };
        let _ = write!(
            h,
            "<tr{}><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td title=\"{}\">{word}</td><td class=\"num\">{:.1}%</td><td class=\"num\">{:.1}%</td></tr>",
            if c.major() { " class=\"flag\"" } else { "" },
            escape(&c.column),
            escape(&c.kind),
            num(c.psi),
            crate::stats::p_text(c.p_value),
            escape(&c.reasons.join("; ")),
            100.0 * c.missing_train,
            100.0 * c.missing_data
        );
    }
    h.push_str("</table>");
    if let Some(why) = &d.predictions_not_compared {
        let _ = write!(
            h,
            "<p class=\"small\">Predictions not compared: {}.</p>",
            escape(why)
        );
    }
    if !d.skipped.is_empty() {
        let _ = write!(
            h,
            "<p class=\"small\">Not compared (free text): {}.</p>",
            escape(&d.skipped.join(", "))
        );
    }
}

/// The review as one HTML page.
pub fn review_html(r: &Review) -> String {
    let mut h = String::with_capacity(256 * 1024);
    let title = format!("Model review — {}", r.model.label);
    head(&mut h, &title);
    let _ = write!(
        h,
        "<h1>{}</h1><div class=\"meta\">{} model ({}) predicting <b>{}</b> · reviewed on <b>{}</b>: {} rows{} · trained on {} rows · whet {}</div>",
        escape(&title),
        r.model.task.name(),
        escape(&r.model.learner),
        escape(&r.model.target),
        escape(&r.data.label),
        r.data.rows,
        if r.data.dropped_rows > 0 {
            format!(" ({} without a target left out)", r.data.dropped_rows)
        } else {
            String::new()
        },
        r.model.train_rows,
        escape(&r.model.whet_version)
    );

    let warns = r
        .checks
        .iter()
        .filter(|c| c.verdict == CheckVerdict::Warn)
        .count();
    let _ = write!(
        h,
        "<h2>Summary</h2><div class=\"banner {}\">",
        if warns == 0 {
            "better"
        } else {
            "indistinguishable"
        }
    );
    if let Some(m) = r.metrics.first() {
        let _ = write!(
            h,
            "<b>{} {}</b> (95% interval {} – {}). ",
            escape(&m.def.label),
            num(m.estimate.value),
            num(m.estimate.lo),
            num(m.estimate.hi)
        );
    }
    let _ = write!(
        h,
        "{}</div>",
        if warns == 0 {
            "No check raised a warning.".to_string()
        } else {
            format!(
                "{warns} {} raised a warning — see below.",
                if warns == 1 { "check" } else { "checks" }
            )
        }
    );
    h.push_str("<ul class=\"checks\">");
    for c in &r.checks {
        let (class, word) = verdict_class(c.verdict);
        let _ = write!(
            h,
            "<li><span class=\"{class}\">{word}</span> · <b>{}</b>: {}{}</li>",
            escape(&c.name),
            escape(&c.summary),
            if c.evidence.is_empty() {
                String::new()
            } else {
                format!("<br><span class=\"small\">{}</span>", escape(&c.evidence))
            }
        );
    }
    h.push_str("</ul>");

    let _ = write!(
        h,
        "<h2>How accurate is it?</h2><p class=\"small\">Intervals: {}.</p><table><tr><th>metric</th><th>value</th><th>95% interval</th><th>interval by</th><th>direction</th></tr>",
        escape(&r.interval_method)
    );
    for m in r.metrics.iter().filter(|m| !m.def.name.contains('[')) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\"><b>{}</b></td><td class=\"num\">{}</td><td class=\"small\">{}</td><td class=\"small\">{}</td></tr>",
            escape(&m.def.label),
            num(m.estimate.value),
            ci(&m.estimate),
            m.interval.label(),
            if m.def.higher_is_better {
                "higher is better"
            } else {
                "lower is better"
            }
        );
    }
    h.push_str("</table>");
    if r.model.task == Task::Multiclass {
        per_class_table(&mut h, r);
    }
    if r.model.task == Task::Binary {
        let _ = write!(
            h,
            "<p class=\"small\">Accuracy, precision, recall and F1 at threshold {}.</p>",
            num(r.threshold.unwrap_or(0.5))
        );
    }

    match r.model.task {
        Task::Regression => {
            h.push_str("<h2>Where are the errors?</h2>");
            regression_charts(&mut h, r);
        }
        _ => {
            let _ = write!(
                h,
                "<h2>{}</h2><div class=\"grid\">",
                if r.model.task == Task::Binary {
                    "Ranking and calibration"
                } else {
                    "Calibration and confusions"
                }
            );
            for chart in [roc_chart(r), pr_chart(r), calibration_chart(r)]
                .into_iter()
                .flatten()
            {
                h.push_str(&chart);
            }
            h.push_str("</div>");
            threshold_table(&mut h, r);
            confusion_table(&mut h, r);
        }
    }
    explanations(&mut h, r);
    slices(&mut h, r);
    drift_section(&mut h, r);
    if !r.notes.is_empty() {
        h.push_str("<h2>Notes</h2><ul>");
        for n in &r.notes {
            let _ = write!(h, "<li>{}</li>", escape(n));
        }
        h.push_str("</ul>");
    }
    h.push_str("<p class=\"small\">Generated by <code>whet review</code>. Every figure is seeded and reproducible.</p></body></html>");
    h
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Better => "BETTER",
        Verdict::Indistinguishable => "INDISTINGUISHABLE",
        Verdict::Worse => "WORSE",
    }
}

/// The comparison as one HTML page.
pub fn compare_html(c: &Comparison) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("Champion vs challenger — {}", c.data);
    head(&mut h, &title);
    let _ = write!(
        h,
        "<h1>{}</h1><div class=\"meta\">champion <b>{}</b> · challenger <b>{}</b> · {} model predicting <b>{}</b> · {} rows, both models on the same rows</div>",
        escape(&title),
        escape(&c.champion),
        escape(&c.challenger),
        c.task.name(),
        escape(&c.target),
        c.rows
    );
    let _ = write!(
        h,
        "<div class=\"banner {}\"><b>Verdict: {}</b><br>{}</div>",
        c.verdict.name(),
        verdict_word(c.verdict),
        escape(&c.summary)
    );
    let _ = write!(
        h,
        "<h2>Every metric</h2><p class=\"small\">Gain: positive means the challenger is better (for losses, champion − challenger). Intervals: {}.</p>",
        escape(&c.interval_method)
    );
    h.push_str("<table><tr><th>metric</th><th>champion</th><th>challenger</th><th>gain</th><th>95% interval of the gain</th><th>interval by</th><th>verdict</th></tr>");
    for m in &c.metrics {
        let v = Verdict::from_gain(&m.gain, 0.0);
        let _ = write!(
            h,
            "<tr{}><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\"><b>{}</b></td><td class=\"num\">{}</td><td class=\"small\">{}</td><td>{}</td></tr>",
            if m.def.name == c.metric.name {
                " class=\"opt\""
            } else {
                ""
            },
            escape(&m.def.label),
            num(m.champion),
            num(m.challenger),
            signed(m.gain.value),
            if m.gain.lo.is_nan() {
                "—".into()
            } else {
                format!(
                    "<span class=\"ci\">{} – {}</span>",
                    signed(m.gain.lo),
                    signed(m.gain.hi)
                )
            },
            m.interval.label(),
            match v {
                Verdict::Better => "<span class=\"pass\">challenger better</span>",
                Verdict::Worse => "<span class=\"warn\">challenger worse</span>",
                Verdict::Indistinguishable => "<span class=\"nc\">no real difference</span>",
            }
        );
    }
    h.push_str("</table>");
    if !c.tests.is_empty() {
        h.push_str("<h2>Paired tests</h2><table><tr><th>test</th><th>statistic</th><th>p-value</th><th>details</th></tr>");
        for t in &c.tests {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{} <span class=\"small\">({})</span></td><td class=\"num\"><b>{}</b></td><td class=\"small\">{}</td></tr>",
                escape(&t.name),
                num(t.statistic),
                escape(&t.statistic_name),
                num(t.p_value),
                escape(&t.detail)
            );
        }
        h.push_str("</table><p class=\"small\">A p-value below 0.05 says the two models differ on these rows more than chance would explain.</p>");
    }
    if !c.slices.is_empty() {
        let _ = write!(
            h,
            "<h2>Where does the challenger win or lose?</h2><p class=\"small\">Gain in {} per slice with its paired 95% interval; green: the challenger is better there, red: worse, grey: no real difference.</p>",
            escape(&c.metric.label)
        );
        let shown: Vec<_> = c.slices.iter().take(40).collect();
        let n = shown.len() as f64;
        let (lo, hi) = padded_range(
            shown
                .iter()
                .flat_map(|s| [s.gain.lo, s.gain.hi, s.gain.value, 0.0]),
        );
        let mut ch =
            Chart::new(720.0, 40.0 + 22.0 * n + 20.0, (lo, hi), (-0.5, n - 0.5)).with_left(230.0);
        ch.axes(
            &format!("gain in {} (challenger better →)", c.metric.label),
            "",
        );
        ch.vline(0.0, GREY);
        for (i, s) in shown.iter().enumerate() {
            let y = n - 1.0 - i as f64;
            ch.row_label(y, &format!("{} ({} rows)", s.label, s.rows));
            let color = match s.verdict {
                Verdict::Better => GREEN,
                Verdict::Worse => RED,
                Verdict::Indistinguishable => GREY,
            };
            ch.whisker(y, s.gain.lo, s.gain.value, s.gain.hi, color);
        }
        h.push_str("<div class=\"grid\">");
        h.push_str(&ch.finish("Gain per slice"));
        h.push_str("</div><table><tr><th>slice</th><th>rows</th><th>champion</th><th>challenger</th><th>gain</th><th>95% interval</th><th>verdict</th></tr>");
        for s in &c.slices {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(&s.label),
                s.rows,
                num(s.champion),
                num(s.challenger),
                signed(s.gain.value),
                if s.gain.lo.is_nan() {
                    "—".into()
                } else {
                    format!("{} – {}", signed(s.gain.lo), signed(s.gain.hi))
                },
                s.verdict.name()
            );
        }
        h.push_str("</table>");
    }
    if !c.notes.is_empty() {
        h.push_str("<h2>Notes</h2><ul>");
        for n in &c.notes {
            let _ = write!(h, "<li>{}</li>", escape(n));
        }
        h.push_str("</ul>");
    }
    h.push_str("<p class=\"small\">Generated by <code>whet compare</code>. Every figure is seeded and reproducible.</p></body></html>");
    h
}
