//! `--drift-window N`: drift of the served traffic against the model's reference profile.
//!
//! The last N scored rows' input values (read as `whet drift` reads a file's, with
//! `whet_data::drift::input_values`) and predictions are kept in rings. When the window is
//! full, and then every N/10 rows, a snapshot is compared with the profile by
//! `whet_data::drift::compare_values` (the statistics and verdict of `whet drift`) on a
//! blocking thread, off the request path; the latest report feeds `/metrics` and `/drift`.
//! The window belongs to one model version: when a new version is swapped in, it starts over.
//!
//! Checks are also handed to a recorder (the CLI's, writing a drift run to the tracking store)
//! on a thread of its own: the first check of a version, then at most one every
//! `--drift-record-every`, plus one whenever the verdict differs from the last one recorded.
//! The hand-over never waits: when the recorder is still busy (a slow or unreachable store)
//! the check is dropped and counted, and serving goes on.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use whet_data::drift::{DriftReport, Thresholds, compare_values};
use whet_data::reference::{ColumnValues, ReferenceProfile};

enum Ring {
    Numeric(VecDeque<f64>),
    Labels(VecDeque<Option<String>>),
}

impl Ring {
    fn new(like: &ColumnValues, capacity: usize) -> Ring {
        match like {
            ColumnValues::Numeric(_) => Ring::Numeric(VecDeque::with_capacity(capacity)),
            ColumnValues::Labels(_) => Ring::Labels(VecDeque::with_capacity(capacity)),
        }
    }

    /// Appends `values` (of this ring's kind; a mismatch appends missing values, so every ring
    /// keeps one value per row) and drops the oldest beyond `capacity`.
    fn push(&mut self, values: ColumnValues) {
        let n = values.len();
        match (self, values) {
            (Ring::Numeric(r), ColumnValues::Numeric(v)) => r.extend(v),
            (Ring::Labels(r), ColumnValues::Labels(v)) => r.extend(v),
            (Ring::Numeric(r), ColumnValues::Labels(_)) => {
                r.extend(std::iter::repeat_n(f64::NAN, n));
            }
            (Ring::Labels(r), ColumnValues::Numeric(_)) => r.extend(std::iter::repeat_n(None, n)),
        }
    }

    fn trim(&mut self, capacity: usize) {
        match self {
            Ring::Numeric(r) => {
                let extra = r.len().saturating_sub(capacity);
                r.drain(..extra);
            }
            Ring::Labels(r) => {
                let extra = r.len().saturating_sub(capacity);
                r.drain(..extra);
            }
        }
    }

    fn snapshot(&self) -> ColumnValues {
        match self {
            Ring::Numeric(r) => ColumnValues::Numeric(r.iter().copied().collect()),
            Ring::Labels(r) => ColumnValues::Labels(r.iter().cloned().collect()),
        }
    }
}

/// One comparison of the window with the profile.
pub struct Check {
    pub report: DriftReport,
    /// Rows scored (since the window started) when the snapshot was taken.
    pub at_rows: u64,
}

/// What a check compares: the window's values, taken under the lock, compared outside it.
pub struct Snapshot {
    pub reference: Arc<ReferenceProfile>,
    inputs: Vec<(String, ColumnValues)>,
    predictions: Vec<(String, Vec<f64>)>,
    at_rows: u64,
    generation: u64,
}

impl Snapshot {
    /// Runs `whet drift`'s comparison; slow on large windows, so callers run it off the
    /// request path.
    pub fn compare(self) -> (u64, Check) {
        let report = compare_values(
            &self.reference,
            &self.inputs,
            &self.predictions,
            None,
            &Thresholds::default(),
        );
        (
            self.generation,
            Check {
                report,
                at_rows: self.at_rows,
            },
        )
    }
}

pub struct DriftWindow {
    capacity: usize,
    /// How often a check is handed to the recorder (None: no recorder).
    record_every: Option<Duration>,
    /// When the last check was handed to the recorder, and its verdict.
    last_recorded: Option<(Instant, bool)>,
    /// The reference of the model version the window holds rows of (None before any row, or
    /// when that version has no profile).
    reference: Option<Arc<ReferenceProfile>>,
    /// Which model version the rows are of (the served model's address).
    model: usize,
    /// Bumped when the window starts over, so a check of the old rows is dropped.
    generation: u64,
    inputs: Vec<(String, Ring)>,
    predictions: Vec<(String, VecDeque<f64>)>,
    len: usize,
    seen: u64,
    since_check: usize,
    checking: bool,
    checks: u64,
    latest: Option<Check>,
}

