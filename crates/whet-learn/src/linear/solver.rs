//! The proximal Newton solver with coordinate descent (the method is described in the
//! [module documentation](super)), on the centered, weighted design.

use super::model::{sigmoid, softplus};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    Gaussian,
    Binomial,
    Multinomial,
}

/// Smallest curvature weight used for logistic losses (keeps Newton steps finite when
/// probabilities saturate; the line search keeps the iteration correct).
const MIN_CURVATURE: f64 = 1e-10;

/// A column of the design as stored. A dense column holds its centered values; a sparse one
/// (a one-hot level, mostly zeros) holds its nonzero raw entries, and its weighted mean (the
/// problem's `shift`) is subtracted implicitly: centering it would make every row nonzero, and
/// one-hot columns are most of a wide design (flights' four categorical features give up to
/// 64 levels each), so a coordinate's work is its entries, not the row count.
pub(super) enum Column {
    Dense(Vec<f64>),
    Sparse { rows: Vec<u32>, values: Vec<f64> },
}

impl Column {
    /// `Σ s_i · f(i)` over the stored entries `s_i`.
    #[inline]
    fn dot(&self, f: impl Fn(usize) -> f64) -> f64 {
        match self {
            Column::Dense(x) => x.iter().enumerate().map(|(i, &s)| s * f(i)).sum(),
            Column::Sparse { rows, values } => rows
                .iter()
                .zip(values)
                .map(|(&r, &s)| s * f(r as usize))
                .sum(),
        }
    }

    /// `Σ s_i² · f(i)` over the stored entries `s_i`.
    #[inline]
    fn dot_square(&self, f: impl Fn(usize) -> f64) -> f64 {
        match self {
            Column::Dense(x) => x.iter().enumerate().map(|(i, &s)| s * s * f(i)).sum(),
            Column::Sparse { rows, values } => rows
                .iter()
                .zip(values)
                .map(|(&r, &s)| s * s * f(r as usize))
                .sum(),
        }
    }

    /// `out_i += a · s_i` over the stored entries.
    #[inline]
    fn add_scaled(&self, a: f64, out: &mut [f64]) {
        match self {
            Column::Dense(x) => {
                for (o, &s) in out.iter_mut().zip(x) {
                    *o += a * s;
                }
            }
            Column::Sparse { rows, values } => {
                for (&r, &s) in rows.iter().zip(values) {
                    out[r as usize] += a * s;
                }
            }
        }
    }
}

/// Gaussian and binomial: the pending Newton step's change of the linear predictors, kept as
/// `dp_i − c` so that a sparse column's implicit centering (every row moves by `−δ·mean`) is
/// one scalar update, with what the coordinate updates read of it kept up to date.
struct Pending {
    /// `v·g` per row.
    vg: Vec<f64>,
    /// `v·h` per row (`v` for the Gaussian, whose curvature is 1).
    vh: Vec<f64>,
    /// `Σ v·h`.
    vh_total: f64,
    /// `Σ v·h·s` per column, over its stored entries.
    vhs: Vec<f64>,
    dp: Vec<f64>,
    c: f64,
    /// `Σ (v·g + v·h·dp)`.
    rp: f64,
}

/// The penalized problem on the centered design. Per-row, per-output arrays (`eta`, `g`, `h`,
/// `deta`) are output-major: index `k · n + i`.
pub(super) struct Problem<'a> {
    pub(super) n: usize,
    pub(super) p: usize,
    /// Number of outputs solved for (present classes for the multinomial).
    pub(super) kk: usize,
    /// The design's columns (centered: see [`Column`]).
    pub(super) columns: &'a [Column],
    /// What is subtracted implicitly from each column's stored entries to centre it: the mean
    /// of a sparse column, 0 for a dense one (stored centered).
    pub(super) shift: &'a [f64],
    /// The intercept's column.
    pub(super) ones: Vec<f64>,
    /// Normalized weights (sum 1).
    pub(super) v: &'a [f64],
    pub(super) active: &'a [bool],
    /// Σ v x² per (centered) column.
    pub(super) variance: &'a [f64],
    pub(super) family: Family,
    /// Gaussian: value; binomial: 0/1.
    pub(super) y: &'a [f64],
    /// Multinomial: class position in 0..kk.
    pub(super) class_of: &'a [u32],
    /// Columns of categorical features whose one-hot columns cover every row.
    pub(super) groups: Vec<Vec<usize>>,
    pub(super) l1: f64,
    pub(super) l2: f64,
}

