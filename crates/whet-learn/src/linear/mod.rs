//! Linear models: elastic-net linear regression, binary logistic and multinomial (softmax)
//! logistic regression, on the dense numeric design of the [`Encoder`] (shared with the
//! k-nearest-neighbours learner).
//!
//! We write these ourselves instead of pulling `linfa` + `ndarray`: the models are small, pure
//! Rust, and we keep full control of missing values and categorical features (mean imputation
//! with missing indicators, capped one-hot encoding), of sample weights everywhere, and of the
//! serialized form.
//!
//! # Objective
//!
//! With normalized sample weights `v_i = w_i / Σw` (so weights equal to 2 are the same as
//! duplicated rows), every model minimizes
//!
//! ```text
//! Σ v_i · loss(y_i, b + x_i·β)  +  α·l1_ratio·|β|₁  +  α·(1 − l1_ratio)/2·|β|²
//! ```
//!
//! on the encoded design, with unpenalized intercepts `b`. The loss is `½(y − η)²` for
//! regression (the scikit-learn `ElasticNet` objective), the logistic loss for binary tasks
//! and the softmax cross-entropy for multiclass tasks (one coefficient vector per class, all
//! penalized, as scikit-learn's multinomial `LogisticRegression`). scikit-learn's
//! `LogisticRegression(C)` corresponds to `alpha = 1 / (C · n)` with `l1_ratio = 0`.
//!
//! # Solver
//!
//! Proximal Newton (glmnet style): at the current coefficients the loss is replaced by its
//! exact second-order expansion, the penalized quadratic model is minimized by cyclic
//! coordinate descent with soft thresholding, and the step is accepted with a backtracking
//! (Armijo) line search on the true objective. For regression the quadratic model is exact,
//! so this is plain coordinate descent on the elastic net. Details that keep it fast and
//! tight:
//!
//! * columns are centered (weighted) inside the solver, so the intercept is nearly decoupled;
//! * the multinomial updates one column's coefficients in all classes at once with the exact
//!   `classes × classes` Hessian block (a small Cholesky solve for ridge, a small coordinate
//!   descent for L1), because the classes are strongly coupled;
//! * directions that change only the penalty – the same amount added to every level of a
//!   categorical feature whose one-hot columns cover all rows, or to a column's coefficient
//!   in every class – are minimized exactly instead of being crawled along;
//! * far from the optimum the quadratic model is solved only to two digits (inexact Newton),
//!   near it to full accuracy.
//!
//! The design is stored by columns: dense columns centered, and columns with at most a
//! quarter of their rows nonzero (one-hot levels) as their nonzero entries, centered
//! implicitly (the pending step's change of the linear predictors carries one scalar offset
//! for every row). A pass of the Gaussian or binomial solver costs O(stored entries), about
//! rows × (numeric columns + categorical features) with one-hot encoding, not rows × encoded
//! columns: on flights (236,000 rows; four categorical features of up to 64 one-hot levels
//! each, and a dozen numeric ones) 1,000 passes took 15 s instead of 141 s. The multinomial
//! writes a sparse column out when it visits it (its updates touch every row anyway). Memory
//! is the stored entries plus a few vectors per row and output.
//!
//! Convergence: the final coordinate-descent pass moved no coordinate by more than `tol` in
//! weighted root-mean-square linear-predictor units (times the target's standard deviation
//! for regression), and the last Newton step was that small too. `max_iter` bounds the total
//! number of coordinate-descent passes over the data; [`LinearModel::converged`] reports
//! whether the tolerance was reached.
//!
//! # Files
//!
//! This file holds the fit (design, class handling, back to uncentered coefficients);
//! `params` the parameters, `model` the fitted [`LinearModel`] and its prediction, `solver`
//! the proximal Newton solver. The encoder is [`crate::encode`].

mod model;
mod params;
mod solver;
#[cfg(test)]
mod tests;

use whet_data::Task;

