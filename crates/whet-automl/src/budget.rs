//! The time budget, cut in one place: `--time` counts from the command's start and covers
//! everything. From it come the search's deadline (less a reserve for writing the model and
//! the run), and, as the search goes, the reserves for the final stage and for scoring the
//! test set with the final model.

use std::time::{Duration, Instant};

/// A `--time` budget as people write it: `90`, `90s`, `1.5m`, `2h`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a duration; use e.g. 60s, 5m or 1h"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" | "sec" | "secs" => v,
        "m" | "min" | "mins" => v * 60.0,
        "h" | "hr" | "hours" => v * 3600.0,
        _ => return Err(format!("unknown unit '{unit}' in '{s}'; use s, m or h")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("'{s}': the budget must be positive"));
    }
    // Finite is not enough: twenty digits of seconds are past what a Duration holds.
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("'{s}' is longer than any budget whet can keep; use e.g. 24h"))
}

/// The budget of a study as the user gave it.
#[derive(Clone, Copy, Debug)]
pub struct StudyBudget {
    /// When the command started: the time budget counts from here.
    pub started: Instant,
    /// The whole command's time budget; 60 s when neither time nor trials are given.
    pub time: Option<Duration>,
    pub trials: Option<usize>,
}

/// The time budget when neither a time nor a trial count is given.
pub const DEFAULT_TIME: Duration = Duration::from_secs(60);

impl StudyBudget {
    pub fn new(started: Instant, time: Option<Duration>, trials: Option<usize>) -> StudyBudget {
        let time = match (time, trials) {
            (None, None) => Some(DEFAULT_TIME),
            (t, _) => t,
        };
        StudyBudget {
            started,
            time,
            trials,
        }
    }

    /// Writing the model, the trial log and the tracked runs happens after the search.
    fn write_reserve(&self) -> Duration {
        Duration::from_millis(300) + self.time.unwrap_or_default() / 100
    }

    /// The search's share: its trial count and the instant it must be done by.
    pub fn search(&self) -> Budget {
        let end = |t: Duration| self.started + t.saturating_sub(self.write_reserve());
        match (self.time, self.trials) {
            (Some(t), Some(n)) => Budget::Both(n, end(t)),
            (Some(t), None) => Budget::Until(end(t)),
            (None, Some(n)) => Budget::Trials(n),
            (None, None) => Budget::Trials(1),
        }
    }
}

/// Seconds the caller needs after the search per second of out-of-fold prediction: scoring
/// a test set of `test_rows`. The search measures one pass of each fold model over its
/// validation rows; scoring the test set runs all `k` fold models over every test row. No
/// margin on top: the search's pass walks binned rows one tree at a time on one thread, and
/// the test set's goes through the compiled trees on every thread, about three times as fast
/// (birthdays: 1.53 s of out-of-fold prediction on 29,800 rows, 1.2 s for the whole
/// `whet predict` of 74,600 test rows on one thread). A factor of 3 here left 12 of 60 s
/// unused on the large shared sets.
pub fn finish_factor(k: usize, validated_rows: usize, test_rows: Option<usize>) -> f64 {
    match test_rows {
        Some(n) => k as f64 * n as f64 / validated_rows.max(1) as f64,
        None => 0.0,
    }
}

/// Seconds to keep free at the end of a time budget: the caller's use of the final model is
/// estimated from the out-of-fold prediction time of the trials an ensemble would use.
pub(crate) fn finish_reserve(predict_seconds: &[f64], factor: f64) -> Duration {
    let predict: f64 = predict_seconds.iter().sum();
    Duration::from_secs_f64((predict * factor).min(3600.0) + 0.3)
}

#[derive(Clone, Debug)]
pub enum Budget {
    Trials(usize),
    /// Stop starting trials at this instant, and interrupt the running one.
    Until(Instant),
    Both(usize, Instant),
}

impl Budget {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Budget::Until(d) | Budget::Both(_, d) => Some(*d),
            Budget::Trials(_) => None,
        }
    }

    pub(crate) fn max_trials(&self) -> usize {
        match self {
            Budget::Trials(n) | Budget::Both(n, _) => *n,
            Budget::Until(_) => usize::MAX,
        }
    }
}
