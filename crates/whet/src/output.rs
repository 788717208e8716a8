//! Text output for people.

use whet_data::profile::{Profile, Severity};
use whet_data::report::{summary_text, truncate};

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