use crate::data::{TrainSet, check_train_set};
use crate::encode::Encoder;
use crate::error::{LearnError, Result};
use solver::{Family, Problem};

/// A column with at most one row in this many nonzero is stored sparse (see
/// [`solver::Column`]): below that its entries cost less to visit than the dense rows.
const SPARSE_SHARE: usize = 4;

pub use model::LinearModel;
pub use params::LinearParams;

/// Fits a linear model for `data.task`: elastic-net regression, binary logistic or
/// multinomial logistic regression (see the module documentation).
pub fn fit_linear(data: &TrainSet, params: &LinearParams) -> Result<LinearModel> {
    fit_linear_until(data, params, None)
}

/// [`fit_linear`] that gives up with [`LearnError::Interrupted`] once `deadline` has passed
/// (checked every coordinate-descent sweep).
pub fn fit_linear_until(
    data: &TrainSet,
    params: &LinearParams,
    deadline: Option<std::time::Instant>,
) -> Result<LinearModel> {
    fit_stored(data, params, deadline, SPARSE_SHARE)
}

/// The fit, with columns of at most one nonzero row in `sparse_share` stored sparse (tests
/// check that storage changes nothing).
fn fit_stored(
    data: &TrainSet,
    params: &LinearParams,
    deadline: Option<std::time::Instant>,
    sparse_share: usize,
) -> Result<LinearModel> {
    params.validate()?;
    check_train_set(data)?;
    let (encoder, training) = Encoder::fit_for_training(data, params.cat_encoding)?;
    let p = encoder.width();

    // Rows with positive weight, normalized weights, the design by columns.
    let rows: Vec<usize> = (0..data.n_rows())
        .map(|i| data.row(i))
        .filter(|&r| data.weight_of(r) > 0.0)
        .collect();
    let n = rows.len();
    let total: f64 = rows.iter().map(|&r| data.weight_of(r)).sum();
    let v: Vec<f64> = rows.iter().map(|&r| data.weight_of(r) / total).collect();
    // A first pass counts each column's nonzero rows, so that every column is allocated once,
    // in its storage; the second fills the columns.
    let mut nonzero = vec![0usize; p];
    let mut buf = vec![0.0; p];
    let encode = |r: usize, buf: &mut [f64]| {
        encoder.encode_row(data.x, r, buf);
        training.apply(r, buf);
    };
    // Categorical features whose one-hot columns cover every row (nothing capped or unseen).
    let mut groups = encoder.categorical_groups();
    let mut complete = vec![true; groups.len()];
    for &r in &rows {
        encode(r, &mut buf);
        for (&b, count) in buf.iter().zip(&mut nonzero) {
            *count += usize::from(b != 0.0);
        }
        for (g, ok) in groups.iter().zip(&mut complete) {
            *ok &= g.iter().map(|&j| buf[j]).sum::<f64>() == 1.0;
        }
    }
    let mut complete = complete.into_iter();
    groups.retain(|_| complete.next() == Some(true));
    let mut columns: Vec<solver::Column> = nonzero
        .iter()
        .map(|&count| {
            if count <= n / sparse_share {
                solver::Column::Sparse {
                    rows: Vec::with_capacity(count),
                    values: Vec::with_capacity(count),
                }
            } else {
                solver::Column::Dense(vec![0.0; n])
            }
        })
        .collect();
    for (i, &r) in rows.iter().enumerate() {
        encode(r, &mut buf);
        for (&b, column) in buf.iter().zip(&mut columns) {
            match column {
                solver::Column::Dense(x) => x[i] = b,
                solver::Column::Sparse { rows, values } => {
                    if b != 0.0 {
                        rows.push(i as u32);
                        values.push(b);
                    }
                }
            }
        }
    }
    let mut means = vec![0.0; p];
    let mut variance = vec![0.0; p];
    let mut shift = vec![0.0; p];
    for (j, column) in columns.iter_mut().enumerate() {
        match column {
            solver::Column::Dense(col) => {
                let m: f64 = col.iter().zip(&v).map(|(a, w)| a * w).sum();
                for a in col.iter_mut() {
                    *a -= m;
                }
                means[j] = m;
                variance[j] = col.iter().zip(&v).map(|(a, w)| a * a * w).sum();
            }
            solver::Column::Sparse { rows, values } => {
                let weight = |i: &u32| v[*i as usize];
                let m: f64 = rows
                    .iter()
                    .zip(values.iter())
                    .map(|(i, s)| s * weight(i))
                    .sum();
                let square: f64 = rows
                    .iter()
                    .zip(values.iter())
                    .map(|(i, s)| s * s * weight(i))
                    .sum();
                means[j] = m;
                shift[j] = m;
                // Σ v (x − m)² over every row, with Σ v = 1.
                variance[j] = (square - m * m).max(0.0);
            }
        }
    }
    let active: Vec<bool> = variance.iter().map(|&s| s > 1e-20).collect();

    let (family, n_outputs) = match data.task {
        Task::Regression => (Family::Gaussian, 1),
        Task::Binary => (Family::Binomial, 1),
        Task::Multiclass => (Family::Multinomial, data.n_classes),
    };
    // Class weights; classes missing from training are left out of the softmax.
    let mut present = vec![true; n_outputs];
    let mut class_of: Vec<u32> = Vec::new();
    let mut target: Vec<f64> = rows.iter().map(|&r| data.y[r]).collect();
    let mut kk = 1;
    match data.task {
        Task::Regression => {}
        Task::Binary | Task::Multiclass => {
            let mut cw = vec![0.0; data.n_classes];
            for (&r, &w) in rows.iter().zip(&v) {
                cw[data.y[r] as usize] += w;
            }
            let seen = cw.iter().filter(|&&w| w > 0.0).count();
            if seen < 2 {
                return Err(LearnError::data(
                    "the training rows hold only one class",
                    "a classifier needs at least two classes with positive weight; check the split or the weights",
                ));
            }
            if data.task == Task::Multiclass {
                let mut index = vec![u32::MAX; data.n_classes];
                let mut next = 0;
                for (c, &w) in cw.iter().enumerate() {
                    present[c] = w > 0.0;
                    if w > 0.0 {
                        index[c] = next;
                        next += 1;
                    }
                }
                kk = next as usize;
                class_of = rows.iter().map(|&r| index[data.y[r] as usize]).collect();
                target.clear();
            }
        }
    }

    let problem = Problem {
        n,
        p,
        kk,
        columns: &columns,
        shift: &shift,
        ones: vec![1.0; n],
        v: &v,
        active: &active,
        variance: &variance,
        family,
        y: &target,
        class_of: &class_of,
        groups,
        l1: params.alpha * params.l1_ratio,
        l2: params.alpha * (1.0 - params.l1_ratio),
    };
    let solution = problem.solve(params.max_iter, params.tol, deadline);
    if solution.interrupted {
        return Err(LearnError::Interrupted {
            done: solution.n_iter,
            planned: params.max_iter,
        });
    }

    // Back to all outputs and uncentered columns.
    let mut coef = vec![0.0; n_outputs * p];
    let mut intercept = vec![0.0; n_outputs];
    let mut solved = 0;
    for o in 0..n_outputs {
        if !present[o] {
            continue;
        }
        let beta = &solution.beta[solved * p..(solved + 1) * p];
        coef[o * p..(o + 1) * p].copy_from_slice(beta);
        intercept[o] =
            solution.intercept[solved] - beta.iter().zip(&means).map(|(b, m)| b * m).sum::<f64>();
        solved += 1;
    }
    Ok(LinearModel {
        encoder,
        task: data.task,
        n_classes: data.n_classes,
        n_outputs,
        coef,
        intercept,
        present,
        n_iter: solution.n_iter,
        converged: solution.converged,
    })
}
