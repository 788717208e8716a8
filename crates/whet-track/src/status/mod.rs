//! `whet status`: the whole store on one screen, as facts and a plan.
//!
//! [`AsyncStore::status`] gathers the facts (per experiment: runs in the window, the best score
//! now and at the window's start, runs that failed; the studies running now; each registered
//! model's aliases with the latest review, comparison and drift verdict of the versions that
//! matter) into a [`StatusReport`], and [`plan`] derives the ordered next actions from those
//! facts alone, each with the command that does it. The CLI renders the report, the server
//! answers it at [`crate::remote::api::STATUS`], and a remote [`crate::Store`] asks the server
//! for it, so all three show the same facts and the same plan.
//!
//! What the facts are read from (the tags the whet commands write):
//! - studies: `whet.kind = study` runs with params `metric`, `trial_budget`,
//!   `time_budget_seconds`, tags `target`, `whet.metric.direction`; metric `cv_<metric>`;
//!   their trials are child runs (`whet.kind = trial`, `whet.status`);
//! - reviews: `whet.kind = review` (experiment "reviews") with `whet.model.name`,
//!   `whet.model.version`, `whet.review.data`, metric `check_warnings`;
//! - comparisons: `whet.kind = compare` (experiment "comparisons") with the challenger as
//!   `whet.model.name`/`whet.model.version`, `whet.compare.verdict`, `whet.compare.champion`
//!   (and `whet.compare.champion.version`), `whet.compare.data`, `whet.promote.*`;
//! - drift: `whet.kind = drift` with `whet.model.*`, `whet.drift.verdict`,
//!   `whet.drift.columns`, `whet.drift.data`.

mod gather;
mod plan;
mod report;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::error::{Error, Result};

pub use plan::{date, plan, shell_word};
pub use report::*;

/// The window when none is given.
pub const DEFAULT_SINCE: &str = "7d";

/// The placeholder for labelled data when the store knows of none for a model.
pub const DATA_PLACEHOLDER: &str = "LABELLED.csv";

/// What [`AsyncStore::status`] reports on.
#[derive(Debug, Clone)]
pub struct StatusQuery {
    /// How the window was written (`7d`), for the report.
    pub since: String,
    /// How far back the window reaches.
    pub window: Duration,
    /// Only this experiment (name or id) and the models registered from it.
    pub experiment: Option<String>,
    /// The report's "now" (ms since the epoch); None: the clock.
    pub now: Option<i64>,
}

impl StatusQuery {
    /// A query for the window written as `since` (see [`parse_since`]).
    pub fn new(since: &str, experiment: Option<&str>) -> Result<StatusQuery> {
        Ok(StatusQuery {
            since: since.trim().to_string(),
            window: parse_since(since)?,
            experiment: experiment.filter(|e| !e.is_empty()).map(str::to_string),
            now: None,
        })
    }
}

/// A look-back window as people write it: `30m`, `12h`, `7d`, `2w`. (Budgets, which
/// `whet train --time` takes, are parsed in whet-automl and have no days; this crate
/// depends on no other whet crate.)
pub fn parse_since(s: &str) -> Result<Duration> {
    let t = s.trim();
    let bad = || {
        Error::Invalid(format!(
            "'{s}' is not a window\n  hint: give a number and a unit: 30m, 12h, 7d or 2w"
        ))
    };
    let i = t.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?;
    let v: f64 = t[..i].trim().parse().map_err(|_| bad())?;
    let unit = match &t[i..] {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3_600.0,
        "d" => 86_400.0,
        "w" => 7.0 * 86_400.0,
        _ => return Err(bad()),
    };
    let secs = v * unit;
    // A window reaching before the epoch reads as "everything", which 100 years covers.
    if !(secs.is_finite() && secs > 0.0 && secs <= 100.0 * 365.25 * 86_400.0) {
        return Err(Error::Invalid(format!(
            "window '{s}' must be positive and at most 100 years\n  hint: e.g. 7d"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}
