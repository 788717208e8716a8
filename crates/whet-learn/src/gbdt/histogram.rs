//! Gradient histograms: (gradient, hessian) per bin of every feature, summed over a leaf's rows
//! in a fixed number of parts, with recycled buffers and row prefetching.

use rayon::prelude::*;

use crate::binning::BinnedData;

/// (gradient, hessian) per bin. Row counts are not summed: like LightGBM, a bin's count is
/// estimated from its hessian share of the leaf, which is exact for unweighted L2.
pub(super) type Hist = Vec<[f64; 2]>;

/// Histogram buffers are recycled: fresh 100+ KB allocations would each cost page faults.
pub(super) struct HistPool {
    len: usize,
    free: std::sync::Mutex<Vec<Hist>>,
}

impl HistPool {
    pub(super) fn new(len: usize) -> HistPool {
        HistPool {
            len,
            free: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub(super) fn get(&self) -> Hist {
        let reused = self.free.lock().ok().and_then(|mut f| f.pop());
        match reused {
            Some(mut h) => {
                h.iter_mut().for_each(|e| *e = [0.0; 2]);
                h
            }
            None => vec![[0.0; 2]; self.len],
        }
    }

    pub(super) fn put(&self, h: Hist) {
        if let Ok(mut f) = self.free.lock() {
            f.push(h);
        }
    }
}

/// Rows are summed in at most this many contiguous parts, a number fixed independently of the
/// thread count so the order of floating-point additions (and so the model) never depends on it.
const HIST_PARTS: usize = 8;
const MIN_PART_ROWS: usize = 4096;

/// Rows ahead to prefetch: a leaf's rows are scattered over the matrix, and without a hint each
/// row's bins and gradients are a cache miss the loop waits on.
pub(super) const PREFETCH_AHEAD: usize = 16;

#[inline(always)]
pub(super) fn prefetch<T>(data: &[T], index: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(item) = data.get(index) {
        // SAFETY: a prefetch is only a hint; it never faults and reads nothing observable.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                (item as *const T).cast::<i8>(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, index);
}

fn fill_hist(
    binned: &BinnedData,
    gh: &[[f32; 2]],
    rows: &[u32],
    features: &[usize],
    all_features: bool,
    hist: &mut Hist,
) {
    let nf = binned.n_features;
    let offsets = &binned.hist_offsets;
    for (i, &r) in rows.iter().enumerate() {
        if let Some(&ahead) = rows.get(i + PREFETCH_AHEAD) {
            prefetch(gh, ahead as usize);
            prefetch(&binned.rows, ahead as usize * nf);
        }
        let r = r as usize;
        let [g, h] = gh[r];
        let (g, h) = (f64::from(g), f64::from(h));
        let bins = &binned.rows[r * nf..(r + 1) * nf];
        if all_features {
            for (&off, &b) in offsets.iter().zip(bins) {
                let e = &mut hist[off + b as usize];
                e[0] += g;
                e[1] += h;
            }
        } else {
            for &f in features {
                let e = &mut hist[offsets[f] + bins[f] as usize];
                e[0] += g;
                e[1] += h;
            }
        }
    }
}

/// Sums (gradient, hessian, count) per bin over `rows`.
pub(super) fn build_hist(
    binned: &BinnedData,
    gh: &[[f32; 2]],
    rows: &[u32],
    features: &[usize],
    all_features: bool,
    pool: &HistPool,
) -> Hist {
    let parts = (rows.len() / MIN_PART_ROWS).clamp(1, HIST_PARTS);
    if parts == 1 {
        let mut total = pool.get();
        fill_hist(binned, gh, rows, features, all_features, &mut total);
        return total;
    }
    let part_len = rows.len().div_ceil(parts);
    let mut partials = rows
        .par_chunks(part_len)
        .map(|chunk| {
            let mut h = pool.get();
            fill_hist(binned, gh, chunk, features, all_features, &mut h);
            h
        })
        .collect::<Vec<Hist>>()
        .into_iter();
    let mut total = partials.next().unwrap_or_else(|| pool.get());
    for part in partials {
        for (t, p) in total.iter_mut().zip(&part) {
            t[0] += p[0];
            t[1] += p[1];
        }
        pool.put(part);
    }
    total
}
