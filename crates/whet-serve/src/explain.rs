//! `POST /predict?explain=true`: exact SHAP values per scored row, summed per input column.
//!
//! The values are the predictor's own ([`whet_learn::model::Predictor::shap_values`], the code
//! `whet review` explains with): TreeSHAP for trees, exact for linear models, averaged over an
//! ensemble of regressors. Features an input column expands into (date parts, hashed text
//! tokens) are summed into that column, which additivity keeps exact, so the answer speaks of
//! the columns the caller sent. Per row and output, the contributions plus the base value are
//! the raw score the link turns into the prediction.
//!
//! A linear model is explained against its training data as the reference profile stored in
//! the model file describes it (a single request has no spread of its own): the base value is
//! the mean training score, as a tree's is under its covers.

use serde_json::{Map, Value, json};
use whet_data::Task;
use whet_data::prep::{Features, Step, column_groups};
use whet_data::reference::Distribution;
use whet_learn::model::{Model, Predictor};

use crate::input::{self, Columns};

/// Rows drawn from the reference profile's marginals for a linear model's background.
const BACKGROUND_ROWS: usize = 1000;

/// Whether `p` holds a linear model (whose SHAP values need a background).
fn has_linear(p: &Predictor) -> bool {
    match p {
        Predictor::Linear(_) => true,
        Predictor::Ensemble(e) => e.members.iter().any(|m| has_linear(&m.predictor)),
        Predictor::LogTarget(m) => has_linear(&m.inner),
        _ => false,
    }
}

/// `n` rows whose columns follow the reference profile's marginals (each column on its own;
/// a linear model's SHAP values treat features as independent, so only marginals matter):
/// row i takes the (i + ½)/n quantile of each column, missing values first. A numeric value
/// is the training mean, which gives the exact mean of the (linear) standardized encoding;
/// datetimes interpolate the stored quantiles, as their parts are not linear in the date.
fn reference_rows(m: &Model, n: usize) -> Columns {
    let mut names = Vec::new();
    let mut values = Vec::new();
    for step in &m.prep.steps {
        let name = step.column();
        let reference = m.reference.column(name);
        let missing = reference.map_or(0.0, |c| c.missing_fraction());
        let column: Vec<Value> = (0..n)
            .map(|i| {
                let u = (i as f64 + 0.5) / n as f64;
                let Some(c) = reference else {
                    return Value::Null;
                };
                if u < missing {
                    return Value::Null;
                }
                // Position among the present values.
                let v = ((u - missing) / (1.0 - missing)).clamp(0.0, 1.0);
                match (&c.distribution, step) {
                    (Distribution::Numeric(d), Step::Numeric { .. }) => json!(d.mean),
                    (Distribution::Numeric(d), Step::Datetime { .. }) => {
                        match interpolate(&d.quantiles, v) {
                            Some(ms) => json!(whet_data::datetime::format_iso(ms as i64)),
                            None => Value::Null,
                        }
                    }
                    (Distribution::Numeric(d), _) => json!(d.mean.to_string()),
                    (
                        Distribution::Categorical(d),
                        Step::Boolean {
                            true_values,
                            false_values,
                            ..
                        },
                    ) => {
                        // The profile names a boolean's levels "true" and "false"; a request
                        // sends the column's own words.
                        let count =
                            |l: &str| d.levels.iter().find(|x| x.0 == l).map_or(0, |x| x.1) as f64;
                        let (t, f) = (count("true"), count("false"));
                        let share = if t + f > 0.0 { t / (t + f) } else { 0.5 };
                        let words = if v < share { true_values } else { false_values };
                        words.first().map_or(Value::Null, |w| json!(w))
                    }
                    (Distribution::Categorical(d), _) => {
                        let total: u64 = d.levels.iter().map(|l| l.1).sum::<u64>() + d.other_count;
                        let mut acc = 0.0;
                        for (level, count) in &d.levels {
                            acc += *count as f64 / total.max(1) as f64;
                            if v < acc {
                                return json!(level);
                            }
                        }
                        // Levels the profile did not keep: unseen for the Prep as well.
                        json!("\u{1}other")
                    }
                }
            })
            .collect();
        names.push(name.to_string());
        values.push(column);
    }
    Columns {
        names,
        values,
        rows: n,
    }
}