pub(super) struct Solution {
    /// `kk × p`
    pub(super) beta: Vec<f64>,
    pub(super) intercept: Vec<f64>,
    pub(super) n_iter: usize,
    pub(super) converged: bool,
    /// The deadline passed before convergence.
    pub(super) interrupted: bool,
}

impl Problem<'_> {
    /// Column `j` of the centered design, dense (`j == p`: the intercept's column of ones); a
    /// sparse column is written out into `buf`.
    fn centered<'s>(&'s self, j: usize, buf: &'s mut Vec<f64>) -> &'s [f64] {
        if j == self.p {
            return &self.ones;
        }
        match &self.columns[j] {
            Column::Dense(x) => x,
            Column::Sparse { rows, values } => {
                buf.clear();
                buf.resize(self.n, -self.shift[j]);
                for (&r, &s) in rows.iter().zip(values) {
                    buf[r as usize] += s;
                }
                buf
            }
        }
    }

    fn penalty(&self, beta: &[f64]) -> f64 {
        beta.iter()
            .map(|&b| self.l1 * b.abs() + 0.5 * self.l2 * b * b)
            .sum()
    }

    /// Weighted mean loss at linear predictors `eta + t · deta`.
    fn loss(&self, eta: &[f64], deta: &[f64], t: f64) -> f64 {
        let (n, kk) = (self.n, self.kk);
        let e = |k: usize, i: usize| eta[k * n + i] + t * deta[k * n + i];
        let mut total = 0.0;
        for i in 0..n {
            let l = match self.family {
                Family::Gaussian => {
                    let r = self.y[i] - e(0, i);
                    0.5 * r * r
                }
                Family::Binomial => softplus(e(0, i)) - self.y[i] * e(0, i),
                Family::Multinomial => {
                    let max = (0..kk).map(|k| e(k, i)).fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = (0..kk).map(|k| (e(k, i) - max).exp()).sum();
                    max + sum.ln() - e(self.class_of[i] as usize, i)
                }
            };
            total += self.v[i] * l;
        }
        total
    }

    /// Gradient of the loss per output and row (`g`) and the curvature information `h`:
    /// unused (Gaussian), p(1 − p) (binomial) or the class probabilities (multinomial).
    fn derivatives(&self, eta: &[f64], g: &mut [f64], h: &mut [f64]) {
        let (n, kk) = (self.n, self.kk);
        match self.family {
            Family::Gaussian => {
                for i in 0..n {
                    g[i] = eta[i] - self.y[i];
                }
            }
            Family::Binomial => {
                for i in 0..n {
                    let p = sigmoid(eta[i]);
                    g[i] = p - self.y[i];
                    h[i] = p * (1.0 - p);
                }
            }
            Family::Multinomial => {
                for i in 0..n {
                    let max = (0..kk)
                        .map(|k| eta[k * n + i])
                        .fold(f64::NEG_INFINITY, f64::max);
                    let mut sum = 0.0;
                    for k in 0..kk {
                        let q = (eta[k * n + i] - max).exp();
                        h[k * n + i] = q;
                        sum += q;
                    }
                    let y = self.class_of[i] as usize;
                    for k in 0..kk {
                        let q = h[k * n + i] / sum;
                        h[k * n + i] = q;
                        g[k * n + i] = q - if k == y { 1.0 } else { 0.0 };
                    }
                }
            }
        }
    }

    fn initial_intercepts(&self) -> Vec<f64> {
        match self.family {
            Family::Gaussian => vec![self.y.iter().zip(self.v).map(|(y, v)| y * v).sum()],
            Family::Binomial => {
                let m: f64 = self.y.iter().zip(self.v).map(|(y, v)| y * v).sum();
                vec![(m / (1.0 - m)).ln()]
            }
            Family::Multinomial => {
                let mut prior = vec![0.0; self.kk];
                for (&c, &v) in self.class_of.iter().zip(self.v) {
                    prior[c as usize] += v;
                }
                prior.iter().map(|p| p.ln()).collect()
            }
        }
    }

    /// Gaussian and binomial: diagonal curvature of the quadratic model per coordinate (column
    /// `j`, the intercept last at `j == p`), and the pending step's per-row and per-column
    /// sums for a new Newton step (no move yet).
    fn curvatures(
        &self,
        g: &[f64],
        h: &[f64],
        curv: &mut [f64],
        row_weight: &mut [f64],
        pending: &mut Pending,
    ) {
        let p = self.p;
        let gaussian = self.family == Family::Gaussian;
        for i in 0..self.n {
            pending.vg[i] = self.v[i] * g[i];
            pending.vh[i] = if gaussian {
                self.v[i]
            } else {
                self.v[i] * h[i]
            };
        }
        pending.vh_total = pending.vh.iter().sum();
        pending.rp = pending.vg.iter().sum();
        pending.dp.fill(0.0);
        pending.c = 0.0;
        let vh = &pending.vh;
        for (j, column) in self.columns.iter().enumerate() {
            pending.vhs[j] = if self.active[j] {
                column.dot(|i| vh[i])
            } else {
                0.0
            };
        }
        if gaussian {
            for ((c, &active), &var) in curv.iter_mut().zip(self.active).zip(self.variance) {
                *c = if active { var } else { 0.0 };
            }
            curv[p] = 1.0;
            return;
        }
        for ((rw, v), q) in row_weight.iter_mut().zip(self.v).zip(h) {
            *rw = v * q.max(MIN_CURVATURE);
        }
        let total: f64 = row_weight.iter().sum();
        let rw = &*row_weight;
        for (j, c) in curv[..p].iter_mut().enumerate() {
            *c = if self.active[j] {
                let column = &self.columns[j];
                let m = self.shift[j];
                let square = column.dot_square(|i| rw[i]);
                if m == 0.0 {
                    square
                } else {
                    // Σ w (s − m)² over every row, zeros included.
                    (square - 2.0 * m * column.dot(|i| rw[i]) + m * m * total).max(0.0)
                }
            } else {
                0.0
            };
        }
        curv[p] = total;
    }

    /// Gaussian and binomial: minimizes the quadratic model along coordinate `j` (`j == p`
    /// is the intercept) from its current value, moves the pending step, and returns the
    /// change.
    fn update(&self, j: usize, current: f64, hc: f64, pending: &mut Pending) -> f64 {
        let Pending {
            vg,
            vh,
            vh_total,
            vhs,
            dp,
            c,
            rp,
        } = pending;
        // Gradient of the quadratic model at the pending step: Σ v·x·(g + h·(dp − c)) with
        // x = s − m over every row.
        let grad = if j == self.p {
            *rp - *c * *vh_total
        } else {
            let m = self.shift[j];
            let stored = self.columns[j].dot(|i| vg[i] + vh[i] * dp[i]);
            stored - *c * vhs[j] - m * (*rp - *c * *vh_total)
        };
        let next = if j == self.p {
            if hc <= 1e-300 {
                return 0.0;
            }
            current - grad / hc
        } else {
            let denom = hc + self.l2;
            if denom <= 1e-300 {
                return 0.0;
            }
            soft_threshold(hc * current - grad, self.l1) / denom
        };
        let d = next - current;
        if d != 0.0 {
            if j == self.p {
                *c -= d;
            } else {
                self.columns[j].add_scaled(d, dp);
                *c += d * self.shift[j];
                *rp += d * vhs[j];
            }
        }
        d
    }

    /// Moves along the directions where neither the loss nor its quadratic model change, only
    /// the penalty: adding the same amount to the coefficients of all levels of a categorical
    /// feature whose one-hot columns cover every training row (their centered columns sum to
    /// 0). Coordinate descent alone crawls along these when the penalty is weak; this jumps to
    /// the exact optimum on each (the mean for ridge). The linear predictors do not change, so
    /// `deta` needs no update. (The multinomial's other such direction, the same amount added
    /// to a column's coefficient in every class, is handled inside `update_block`.)
    fn recentre(&self, beta: &[f64], delta: &mut [f64], buf: &mut Vec<f64>) {
        let (p, kk) = (self.p, self.kk);
        for group in &self.groups {
            for k in 0..kk {
                buf.clear();
                buf.extend(
                    group
                        .iter()
                        .map(|&j| beta[k * p + j] + delta[k * (p + 1) + j]),
                );
                let c = best_shift(buf, self.l1, self.l2);
                if c != 0.0 {
                    for &j in group {
                        delta[k * (p + 1) + j] -= c;
                    }
                }
            }
        }
    }

    /// Multinomial: the `kk × kk` block of the loss Hessian for each column (intercept last),
    /// `A_j = Σ_i v_i x_ij² (diag(p_i) − p_i p_iᵀ)`.
    fn hessian_blocks(
        &self,
        h: &[f64],
        blocks: &mut [f64],
        row_weight: &mut [f64],
        buf: &mut Vec<f64>,
    ) {
        let (n, p, kk) = (self.n, self.p, self.kk);
        for j in 0..=p {
            let a = &mut blocks[j * kk * kk..(j + 1) * kk * kk];
            if j < p && !self.active[j] {
                a.fill(0.0);
                continue;
            }
            let x = self.centered(j, buf);
            for ((rw, v), xi) in row_weight.iter_mut().zip(self.v).zip(x) {
                *rw = v * xi * xi;
            }
            for k in 0..kk {
                let pk = &h[k * n..(k + 1) * n];
                let diag: f64 = row_weight.iter().zip(pk).map(|(w, q)| w * q).sum();
                for l in k..kk {
                    let pl = &h[l * n..(l + 1) * n];
                    let off: f64 = row_weight
                        .iter()
                        .zip(pk)
                        .zip(pl)
                        .map(|((w, a), b)| w * a * b)
                        .sum();
                    a[k * kk + l] = -off;
                    a[l * kk + k] = -off;
                }
                a[k * kk + k] += diag;
            }
        }
    }

    /// Multinomial: minimizes the quadratic model over column `j`'s coefficients in all
    /// classes at once (`j == p`: the intercepts), using the exact `kk × kk` Hessian block, so
    /// the strong coupling between classes costs no extra passes. Returns the move in RMS
    /// linear-predictor units.
    #[allow(clippy::too_many_arguments)]
    fn update_block(
        &self,
        j: usize,
        beta: &[f64],
        intercept: &[f64],
        delta: &mut [f64],
        g: &[f64],
        h: &[f64],
        a: &[f64],
        deta: &mut [f64],
        s: &mut [f64],
        work: &mut BlockWork,
        buf: &mut Vec<f64>,
        tol: f64,
    ) -> f64 {
        let (n, p, kk) = (self.n, self.p, self.kk);
        let x = self.centered(j, buf);
        let v = self.v;
        let s_ro = &s[..n];
        for k in 0..kk {
            let (gk, hk, dk) = (
                &g[k * n..(k + 1) * n],
                &h[k * n..(k + 1) * n],
                &deta[k * n..(k + 1) * n],
            );
            work.r[k] = (0..n)
                .map(|i| v[i] * x[i] * (gk[i] + hk[i] * (dk[i] - s_ro[i])))
                .sum();
            let c = k * (p + 1) + j;
            work.b[k] = if j == p {
                intercept[k]
            } else {
                beta[k * p + j]
            } + delta[c];
        }
        let (l1, l2) = if j == p {
            (0.0, 0.0)
        } else {
            (self.l1, self.l2)
        };
        work.solve(a, l1, l2, tol);
        let u = &work.u;
        // Size of the move in the quadratic model's norm.
        let mut norm2 = 0.0;
        for k in 0..kk {
            let au: f64 = (0..kk).map(|l| a[k * kk + l] * u[l]).sum();
            norm2 += u[k] * au + l2 * u[k] * u[k];
        }
        if u.iter().all(|&d| d == 0.0) {
            return 0.0;
        }
        for k in 0..kk {
            delta[k * (p + 1) + j] += u[k];
            if u[k] != 0.0 {
                for (e, xi) in deta[k * n..(k + 1) * n].iter_mut().zip(x) {
                    *e += u[k] * xi;
                }
            }
        }
        for (k, &uk) in u.iter().enumerate() {
            if uk != 0.0 {
                let hk = &h[k * n..(k + 1) * n];
                for ((si, xi), q) in s.iter_mut().zip(x).zip(hk) {
                    *si += uk * q * xi;
                }
            }
        }
        norm2.max(0.0).sqrt()
    }

    pub(super) fn solve(
        &self,
        max_iter: usize,
        tol: f64,
        deadline: Option<std::time::Instant>,
    ) -> Solution {
        let (n, p, kk) = (self.n, self.p, self.kk);
        let multinomial = self.family == Family::Multinomial;
        let mut beta = vec![0.0; kk * p];
        let mut intercept = self.initial_intercepts();
        let mut eta = vec![0.0; n * kk];
        for (k, b) in intercept.iter().enumerate() {
            eta[k * n..(k + 1) * n].fill(*b);
        }
        let scale = match self.family {
            Family::Gaussian => {
                let m = intercept[0];
                let var: f64 = self
                    .y
                    .iter()
                    .zip(self.v)
                    .map(|(y, v)| v * (y - m) * (y - m))
                    .sum();
                if var > 0.0 { var.sqrt() } else { 1.0 }
            }
            _ => 1.0,
        };
        let inner_tol = match self.family {
            Family::Gaussian => tol * scale,
            _ => 0.1 * tol,
        };
        let recentre = !self.groups.is_empty() && self.l1 + self.l2 > 0.0;
        let mut g = vec![0.0; n * kk];
        let mut h = vec![
            0.0;
            if self.family == Family::Gaussian {
                0
            } else {
                n * kk
            }
        ];
        let mut deta = vec![0.0; n * kk];
        let mut s = vec![0.0; if multinomial { n } else { 0 }];
        let mut row_weight = vec![0.0; n];
        let mut column_buf = Vec::new();
        let mut pending = Pending {
            vg: vec![0.0; if multinomial { 0 } else { n }],
            vh: vec![0.0; if multinomial { 0 } else { n }],
            vh_total: 0.0,
            vhs: vec![0.0; p],
            dp: vec![0.0; if multinomial { 0 } else { n }],
            c: 0.0,
            rp: 0.0,
        };
        let mut shift_buf = Vec::new();
        let mut curv = vec![0.0; kk * (p + 1)];
        let mut delta = vec![0.0; kk * (p + 1)];
        let mut trial = vec![0.0; kk * p];
        let mut blocks = vec![0.0; if multinomial { (p + 1) * kk * kk } else { 0 }];
        let mut block_work = BlockWork::new(if multinomial { kk } else { 0 });
        let mut sweeps = 0;
        let mut converged = false;
        let mut interrupted = false;
        while sweeps < max_iter && !interrupted {
            self.derivatives(&eta, &mut g, &mut h);
            if multinomial {
                self.hessian_blocks(&h, &mut blocks, &mut row_weight, &mut column_buf);
                for j in 0..=p {
                    for k in 0..kk {
                        curv[k * (p + 1) + j] = blocks[j * kk * kk + k * kk + k];
                    }
                }
            } else {
                self.curvatures(&g, &h, &mut curv, &mut row_weight, &mut pending);
            }
            delta.fill(0.0);
            deta.fill(0.0);
            s.fill(0.0);

            // Coordinate descent on the penalized quadratic model.
            let mut inner_converged = false;
            let first_sweep = sweeps + 1;
            let mut first_largest = 0.0;
            while sweeps < max_iter {
                sweeps += 1;
                if crate::stop::past(deadline) {
                    interrupted = true;
                    break;
                }
                let mut largest = 0.0f64;
                if multinomial {
                    for j in (0..=p).rev() {
                        if j < p && !self.active[j] {
                            continue;
                        }
                        let moved = self.update_block(
                            j,
                            &beta,
                            &intercept,
                            &mut delta,
                            &g,
                            &h,
                            &blocks[j * kk * kk..(j + 1) * kk * kk],
                            &mut deta,
                            &mut s,
                            &mut block_work,
                            &mut column_buf,
                            0.01 * inner_tol,
                        );
                        largest = largest.max(moved);
                    }
                }
                if !multinomial {
                    for j in (0..=p).rev() {
                        if j < p && !self.active[j] {
                            continue;
                        }
                        let current = if j == p { intercept[0] } else { beta[j] } + delta[j];
                        let d = self.update(j, current, curv[j], &mut pending);
                        if d != 0.0 {
                            delta[j] += d;
                            let hc = curv[j] + if j < p { self.l2 } else { 0.0 };
                            largest = largest.max(d.abs() * hc.sqrt());
                        }
                    }
                }
                if recentre {
                    self.recentre(&beta, &mut delta, &mut shift_buf);
                }
                // Newton steps far from the optimum need not be solved exactly (inexact
                // proximal Newton): two digits beyond the first pass suffice there, full
                // accuracy near the optimum.
                if sweeps == first_sweep {
                    first_largest = largest;
                }
                let target = match self.family {
                    Family::Gaussian => inner_tol,
                    _ => inner_tol.max(0.01 * first_largest),
                };
                if largest <= target {
                    inner_converged = largest <= inner_tol.max(tol);
                    break;
                }
            }
            if !multinomial {
                for (e, &d) in deta.iter_mut().zip(&pending.dp) {
                    *e = d - pending.c;
                }
            }

            // Largest coordinate move of the full step, in RMS linear-predictor units.
            let step_size = (0..kk * (p + 1))
                .map(|c| {
                    let penalized = c % (p + 1) != p;
                    delta[c].abs() * (curv[c] + if penalized { self.l2 } else { 0.0 }).sqrt()
                })
                .fold(0.0, f64::max);

            let t = if self.family == Family::Gaussian {
                1.0
            } else {
                // Backtracking line search on the true objective.
                let f0 = self.loss(&eta, &deta, 0.0) + self.penalty(&beta);
                for k in 0..kk {
                    for j in 0..p {
                        trial[k * p + j] = beta[k * p + j] + delta[k * (p + 1) + j];
                    }
                }
                // Directional derivative of the loss plus the change of the penalty.
                let descent = (0..kk)
                    .map(|k| {
                        let r = k * n..(k + 1) * n;
                        g[r.clone()]
                            .iter()
                            .zip(&deta[r])
                            .zip(self.v)
                            .map(|((g, d), v)| v * g * d)
                            .sum::<f64>()
                    })
                    .sum::<f64>()
                    + self.penalty(&trial)
                    - self.penalty(&beta);
                if descent > -1e-10 * (1.0 + f0.abs()) {
                    // Near the optimum the decrease is too small to measure reliably against
                    // rounding, and the quadratic model is accurate: take the full step.
                    1.0
                } else {
                    let mut t = 1.0;
                    let mut accepted = false;
                    for _ in 0..60 {
                        for k in 0..kk {
                            for j in 0..p {
                                trial[k * p + j] = beta[k * p + j] + t * delta[k * (p + 1) + j];
                            }
                        }
                        let f = self.loss(&eta, &deta, t) + self.penalty(&trial);
                        if f <= f0 + 1e-4 * t * descent {
                            accepted = true;
                            break;
                        }
                        t *= 0.5;
                    }
                    if !accepted {
                        break;
                    }
                    t
                }
            };

            for k in 0..kk {
                for j in 0..p {
                    beta[k * p + j] += t * delta[k * (p + 1) + j];
                }
                intercept[k] += t * delta[k * (p + 1) + p];
            }
            for (e, d) in eta.iter_mut().zip(&deta) {
                *e += t * d;
            }
            if self.family == Family::Gaussian {
                converged = inner_converged;
                break;
            }
            if inner_converged && t * step_size <= tol {
                converged = true;
                break;
            }
        }
        if multinomial {
            // The intercepts are only determined up to a common shift: centre them.
            let m = intercept.iter().sum::<f64>() / kk as f64;
            for b in &mut intercept {
                *b -= m;
            }
        }
        Solution {
            beta,
            intercept,
            n_iter: sweeps,
            converged,
            interrupted,
        }
    }
}

