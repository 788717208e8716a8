//! Linear-model parameters: parsing from text and their checks.

use serde::{Deserialize, Serialize};

use crate::encode::CatEncoding;
use crate::error::{LearnError, Result};
use crate::param_text as text;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearParams {
    /// Regularization strength (≥ 0); scikit-learn's `C` is `1 / (alpha · n)`.
    pub alpha: f64,
    /// Share of the L1 penalty: 0 = ridge, 1 = lasso.
    pub l1_ratio: f64,
    /// Maximum number of coordinate-descent passes over the data.
    pub max_iter: usize,
    /// Convergence tolerance (see the module documentation).
    pub tol: f64,
    /// How categorical features become numbers (one-hot, ordinal or target).
    #[serde(default, skip_serializing_if = "CatEncoding::is_one_hot")]
    pub cat_encoding: CatEncoding,
}

impl Default for LinearParams {
    fn default() -> Self {
        LinearParams {
            alpha: 1e-4,
            l1_ratio: 0.0,
            max_iter: 1000,
            tol: 1e-6,
            cat_encoding: CatEncoding::OneHot,
        }
    }
}

fn check_alpha(name: &str, alpha: f64) -> Result<()> {
    if alpha.is_finite() && alpha >= 0.0 {
        Ok(())
    } else {
        Err(LearnError::param(
            name,
            alpha,
            "must be a finite number ≥ 0",
            "use e.g. alpha=0.0001; 0 means no regularization",
        ))
    }
}

fn check_l1_ratio(name: &str, r: f64) -> Result<()> {
    if (0.0..=1.0).contains(&r) {
        Ok(())
    } else {
        Err(LearnError::param(
            name,
            r,
            "must be between 0 and 1",
            "0 is ridge, 1 is lasso, values in between mix them",
        ))
    }
}

fn check_max_iter(name: &str, m: usize) -> Result<()> {
    if m >= 1 {
        Ok(())
    } else {
        Err(LearnError::param(
            name,
            m,
            "must be at least 1",
            "use e.g. max_iter=1000",
        ))
    }
}

fn check_tol(name: &str, t: f64) -> Result<()> {
    if t.is_finite() && t > 0.0 {
        Ok(())
    } else {
        Err(LearnError::param(
            name,
            t,
            "must be a finite number > 0",
            "use e.g. tol=1e-6",
        ))
    }
}

impl LinearParams {
    /// The parameter names `set` takes.
    pub const NAMES: &'static [&'static str] =
        &["alpha", "l1_ratio", "max_iter", "tol", "cat_encoding"];

    /// Sets one parameter from text. Returns `Ok(false)` for a key that is not a linear-model
    /// parameter; keys: `alpha` (alias `lambda`), `l1_ratio`, `max_iter`, `tol`,
    /// `cat_encoding` (`onehot`, `ordinal` or `target`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "alpha" | "lambda" => {
                let v = text::value(key, value)?;
                check_alpha(key, v)?;
                self.alpha = v;
            }
            "l1_ratio" => {
                let v = text::value(key, value)?;
                check_l1_ratio(key, v)?;
                self.l1_ratio = v;
            }
            "max_iter" => {
                let v = text::value(key, value)?;
                check_max_iter(key, v)?;
                self.max_iter = v;
            }
            "tol" => {
                let v = text::value(key, value)?;
                check_tol(key, v)?;
                self.tol = v;
            }
            "cat_encoding" => self.cat_encoding = crate::encode::parse_cat_encoding(key, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub fn validate(&self) -> Result<()> {
        check_alpha("alpha", self.alpha)?;
        check_l1_ratio("l1_ratio", self.l1_ratio)?;
        check_max_iter("max_iter", self.max_iter)?;
        check_tol("tol", self.tol)
    }
}
