//! The model's Prep as graph nodes: one input per training column, and on demand the features
//! `Prep::transform` makes of it, as exactly the values whet's `Features` hold.

use whet_data::prep::{DatePart, Prep, Step};

use super::graph::{Builder, ML};
use super::proto::{Attr, DOUBLE, STRING, TensorData};
use crate::error::{LearnError, Result};

/// One feature in the graph.
#[derive(Clone, Debug)]
pub(crate) enum FeatureValue {
    /// double `[N, 1]`: the f32 value whet computes, widened exactly; NaN when missing.
    Numeric(String),
    /// int64 `[N]`: the category code (`n_categories - 1` is "other/unseen"), and
    /// `n_categories` for a missing value.
    Categorical { index: String, n_categories: u32 },
}

pub(crate) struct PrepGraph<'a> {
    prep: &'a Prep,
    /// Step and position within the step of every feature.
    owner: Vec<(usize, usize)>,
    built: Vec<Option<Vec<FeatureValue>>>,
}

/// Unicode White_Space, the characters Rust's `str::trim` removes.
const WHITE_SPACE: &str = r"[\t\n\x{0B}\x{0C}\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]";
const MS_PER_DAY: f64 = 86_400_000.0;

impl<'a> PrepGraph<'a> {
    /// Declares one graph input per Prep step, named as the training column.
    pub fn new(b: &mut Builder, prep: &'a Prep) -> PrepGraph<'a> {
        let mut owner = Vec::new();
        for (s, step) in prep.steps.iter().enumerate() {
            let (elem, doc) = match step {
                Step::Numeric { .. } => (DOUBLE, "number; NaN when missing".to_string()),
                Step::Boolean {
                    true_values,
                    false_values,
                    ..
                } => (
                    STRING,
                    format!(
                        "text: true for {}, false for {} (case and surrounding space ignored); anything else is missing",
                        true_values.join("/"),
                        false_values.join("/")
                    ),
                ),
                Step::Categorical { .. } => (
                    STRING,
                    "text category; \"\" when missing, unseen values share the other code".into(),
                ),
                Step::Datetime { .. } => (
                    DOUBLE,
                    "milliseconds since 1970-01-01T00:00:00 UTC; NaN when missing".into(),
                ),
                Step::Text { .. } => (STRING, "text".into()),
            };
            b.input(step.column(), elem, doc);
            owner.extend((0..step.feature_names().len()).map(|i| (s, i)));
        }
        PrepGraph {
            prep,
            owner,
            built: vec![None; prep.steps.len()],
        }
    }

    pub fn n_features(&self) -> usize {
        self.owner.len()
    }

    /// The first input, for shapes when no feature is needed.
    pub fn first_input(&self) -> &str {
        self.prep.steps.first().map_or("", |s| s.column())
    }

    pub fn feature(&mut self, b: &mut Builder, f: usize) -> Result<FeatureValue> {
        let &(s, i) = self.owner.get(f).ok_or_else(|| {
            LearnError::data(
                format!(
                    "the predictor reads feature {f}, but the Prep makes {}",
                    self.owner.len()
                ),
                "the model file is inconsistent; train it again",
            )
        })?;
        if self.built[s].is_none() {
            self.built[s] = Some(build_step(b, self.prep, &self.prep.steps[s])?);
        }
        match self.built[s].as_ref().and_then(|v| v.get(i)) {
            Some(v) => Ok(v.clone()),
            None => Err(LearnError::data(
                format!(
                    "step '{}' made fewer features than it names",
                    self.prep.steps[s].column()
                ),
                "this is a bug in whet; please report it",
            )),
        }
    }
}

/// Rounds a double `[N, 1]` to f32 and back, as whet keeps features in f32.
fn as_f32(b: &mut Builder, x: &str) -> String {
    let f = b.cast(x, super::proto::FLOAT);
    b.cast(&f, DOUBLE)
}

fn build_step(b: &mut Builder, prep: &Prep, step: &Step) -> Result<Vec<FeatureValue>> {
    let x = step.column().to_string();
    Ok(match step {
        Step::Numeric { median, .. } => {
            let mut v = as_f32(b, &x);
            if prep.options.impute_numeric {
                let nan = b.op("IsNaN", &[&v], vec![]);
                let m = b.scalar(f64::from(*median as f32));
                v = b.op("Where", &[&nan, &m, &v], vec![]);
            }
            vec![FeatureValue::Numeric(v)]
        }
        Step::Boolean {
            true_values,
            false_values,
            ..
        } => {
            let nan = b.scalar(f64::NAN);
            let mut v = nan;
            for (values, number) in [(false_values, 0.0), (true_values, 1.0)] {
                if values.is_empty() {
                    continue;
                }
                let hit = b.op(
                    "RegexFullMatch",
                    &[&x],
                    vec![("pattern", Attr::Str(boolean_pattern(values)))],
                );
                let c = b.scalar(number);
                v = b.op("Where", &[&hit, &c, &v], vec![]);
            }
            vec![FeatureValue::Numeric(v)]
        }
        Step::Categorical { categories, .. } => {
            let other = categories.len() as i64;
            let code = b.op_in(
                ML,
                "LabelEncoder",
                &[&x],
                vec![
                    ("keys_strings", Attr::Strings(categories.clone())),
                    ("values_int64s", Attr::Ints((0..other).collect())),
                    ("default_int64", Attr::Int(other)),
                ],
            );
            // A string tensor has no null: "" stands for a missing value, unless it is a
            // category of its own.
            let code = if categories.iter().any(String::is_empty) {
                code
            } else {
                let empty = b.constant("empty", vec![], TensorData::Str(vec![String::new()]));
                let is_missing = b.op("Equal", &[&x, &empty], vec![]);
                let missing = b.i64s("missing", vec![], vec![other + 1]);
                b.op("Where", &[&is_missing, &missing, &code], vec![])
            };
            let index = b.flatten(&code);
            vec![FeatureValue::Categorical {
                index,
                n_categories: other as u32 + 1,
            }]
        }
        Step::Datetime { parts, .. } => {
            let parts_graph = DateGraph::new(b, &x);
            parts
                .iter()
                .map(|&p| FeatureValue::Numeric(parts_graph.part(b, &x, p)))
                .collect()
        }
        Step::Text { column, .. } => {
            return Err(LearnError::data(
                format!(
                    "cannot export the text column '{column}' exactly: its features are hashed token counts (FNV-1a over Unicode-lowercased words), which ONNX has no operators for"
                ),
                "train without text features (e.g. drop the column before `whet train`), or serve the model with `whet serve`",
            ));
        }
    })
}

/// A pattern that fully matches a value exactly when `trim` and ASCII case folding make it
/// equal to one of `values` (what `Prep` accepts for a boolean column).
fn boolean_pattern(values: &[String]) -> String {
    let alternatives: Vec<String> = values
        .iter()
        .map(|v| {
            v.trim()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else if c.is_ascii_digit() {
                        c.to_string()
                    } else {
                        format!(r"\x{{{:X}}}", c as u32)
                    }
                })
                .collect()
        })
        .collect();
    format!("{WHITE_SPACE}*(?:{}){WHITE_SPACE}*", alternatives.join("|"))
}