impl DriftWindow {
    /// A window of `capacity` rows; `record_every` when checks are recorded.
    pub fn new(capacity: usize, record_every: Option<Duration>) -> DriftWindow {
        DriftWindow {
            capacity: capacity.max(1),
            record_every,
            last_recorded: None,
            reference: None,
            model: 0,
            generation: 0,
            inputs: Vec::new(),
            predictions: Vec::new(),
            len: 0,
            seen: 0,
            since_check: 0,
            checking: false,
            checks: 0,
            latest: None,
        }
    }

    fn start_over(&mut self, model: usize, reference: Option<Arc<ReferenceProfile>>) {
        *self = DriftWindow {
            generation: self.generation + 1,
            model,
            reference,
            ..DriftWindow::new(self.capacity, self.record_every)
        };
    }

    /// Adds the rows of one request scored by the model at address `model` (with `reference`,
    /// its profile; a new address starts the window over). Returns a snapshot to compare when
    /// a check is due.
    pub fn push(
        &mut self,
        model: usize,
        reference: &ReferenceProfile,
        inputs: Vec<(String, ColumnValues)>,
        predictions: Vec<(String, Vec<f64>)>,
    ) -> Option<Snapshot> {
        if model != self.model || self.reference.is_none() {
            let profile = (!reference.is_empty()).then(|| Arc::new(reference.clone()));
            self.start_over(model, profile);
        }
        let reference = self.reference.clone()?;
        let n = inputs
            .first()
            .map(|c| c.1.len())
            .or_else(|| predictions.first().map(|p| p.1.len()))
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        if self.inputs.is_empty() && self.predictions.is_empty() {
            self.inputs = inputs
                .iter()
                .map(|(name, v)| (name.clone(), Ring::new(v, self.capacity)))
                .collect();
            self.predictions = predictions
                .iter()
                .map(|(name, _)| (name.clone(), VecDeque::with_capacity(self.capacity)))
                .collect();
        }
        let cap = self.capacity;
        for ((_, ring), (_, values)) in self.inputs.iter_mut().zip(inputs) {
            ring.push(values);
            ring.trim(cap);
        }
        for ((_, ring), (_, values)) in self.predictions.iter_mut().zip(predictions) {
            ring.extend(values);
            let extra = ring.len().saturating_sub(cap);
            ring.drain(..extra);
        }
        self.len = (self.len + n).min(cap);
        self.seen += n as u64;
        self.since_check += n;
        let due = self.len == cap && self.since_check >= (cap / 10).max(1) && !self.checking;
        if !due {
            return None;
        }
        self.checking = true;
        self.since_check = 0;
        Some(Snapshot {
            reference,
            inputs: self
                .inputs
                .iter()
                .map(|(name, r)| (name.clone(), r.snapshot()))
                .collect(),
            predictions: self
                .predictions
                .iter()
                .map(|(name, r)| (name.clone(), r.iter().copied().collect()))
                .collect(),
            at_rows: self.seen,
            generation: self.generation,
        })
    }

    /// Takes a finished check (dropped when the window started over meanwhile). Logs when the
    /// verdict changes, not at every check. Returns the report when it is due to be recorded.
    pub fn finish(&mut self, generation: u64, check: Check) -> Option<DriftReport> {
        if generation != self.generation {
            return None;
        }
        let now = Instant::now();
        let record = self
            .record_every
            .is_some_and(|every| record_due(self.last_recorded, check.report.drift, now, every));
        if record {
            self.last_recorded = Some((now, check.report.drift));
        }
        self.checking = false;
        self.checks += 1;
        let was = self.latest.as_ref().is_some_and(|c| c.report.drift);
        let r = &check.report;
        if r.drift && !was {
            tracing::warn!(
                "drift in the last {} rows served: {}",
                r.rows,
                r.drifted.join(", ")
            );
        } else if was && !r.drift {
            tracing::info!("no drift in the last {} rows served any more", r.rows);
        }
        let recorded = record.then(|| check.report.clone());
        self.latest = Some(check);
        recorded
    }

    /// `GET /drift`; `records` when checks are recorded in a store.
    pub fn to_json(&self, records: Option<&RecordCounts>) -> Value {
        let status = match (&self.reference, &self.latest) {
            (None, _) if self.seen == 0 && self.model == 0 => "waiting for rows",
            (None, _) => "off: the model holds no reference profile of its training data",
            (Some(_), None) => "filling the window",
            (Some(_), Some(_)) => "checked",
        };
        json!({
            "window": self.capacity,
            "rows_in_window": self.len,
            "rows_seen": self.seen,
            "checks": self.checks,
            "status": status,
            "drift": self.latest.as_ref().map(|c| c.report.drift),
            "checked_at_rows_seen": self.latest.as_ref().map(|c| c.at_rows),
            "report": self.latest.as_ref().map(|c| &c.report),
            "recorded": records.map(RecordCounts::to_json),
            "record_every_seconds": self.record_every.map(|d| d.as_secs_f64()),
        })
    }

