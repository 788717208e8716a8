//! Progress bars on a terminal, silence when piped or with --quiet.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;

use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use whet_automl::{LearnerKind, TrialRecord, TrialStatus};
use whet_learn::metrics::Metric;

pub struct Bar {
    enabled: bool,
    name: String,
    current: Mutex<Option<ProgressBar>>,
}

impl Bar {
    pub fn new(quiet: bool, path: &Path) -> Bar {
        Bar {
            enabled: !quiet && std::io::stderr().is_terminal(),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            current: Mutex::new(None),
        }
    }
}

impl whet_data::csv::Progress for Bar {
    fn start(&self, label: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(format!("{label} {}", self.name));
        if let Ok(mut c) = self.current.lock() {
            *c = Some(bar);
        }
    }

    fn advance(&self, delta: u64) {
        if let Ok(c) = self.current.lock()
            && let Some(b) = c.as_ref()
        {
            b.inc(delta);
        }
    }

    fn finish(&self) {
        if let Ok(mut c) = self.current.lock()
            && let Some(b) = c.take()
        {
            b.finish_and_clear();
        }
    }

    fn stop_requested(&self) -> bool {
        crate::interrupt::requested()
    }
}

/// `whet train`'s live display: one line per finished trial above a spinner with the budget and the best so far.
pub struct TrainDisplay {
    pub bar: Option<ProgressBar>,
    pub metric: Metric,
    pub best_by_learner: BTreeMap<LearnerKind, f64>,
    pub done: usize,
}

impl TrainDisplay {
    pub fn new(
        enabled: bool,
        metric: Metric,
        budget: Option<Duration>,
        trials: Option<usize>,
    ) -> TrainDisplay {
        let bar = enabled.then(|| {
            let bar = match budget {
                Some(b) => {
                    let bar = ProgressBar::new(b.as_millis() as u64);
                    let style = ProgressStyle::with_template(
                        "{spinner} [{bar:24}] {elapsed}/{prefix} {wide_msg}",
                    )
                    .map(|s| s.progress_chars("=> "))
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style);
                    bar.set_prefix(format!("{}s", b.as_secs()));
                    bar
                }
                None => {
                    let bar = ProgressBar::new(trials.unwrap_or(0) as u64);
                    let style = ProgressStyle::with_template(
                        "{spinner} [{bar:24}] {pos}/{len} trials {elapsed} {wide_msg}",
                    )
                    .map(|s| s.progress_chars("=> "))
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style);
                    bar
                }
            };
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        TrainDisplay {
            bar,
            metric,
            best_by_learner: BTreeMap::new(),
            done: 0,
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .best_by_learner
            .iter()
            .map(|(l, s)| format!("{l} {s:.4}"))
            .collect();
        format!("{} trials · best {}", self.done, parts.join("  "))
    }

    pub fn trial_line(&self, t: &TrialRecord, is_best: bool) -> String {
        let mark = if is_best { "★" } else { " " };
        match t.status {
            TrialStatus::Completed => format!(
                "{mark} trial {:>3}  {:<6}  {} {:.5} ± {:.5}  {:>6.2}s  {}",
                t.id + 1,
                t.learner.name(),
                self.metric.name(),
                t.cv_score,
                t.cv_std,
                t.fit_seconds,
                crate::output::short_params(&t.params)
            ),
            TrialStatus::Pruned => format!(
                "  trial {:>3}  {:<6}  pruned after {} folds ({:.5})  {:>6.2}s",
                t.id + 1,
                t.learner.name(),
                t.fold_scores.len(),
                t.cv_score,
                t.fit_seconds
            ),
            TrialStatus::Failed => format!(
                "  trial {:>3}  {:<6}  failed: {}",
                t.id + 1,
                t.learner.name(),
                t.message
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            ),
        }
    }
}