/// Scratch space and solver for the multinomial's per-column `kk`-dimensional subproblem:
/// minimize `rᵀu + ½ uᵀA u + Σ_k l1·|b_k + u_k| + l2/2·(b_k + u_k)²` over `u`, where `A` is
/// positive semidefinite with `A·1 = 0` and `Σ r = 0` (shifting all classes equally changes
/// nothing but the penalty).
struct BlockWork {
    r: Vec<f64>,
    b: Vec<f64>,
    u: Vec<f64>,
    au: Vec<f64>,
    m: Vec<f64>,
    shifted: Vec<f64>,
}

impl BlockWork {
    fn new(kk: usize) -> BlockWork {
        BlockWork {
            r: vec![0.0; kk],
            b: vec![0.0; kk],
            u: vec![0.0; kk],
            au: vec![0.0; kk],
            m: vec![0.0; kk * kk],
            shifted: vec![0.0; kk],
        }
    }

    fn solve(&mut self, a: &[f64], l1: f64, l2: f64, tol: f64) {
        let kk = self.r.len();
        if l1 == 0.0 {
            // Linear system (A + l2·I) u = −(r + l2·b). Without a penalty A is singular along
            // 1, and r ⊥ 1: adding μ·11ᵀ picks the solution with Σu = 0.
            let scale = (0..kk).map(|k| a[k * kk + k]).fold(0.0, f64::max);
            let mu = if l2 > 0.0 { 0.0 } else { scale / kk as f64 };
            for k in 0..kk {
                for l in 0..kk {
                    self.m[k * kk + l] = a[k * kk + l] + mu;
                }
                self.m[k * kk + k] += l2 + 1e-12 * scale;
                self.u[k] = -(self.r[k] + l2 * self.b[k]);
            }
            if cholesky_solve(&mut self.m, &mut self.u) {
                return;
            }
        }
        // Coordinate descent on the small problem, with the exact best class shift after each
        // pass (the one direction coordinate descent cannot resolve quickly).
        self.u.fill(0.0);
        self.au.fill(0.0);
        for _ in 0..1000 {
            let mut largest = 0.0f64;
            for k in 0..kk {
                let hk = a[k * kk + k];
                let denom = hk + l2;
                if denom <= 1e-300 {
                    continue;
                }
                let grad = self.r[k] + self.au[k];
                let current = self.b[k] + self.u[k];
                let next = soft_threshold(hk * current - grad, l1) / denom;
                let d = next - current;
                if d != 0.0 {
                    self.u[k] += d;
                    for l in 0..kk {
                        self.au[l] += a[l * kk + k] * d;
                    }
                    largest = largest.max(d.abs() * denom.sqrt());
                }
            }
            if l1 + l2 > 0.0 {
                for k in 0..kk {
                    self.shifted[k] = self.b[k] + self.u[k];
                }
                let c = best_shift(&self.shifted, l1, l2);
                if c != 0.0 {
                    for u in &mut self.u {
                        *u -= c;
                    }
                }
            }
            if largest <= tol {
                break;
            }
        }
    }
}

