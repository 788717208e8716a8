//! Text output for people.

use std::collections::BTreeMap;

use whet_data::profile::{Profile, Severity};
use whet_data::report::{summary_text, truncate};

use crate::train::TrainReport;

const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Beyond this many columns the terminal table is cut; --json and --html hold them all.
const MAX_TERMINAL_COLUMNS: usize = 200;

fn sparkline(counts: &[u64]) -> String {
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                ' '
            } else {
                SPARK[((c as f64 / max) * 7.0).round() as usize]
            }
        })
        .collect()
}

fn plain(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

pub fn print_profile(p: &Profile) {
    println!("{}: {} rows × {} columns", p.file, p.rows, p.n_columns);
    if let (Some(t), Some(task)) = (&p.target, p.task) {
        print!("target: {t} ({})", task.name());
        if let Some(classes) = &p.classes {
            let total: u64 = classes.iter().map(|c| c.count).sum();
            let parts: Vec<String> = classes
                .iter()
                .take(8)
                .map(|c| {
                    format!(
                        "{} {:.1}%",
                        truncate(&c.value, 20),
                        100.0 * c.count as f64 / total.max(1) as f64
                    )
                })
                .collect();
            print!(
                " — {}{}",
                parts.join(", "),
                if classes.len() > 8 { ", …" } else { "" }
            );
        }
        println!();
    }
    println!();
    let name_w = p
        .columns
        .iter()
        .take(MAX_TERMINAL_COLUMNS)
        .map(|c| c.name.chars().count().min(28))
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:<name_w$}  {:<8}  {:<16}  {:>7}  {:>8}  {:<20}  summary",
        "column", "type", "role", "missing", "distinct", "distribution"
    );
    for c in p.columns.iter().take(MAX_TERMINAL_COLUMNS) {
        let dist = c
            .histogram
            .as_ref()
            .filter(|_| c.distinct > 10)
            .map(|h| sparkline(&h.counts))
            .unwrap_or_else(|| {
                let counts: Vec<u64> = c.top_values.iter().take(20).map(|v| v.count).collect();
                sparkline(&counts)
            });
        println!(
            "{:<name_w$}  {:<8}  {:<16}  {:>6.1}%  {:>8}  {:<20}  {}",
            truncate(&c.name, 28),
            c.value_type.name(),
            c.role.name(),
            c.missing_pct,
            c.distinct,
            dist,
            plain(&summary_text(c))
        );
    }
    if p.columns.len() > MAX_TERMINAL_COLUMNS {
        println!(
            "… and {} more columns (use --json or --html to see all)",
            p.columns.len() - MAX_TERMINAL_COLUMNS
        );
    }
    println!();
    if p.warnings.is_empty() {
        println!("no problems found");
    } else {
        println!("{} warnings:", p.warnings.len());
        for w in &p.warnings {
            let sev = match w.severity {
                Severity::Critical => "CRITICAL",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let col = w
                .column
                .as_ref()
                .map(|c| format!("{c}: "))
                .unwrap_or_default();
            println!("  [{sev}] {col}{}", w.message);
            println!("      → {}", w.suggestion);
        }
    }
    if let Some(t) = &p.test {
        println!();
        println!(
            "test file {}: {} rows, {} shared with training data",
            t.file, t.rows, t.shared_rows
        );
    }
    for n in &p.notes {
        println!("note: {n}");
    }
}

/// `k=v k=v`, for one-line parameter lists.
pub fn short_params(p: &BTreeMap<String, String>) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The end of `whet train`: leaderboard, ensemble, final model, test score, notes.
pub fn print_train_report(report: &TrainReport) {
    let r = report.study;
    let holdout = r.is_holdout();
    println!();
    println!(
        "leaderboard ({}, {}; {} trials: {} completed, {} pruned, {} failed)",
        r.metric.name(),
        r.cv,
        r.trials,
        r.trials_completed,
        r.trials_pruned,
        r.trials_failed
    );
    println!(
        "{:>4}  {:>5}  {:<6}  {:>19}  {:>8}  params",
        "rank", "trial", "learner", "cv score", "fit s"
    );
    for row in r.leaderboard.iter().take(15) {
        // One holdout score has no spread to show.
        let spread = if holdout {
            String::new()
        } else {
            format!("± {:.5}", row.cv_std)
        };
        println!(
            "{:>4}  {:>5}  {:<6}  {:>9.5} {:<9}  {:>8.2}  {}",
            row.rank,
            row.trial,
            row.learner.name(),
            row.cv_score,
            spread,
            row.fit_seconds,
            short_params(&row.params)
        );
    }
    if r.leaderboard.len() > 15 {
        println!(
            "  … {} more: whet runs -e {} --filter \"tags.whet.kind = 'trial'\"",
            r.leaderboard.len() - 15,
            report.tracking.experiment
        );
    }
    println!();
    if let Some(e) = &r.ensemble {
        let members: Vec<String> = e
            .members
            .iter()
            .map(|m| format!("{} #{} ×{:.2}", m.learner.name(), m.trial, m.weight))
            .collect();
        println!(
            "ensemble: {} {:.5} {} (best single trial {:.5} on the same rows) — {}",
            r.metric.name(),
            e.cv_score,
            if holdout {
                "on the holdout"
            } else {
                "out-of-fold"
            },
            e.best_trial_oof_score,
            members.join(", ")
        );
    }
    println!(
        "best single model: trial {} — {} {:.5} ({})",
        r.best_trial,
        r.metric.name(),
        r.best_trial_score,
        if holdout {
            "on the holdout"
        } else {
            "mean of its fold scores"
        }
    );
    println!("final model: {}", r.final_model_detail);
    if let Some(m) = &r.test_metrics {
        let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v:.5}")).collect();
        println!("test: {}", parts.join("  "));
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    if let Some(t) = &report.test_review {
        println!(
            "\nreview of the final model on the {} test rows (95% intervals: {}):",
            t.rows, t.interval_method
        );
        // Per-class scores are in the full review; the summary metrics fit a screen.
        for m in t.metrics.iter().filter(|m| !m.def.name.contains('[')) {
            let e = &m.estimate;
            if e.lo.is_nan() {
                println!("  {:<28} {:>9.5}", m.def.label, e.value);
            } else {
                println!(
                    "  {:<28} {:>9.5}  [{:.5}, {:.5}]",
                    m.def.label, e.value, e.lo, e.hi
                );
            }
        }
    }
    println!(
        "full review (slices, explanations, checks): {}",
        report.review_command
    );
    println!(
        "model written to {} ({:.1} MB) in {:.1}s; registered as {} version {} (run {} in {})",
        report.model_path,
        report.model_bytes as f64 / 1e6,
        report.elapsed_seconds,
        report.tracking.registered_model,
        report.tracking.model_version,
        report.tracking.run_id,
        report.tracking.store
    );
}

/// `word` as one shell word: as it is when it needs no quoting, else in single quotes.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=+,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
