//! `whet status [--since 7d] [--experiment E] [--json]`: the whole store on one screen. The
//! facts and the plan come from `whet_track::status` (the server answers the same report);
//! this module only renders them: text that fits in 100 columns, coloured on a terminal.

use std::io::IsTerminal;

use anyhow::Result;
use clap::Args;
use whet_data::text::truncate;
use whet_track::Store;
use whet_track::status::{
    AliasStatus, Direction, ExperimentStatus, ModelStatus, StatusQuery, StatusReport, StudyStatus,
    Trend, VersionStatus,
};

/// The text view's width.
pub const WIDTH: usize = 100;

#[derive(Args)]
pub struct StatusArgs {
    /// How far back to look: 30m, 12h, 7d, 2w.
    #[arg(long, default_value = whet_track::status::DEFAULT_SINCE)]
    pub since: String,
    /// Only this experiment (name or id) and the models registered from it.
    #[arg(long, short)]
    pub experiment: Option<String>,
    /// Print the report as JSON (docs/status.md).
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_status(store: Option<&str>, args: &StatusArgs) -> Result<()> {
    let query = StatusQuery::new(&args.since, args.experiment.as_deref())
        .map_err(|e| crate::exit::usage(e.to_string()))?;
    let store = Store::open_existing(store)?;
    let report = store.status(&query)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for line in render(&report, colour) {
        println!("{line}");
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Style {
    Plain,
    Bold,
    Dim,
    Good,
    Bad,
    Warn,
    Command,
}

/// A line of styled pieces, painted only on a terminal.
#[derive(Default)]
struct Line(Vec<(String, Style)>);

impl Line {
    fn new() -> Line {
        Line::default()
    }
    fn put(mut self, s: impl Into<String>, style: Style) -> Line {
        self.0.push((s.into(), style));
        self
    }
    fn text(self, s: impl Into<String>) -> Line {
        self.put(s, Style::Plain)
    }
    fn paint(&self, colour: bool) -> String {
        let mut out = String::new();
        for (s, style) in &self.0 {
            let code = match style {
                Style::Plain => "",
                Style::Bold => "1",
                Style::Dim => "2",
                Style::Good => "32",
                Style::Bad => "31",
                Style::Warn => "33",
                Style::Command => "36",
            };
            if colour && !code.is_empty() {
                out.push_str(&format!("\x1b[{code}m{s}\x1b[0m"));
            } else {
                out.push_str(s);
            }
        }
        out.trim_end().to_string()
    }
}

fn time(ms: i64) -> String {
    let (y, mo, d, _, h, mi, _) = whet_data::datetime::civil_parts(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}")
}

fn num(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-4) {
        format!("{v:.3e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The end of `s` in at most `max` characters: a path's file name matters most.
fn tail(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let kept: String = s.chars().skip(n - max + 1).collect();
    format!("…{kept}")
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7_200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    }
}

/// Words of `text` in lines of at most `width` columns, the first starting with `first`,
/// the others with `rest` (both counted in the width).
fn wrap(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        let need = cur.chars().count() + usize::from(!empty) + word.chars().count();
        if !empty && need > width {
            lines.push(std::mem::replace(&mut cur, rest.to_string()));
            empty = true;
        }
        if !empty {
            cur.push(' ');
        }
        // A word longer than a line is cut rather than overflowing.
        let room = width.saturating_sub(cur.chars().count()).max(1);
        cur.push_str(&truncate(word, room));
        empty = false;
    }
    lines.push(cur);
    lines
}

/// A command as shell lines of at most `width` columns, each line but the last ending in
/// " \\": broken at spaces outside single quotes (inside double quotes a backslash-newline
/// is a continuation too, and the spaces it brings are spaces of the filter, not of a value).
fn wrap_command(cmd: &str, width: usize, indent: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut single = false;
    for c in cmd.chars() {
        match c {
            ' ' if !single => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                continue;
            }
            '\'' => single = !single,
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let first = format!("{indent}$ ");
    let rest = format!("{indent}    ");
    let mut lines = Vec::new();
    let mut line = first.clone();
    let mut empty = true;
    for w in words {
        // Room for " \" at the end of a line that continues.
        if !empty && line.chars().count() + 1 + w.chars().count() + 2 > width {
            line.push_str(" \\");
            lines.push(std::mem::replace(&mut line, rest.clone()));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(&w);
        empty = false;
    }
    lines.push(line);
    lines
}

fn heading(out: &mut Vec<Line>, title: &str) {
    out.push(Line::new());
    out.push(Line::new().put(title, Style::Bold));
}

fn render_experiment(out: &mut Vec<Line>, e: &ExperimentStatus) {
    let r = &e.runs;
    let mut head = Line::new()
        .put(format!("  {}", truncate(&e.name, 30)), Style::Bold)
        .text(format!(
            "  {} run{}",
            r.total,
            if r.total == 1 { "" } else { "s" }
        ));
    if e.studies > 0 {
        head = head.text(format!(
            " ({} stud{})",
            e.studies,
            if e.studies == 1 { "y" } else { "ies" }
        ));
    }
    head = head.text(format!(": {} finished", r.finished));
    if r.running > 0 {
        head = head.text(format!(", {} running", r.running));
    }
    if r.failed > 0 {
        head = head
            .text(", ")
            .put(format!("{} failed", r.failed), Style::Bad);
    }
    if r.killed > 0 {
        head = head
            .text(", ")
            .put(format!("{} killed", r.killed), Style::Warn);
    }
    out.push(head);
    if let (Some(m), Some(b)) = (&e.metric, &e.best) {
        let arrow = match m.direction {
            Direction::Maximize => "↑",
            Direction::Minimize => "↓",
        };
        let mut line = Line::new().text(format!(
            "    best {} {arrow} {} ({}, {})",
            m.key,
            num(b.value),
            truncate(&b.run_name, 24),
            short(&b.run_id)
        ));
        line = match (e.trend, &e.best_at_start, e.gain) {
            (Trend::Improved, Some(s), Some(g)) => line.text("  ").put(
                format!("improved by {} from {}", num(g), num(s.value)),
                Style::Good,
            ),
            (Trend::Unchanged, _, _) => line.put("  no better study in the window", Style::Dim),
            (Trend::First, _, _) => line.put("  first score, in the window", Style::Good),
            _ => line,
        };
        out.push(line);
    }
    for a in &e.attention {
        let (mark, style) = match a.reason.as_str() {
            "failed" => ("✗ failed", Style::Bad),
            "killed" => ("✗ killed", Style::Warn),
            _ => ("! trials", Style::Warn),
        };
        let mut what = format!(
            "{} '{}' {} {}",
            a.kind.as_deref().unwrap_or("run"),
            truncate(&a.run_name, 24),
            short(&a.run_id),
            time(a.end_time.unwrap_or(a.start_time))
        );
        if let Some(n) = a.failed_trials {
            what.push_str(&format!(
                ", {n} failed trial{}",
                if n == 1 { "" } else { "s" }
            ));
        }
        if let Some(err) = &a.error {
            what.push_str(": ");
            what.push_str(err.lines().next().unwrap_or_default());
        }
        let what = truncate(&what, WIDTH - 15);
        out.push(
            Line::new()
                .text("    ")
                .put(mark, style)
                .text(format!("  {what}")),
        );
    }
}

fn render_study(out: &mut Vec<Line>, s: &StudyStatus, now: i64) {
    out.push(
        Line::new()
            .put(format!("  {}", truncate(&s.experiment, 24)), Style::Bold)
            .text(format!(
                "  {} {}  running {}",
                truncate(&s.run_name, 24),
                short(&s.run_id),
                ago(s.elapsed_ms)
            )),
    );
    let t = &s.trials;
    let mut line = format!("    trials: {} done", t.done);
    if let Some(n) = s.trial_budget {
        line.push_str(&format!(" of {n}"));
    }
    line.push_str(&format!(", {} running", t.running));
    if t.failed > 0 {
        line.push_str(&format!(", {} failed", t.failed));
    }
    if let Some(q) = t.queued {
        line.push_str(&format!(", {q} queued"));
    }
    if let Some(p) = s.progress {
        line.push_str(&format!(" · {:.0}%", 100.0 * p));
    }
    if let (Some(b), Some(m)) = (s.best_so_far, &s.metric) {
        line.push_str(&format!(" · best {} {}", m.key, num(b)));
    }
    if let Some(w) = s.workers_alive {
        line.push_str(&format!(" · {w} worker{}", if w == 1 { "" } else { "s" }));
    }
    if let Some(f) = s.estimated_finish {
        line.push_str(&format!(" · ends ~{}", time(f)));
        if f < now {
            line.push_str(" (overdue)");
        }
    }
    out.push(Line::new().text(truncate(&line, WIDTH)));
}

fn verdicts(v: &VersionStatus) -> Line {
    let mut line = Line::new();
    match &v.review {
        Some(r) => {
            line = line.text("review ").put(
                format!(
                    "{}{}",
                    time(r.time).split(' ').next().unwrap_or_default(),
                    r.check_warnings
                        .filter(|&w| w > 0)
                        .map(|w| format!(" ({w} warn)"))
                        .unwrap_or_default()
                ),
                Style::Good,
            )
        }
        None => line = line.put("no review", Style::Warn),
    }
    if let Some(c) = &v.compare {
        let style = match c.verdict.as_str() {
            "better" => Style::Good,
            "worse" => Style::Bad,
            _ => Style::Warn,
        };
        let against = c
            .against_version
            .map(|x| format!("v{x}"))
            .unwrap_or_else(|| truncate(&c.against, 16));
        line = line
            .text(" · compare ")
            .put(format!("{} vs {against}", c.verdict), style);
    }
    match &v.drift {
        Some(d) if d.verdict == "drift" => {
            line = line.text(" · drift ").put(
                format!(
                    "DRIFT {} col{} {}",
                    d.drifted.len(),
                    if d.drifted.len() == 1 { "" } else { "s" },
                    time(d.time).split(' ').next().unwrap_or_default()
                ),
                Style::Bad,
            )
        }
        Some(d) => {
            line = line.text(" · drift ").put(
                format!(
                    "none {}",
                    time(d.time).split(' ').next().unwrap_or_default()
                ),
                Style::Good,
            )
        }
        None => line = line.put(" · no drift check", Style::Dim),
    }
    line
}

fn render_model(out: &mut Vec<Line>, m: &ModelStatus) {
    out.push(
        Line::new()
            .put(format!("  {}", truncate(&m.name, 40)), Style::Bold)
            .text(
                m.latest_version
                    .map(|v| format!("  latest v{v}"))
                    .unwrap_or_default(),
            ),
    );
    if m.aliases.is_empty() {
        out.push(Line::new().put("    no aliases", Style::Dim));
    }
    let alias_of = |a: &AliasStatus| {
        format!(
            "{}{}",
            a.since
                .map(|s| format!("since {}", time(s)))
                .unwrap_or_default(),
            a.previous_version
                .map(|p| format!(" (was v{p})"))
                .unwrap_or_default()
        )
    };
    for v in &m.versions {
        let names = if v.aliases.is_empty() {
            "(latest)".to_string()
        } else {
            v.aliases.join(",")
        };
        let since = m
            .aliases
            .iter()
            .find(|a| v.aliases.first() == Some(&a.alias))
            .map(alias_of)
            .unwrap_or_default();
        out.push(
            Line::new()
                .text(format!("    {:<12} ", truncate(&names, 12)))
                .put(format!("v{:<4}", v.version), Style::Bold)
                .text(format!(" {since}")),
        );
        let mut line = Line::new().text("          ");
        line.0.extend(verdicts(v).0);
        out.push(line);
    }
}

/// The report as lines of at most [`WIDTH`] columns.
fn render(r: &StatusReport, colour: bool) -> Vec<String> {
    let mut out: Vec<Line> = Vec::new();
    out.push(Line::new().put("whet status", Style::Bold).text(format!(
        "  {}  since {} ({} UTC)",
        tail(&r.store, 44),
        r.window.since,
        time(r.window.start_time)
    )));
    if let Some(e) = &r.experiment {
        out.push(Line::new().put(format!("experiment {}", truncate(e, 80)), Style::Dim));
    }

    heading(&mut out, "EXPERIMENTS");
    if r.experiments.is_empty() {
        out.push(Line::new().put("  no runs in the window", Style::Dim));
    }
    for e in &r.experiments {
        render_experiment(&mut out, e);
    }

    heading(&mut out, "STUDIES RUNNING");
    if r.studies.is_empty() {
        out.push(Line::new().put("  none", Style::Dim));
    }
    for s in &r.studies {
        render_study(&mut out, s, r.generated_time);
    }

    heading(&mut out, "MODELS");
    if r.models.is_empty() {
        out.push(Line::new().put("  no registered models", Style::Dim));
    }
    for m in &r.models {
        render_model(&mut out, m);
    }

    heading(&mut out, "PLAN");
    if r.plan.is_empty() {
        out.push(Line::new().put("  nothing to do", Style::Good));
    }
    for (i, p) in r.plan.iter().enumerate() {
        let num = format!("{:>3}. ", i + 1);
        for (j, l) in wrap(&p.text, WIDTH, &num, "     ").into_iter().enumerate() {
            out.push(if j == 0 {
                Line::new().put(l, Style::Plain)
            } else {
                Line::new().text(l)
            });
        }
        for l in wrap_command(&p.command, WIDTH, "     ") {
            out.push(Line::new().put(l, Style::Command));
        }
    }
    out.into_iter().map(|l| l.paint(colour)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_wrap_between_words_outside_quotes() {
        let cmd = "whet runs -e churn -f \"attributes.parent_run_id = \
                   '0123456789abcdef0123456789abcdef' and attributes.status = 'FAILED'\"";
        let lines = wrap_command(cmd, 60, "     ");
        assert!(lines.iter().all(|l| l.chars().count() <= 60), "{lines:#?}");
        assert!(lines[..lines.len() - 1].iter().all(|l| l.ends_with(" \\")));
        // Joined back as a shell would, it is the command (spaces in the filter aside).
        let joined: String = lines
            .iter()
            .map(|l| {
                l.trim_start_matches("     $ ")
                    .trim_end_matches(" \\")
                    .trim()
            })
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(joined, cmd);
        // A single-quoted value is never cut.
        assert!(
            lines
                .iter()
                .any(|l| l.contains("'0123456789abcdef0123456789abcdef'"))
        );
        let one = wrap_command("whet run show abc", 60, "  ");
        assert_eq!(one, vec!["  $ whet run show abc".to_string()]);
    }

    #[test]
    fn text_wraps_to_the_width() {
        let lines = wrap(&"word ".repeat(50), 30, "  1. ", "     ");
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:#?}");
        assert!(lines[0].starts_with("  1. word"));
        assert!(lines[1].starts_with("     word"));
    }
}