/// The value at `q` of a quantile list `(q, value)` sorted by q, linearly between entries.
fn interpolate(quantiles: &[(f64, f64)], q: f64) -> Option<f64> {
    let first = quantiles.first()?;
    if q <= first.0 {
        return Some(first.1);
    }
    for w in quantiles.windows(2) {
        let ((q0, v0), (q1, v1)) = (w[0], w[1]);
        if q <= q1 {
            let t = if q1 > q0 { (q - q0) / (q1 - q0) } else { 0.0 };
            return Some(v0 + t * (v1 - v0));
        }
    }
    quantiles.last().map(|l| l.1)
}

/// The background a linear model is explained against (None for trees, which need none), or
/// why it cannot be built. It depends on the model alone, so it is built once per model.
pub struct Background(Result<Option<Features>, String>);

impl Background {
    pub fn of(m: &Model) -> Background {
        Background(background(m))
    }
}

fn background(m: &Model) -> Result<Option<Features>, String> {
    if !has_linear(&m.predictor) {
        return Ok(None);
    }
    let cols = reference_rows(m, BACKGROUND_ROWS);
    let table = input::to_table(&m.prep, &cols).map_err(|e| e.message)?;
    let features = m
        .prep
        .transform(&table)
        .map_err(|e| format!("cannot build the reference rows: {e}"))?
        .features;
    Ok(Some(features))
}

/// The `"shap"` member of a `/predict?explain=true` answer for the rows of `x`, or why this
/// model cannot be explained exactly. `bg` is [`Background::of`] the same model.
pub fn explain(m: &Model, bg: &Background, x: &Features) -> Result<Value, String> {
    let bg = bg.0.as_ref().map_err(Clone::clone)?;
    let s = m.predictor.shap_values(x, bg.as_ref())?;
    let outputs: Vec<String> = match (m.metadata.task, s.n_outputs) {
        (Task::Regression, 1) => vec![m.metadata.target.clone()],
        // A binary model's single score is the positive (last) class's, as LightGBM's
        // pred_contrib gives it.
        (_, 1) => vec![m.metadata.classes.last().cloned().unwrap_or_default()],
        _ => m.metadata.classes.clone(),
    };
    if outputs.len() != s.n_outputs {
        return Err(format!(
            "the predictor has {} outputs for {} classes",
            s.n_outputs,
            outputs.len()
        ));
    }
    let groups = column_groups(&m.prep, x);
    let base: Map<String, Value> = outputs
        .iter()
        .enumerate()
        .map(|(o, name)| {
            // The base is the same for every row; an empty request has none to read it from.
            let v = (x.n_rows > 0).then(|| s.of(0, o)[s.n_features]);
            (name.clone(), json!(v))
        })
        .collect();
    let contributions: Vec<Value> = (0..x.n_rows)
        .map(|r| {
            let per_output: Map<String, Value> = outputs
                .iter()
                .enumerate()
                .map(|(o, name)| {
                    let v = s.of(r, o);
                    let per_column: Map<String, Value> = groups
                        .iter()
                        .map(|g| {
                            let sum: f64 = g.features.iter().map(|&f| v[f]).sum();
                            (g.column.clone(), json!(sum))
                        })
                        .collect();
                    (name.clone(), Value::Object(per_column))
                })
                .collect();
            Value::Object(per_output)
        })
        .collect();
    let units = match s.link {
        whet_learn::shap::Link::Identity => "target units",
        whet_learn::shap::Link::Logistic => "log-odds",
        whet_learn::shap::Link::Softmax => "softmax inputs (log-probabilities up to a constant)",
        whet_learn::shap::Link::Log => "log of the predicted mean",
        whet_learn::shap::Link::Log1p => "ln(1 + target)",
        whet_learn::shap::Link::Shares => "class shares",
    };
    Ok(json!({
        "method": s.method,
        "link": s.link,
        "units": units,
        "outputs": outputs,
        "base_values": base,
        "contributions": contributions,
    }))
}