/// Solves `m · x = rhs` in place for a symmetric positive definite `m` (row-major); false if
/// `m` is not numerically positive definite.
fn cholesky_solve(m: &mut [f64], rhs: &mut [f64]) -> bool {
    let n = rhs.len();
    for j in 0..n {
        let mut d = m[j * n + j];
        for k in 0..j {
            d -= m[j * n + k] * m[j * n + k];
        }
        if d.is_nan() || d <= 0.0 {
            return false;
        }
        let d = d.sqrt();
        m[j * n + j] = d;
        for i in j + 1..n {
            let mut v = m[i * n + j];
            for k in 0..j {
                v -= m[i * n + k] * m[j * n + k];
            }
            m[i * n + j] = v / d;
        }
    }
    for i in 0..n {
        let mut v = rhs[i];
        for k in 0..i {
            v -= m[i * n + k] * rhs[k];
        }
        rhs[i] = v / m[i * n + i];
    }
    for i in (0..n).rev() {
        let mut v = rhs[i];
        for k in i + 1..n {
            v -= m[k * n + i] * rhs[k];
        }
        rhs[i] = v / m[i * n + i];
    }
    true
}

/// The `c` minimizing `Σ_k l1·|b_k − c| + l2/2·(b_k − c)²` (0 when 0 is optimal).
fn best_shift(b: &[f64], l1: f64, l2: f64) -> f64 {
    let k = b.len() as f64;
    if l1 == 0.0 {
        return if l2 > 0.0 {
            b.iter().sum::<f64>() / k
        } else {
            0.0
        };
    }
    // Right and left derivatives; the objective is convex.
    let right = |c: f64| -> f64 {
        b.iter()
            .map(|&bk| l1 * if c >= bk { 1.0 } else { -1.0 } + l2 * (c - bk))
            .sum()
    };
    let left = |c: f64| -> f64 {
        b.iter()
            .map(|&bk| l1 * if c > bk { 1.0 } else { -1.0 } + l2 * (c - bk))
            .sum()
    };
    if left(0.0) <= 0.0 && right(0.0) >= 0.0 {
        return 0.0;
    }
    let (mut lo, mut hi) = b
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if right(mid) < 0.0 {
            lo = mid;
        } else if left(mid) > 0.0 {
            hi = mid;
        } else {
            return mid;
        }
    }
    0.5 * (lo + hi)
}

#[inline]
fn soft_threshold(z: f64, gamma: f64) -> f64 {
    if z > gamma {
        z - gamma
    } else if z < -gamma {
        z + gamma
    } else {
        0.0
    }
}