    /// The window's lines of `/metrics`.
    pub fn render(&self, out: &mut String) {
        let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(
            out,
            "# HELP whet_drift_window_rows Scored rows in the drift window.\n# TYPE whet_drift_window_rows gauge\nwhet_drift_window_rows {}",
            self.len
        );
        let _ = writeln!(
            out,
            "# HELP whet_drift_window_size Rows the drift window holds when full (--drift-window).\n# TYPE whet_drift_window_size gauge\nwhet_drift_window_size {}",
            self.capacity
        );
        let _ = writeln!(
            out,
            "# HELP whet_drift_checks_total Comparisons of the window with the training reference.\n# TYPE whet_drift_checks_total counter\nwhet_drift_checks_total {}",
            self.checks
        );
        let verdict = self.latest.as_ref().is_some_and(|c| c.report.drift);
        let _ = writeln!(
            out,
            "# HELP whet_drift_verdict 1 when the latest check of the window found drift (as whet drift would), else 0.\n# TYPE whet_drift_verdict gauge\nwhet_drift_verdict {}",
            u8::from(verdict)
        );
        let Some(c) = &self.latest else {
            return;
        };
        let columns: Vec<_> = c
            .report
            .columns
            .iter()
            .chain(&c.report.predictions)
            .collect();
        out.push_str("# HELP whet_drift_psi Population stability index of each input column and prediction over the window.\n# TYPE whet_drift_psi gauge\n");
        for d in &columns {
            let _ = writeln!(
                out,
                "whet_drift_psi{{feature=\"{}\"}} {}",
                esc(&d.column),
                d.psi
            );
        }
        out.push_str("# HELP whet_drift_drifted 1 when the column drifted in the latest check.\n# TYPE whet_drift_drifted gauge\n");
        for d in &columns {
            let _ = writeln!(
                out,
                "whet_drift_drifted{{feature=\"{}\"}} {}",
                esc(&d.column),
                u8::from(d.drifted())
            );
        }
    }
}

/// Whether a check with verdict `drift` is recorded, given the last one recorded: the first
/// always, then one whose verdict differs, or one `every` after the last.
fn record_due(last: Option<(Instant, bool)>, drift: bool, now: Instant, every: Duration) -> bool {
    match last {
        None => true,
        Some((at, verdict)) => verdict != drift || now.duration_since(at) >= every,
    }
}

/// What the drift recorder did with the checks handed to it.
#[derive(Default)]
pub struct RecordCounts {
    pub ok: AtomicU64,
    /// The store refused or could not be reached.
    pub failed: AtomicU64,
    /// The recorder was still busy with an earlier check.
    pub dropped: AtomicU64,
}

impl RecordCounts {
    fn to_json(&self) -> Value {
        json!({
            "ok": self.ok.load(Ordering::Relaxed),
            "failed": self.failed.load(Ordering::Relaxed),
            "dropped": self.dropped.load(Ordering::Relaxed),
        })
    }

    /// The recorder's lines of `/metrics`.
    pub fn render(&self, out: &mut String) {
        out.push_str("# HELP whet_drift_records_total Drift checks handed to the tracking store, by outcome (failed: the store refused or was unreachable; dropped: the recorder was busy).\n# TYPE whet_drift_records_total counter\n");
        for (outcome, n) in [
            ("ok", &self.ok),
            ("failed", &self.failed),
            ("dropped", &self.dropped),
        ] {
            let _ = writeln!(
                out,
                "whet_drift_records_total{{outcome=\"{outcome}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_the_first_check_then_verdict_changes_and_one_per_interval() {
        let every = Duration::from_secs(600);
        let t0 = Instant::now();
        assert!(record_due(None, false, t0, every));
        let last = Some((t0, false));
        // Same verdict within the interval: not recorded.
        assert!(!record_due(
            last,
            false,
            t0 + Duration::from_secs(599),
            every
        ));
        // A changed verdict is recorded at once.
        assert!(record_due(last, true, t0 + Duration::from_secs(1), every));
        // The same verdict again once the interval has passed.
        assert!(record_due(last, false, t0 + every, every));
    }
}