/// Calendar parts of epoch milliseconds in double arithmetic, as `datetime::civil_parts`
/// computes them in integers: every quotient below is of integers far under 2^53, so
/// `Floor(a / b)` is the exact floor division.
struct DateGraph {
    days: String,
    year: String,
    month: String,
    day: String,
}

fn floor_div(b: &mut Builder, x: &str, d: f64) -> String {
    let c = b.scalar(d);
    let q = b.op("Div", &[x, &c], vec![]);
    b.op("Floor", &[&q], vec![])
}

fn mul_sub(b: &mut Builder, x: &str, q: &str, d: f64) -> String {
    let c = b.scalar(d);
    let p = b.op("Mul", &[q, &c], vec![]);
    b.op("Sub", &[x, &p], vec![])
}

impl DateGraph {
    fn new(b: &mut Builder, ms: &str) -> DateGraph {
        let days = floor_div(b, ms, MS_PER_DAY);
        let shift = b.scalar(719_468.0);
        let z = b.op("Add", &[&days, &shift], vec![]);
        let era = floor_div(b, &z, 146_097.0);
        let doe = mul_sub(b, &z, &era, 146_097.0);
        // yoe = (doe - doe/1460 + doe/36524 - doe/146096) / 365
        let a = floor_div(b, &doe, 1460.0);
        let c = floor_div(b, &doe, 36_524.0);
        let e = floor_div(b, &doe, 146_096.0);
        let t = b.op("Sub", &[&doe, &a], vec![]);
        let t = b.op("Add", &[&t, &c], vec![]);
        let t = b.op("Sub", &[&t, &e], vec![]);
        let yoe = floor_div(b, &t, 365.0);
        // doy = doe - (365*yoe + yoe/4 - yoe/100)
        let k365 = b.scalar(365.0);
        let y365 = b.op("Mul", &[&yoe, &k365], vec![]);
        let y4 = floor_div(b, &yoe, 4.0);
        let y100 = floor_div(b, &yoe, 100.0);
        let s = b.op("Add", &[&y365, &y4], vec![]);
        let s = b.op("Sub", &[&s, &y100], vec![]);
        let doy = b.op("Sub", &[&doe, &s], vec![]);
        // mp = (5*doy + 2) / 153
        let k5 = b.scalar(5.0);
        let k2 = b.scalar(2.0);
        let t = b.op("Mul", &[&doy, &k5], vec![]);
        let t = b.op("Add", &[&t, &k2], vec![]);
        let mp = floor_div(b, &t, 153.0);
        // d = doy - (153*mp + 2)/5 + 1
        let k153 = b.scalar(153.0);
        let t = b.op("Mul", &[&mp, &k153], vec![]);
        let t = b.op("Add", &[&t, &k2], vec![]);
        let t = floor_div(b, &t, 5.0);
        let one = b.scalar(1.0);
        let d = b.op("Sub", &[&doy, &t], vec![]);
        let day = b.op("Add", &[&d, &one], vec![]);
        // m = mp < 10 ? mp + 3 : mp - 9
        let k10 = b.scalar(10.0);
        let k3 = b.scalar(3.0);
        let k9 = b.scalar(9.0);
        let low = b.op("Less", &[&mp, &k10], vec![]);
        let up = b.op("Add", &[&mp, &k3], vec![]);
        let down = b.op("Sub", &[&mp, &k9], vec![]);
        let month = b.op("Where", &[&low, &up, &down], vec![]);
        // year = yoe + era*400 + (m <= 2)
        let k400 = b.scalar(400.0);
        let e400 = b.op("Mul", &[&era, &k400], vec![]);
        let y = b.op("Add", &[&yoe, &e400], vec![]);
        let k2b = b.scalar(2.0);
        let jan_feb = b.op("LessOrEqual", &[&month, &k2b], vec![]);
        let jan_feb = b.cast(&jan_feb, DOUBLE);
        let year = b.op("Add", &[&y, &jan_feb], vec![]);
        DateGraph {
            days,
            year,
            month,
            day,
        }
    }

    fn part(&self, b: &mut Builder, ms: &str, part: DatePart) -> String {
        match part {
            DatePart::Year => as_f32(b, &self.year),
            DatePart::Month => self.month.clone(),
            DatePart::Day => self.day.clone(),
            DatePart::DayOfWeek => {
                // (days + 3) mod 7, Monday = 0.
                let k3 = b.scalar(3.0);
                let t = b.op("Add", &[&self.days, &k3], vec![]);
                let q = floor_div(b, &t, 7.0);
                mul_sub(b, &t, &q, 7.0)
            }
            DatePart::Hour => {
                let rem = mul_sub(b, ms, &self.days, MS_PER_DAY);
                floor_div(b, &rem, 3_600_000.0)
            }
            DatePart::EpochDays => {
                let c = b.scalar(MS_PER_DAY);
                let d = b.op("Div", &[ms, &c], vec![]);
                as_f32(b, &d)
            }
        }
    }
}
