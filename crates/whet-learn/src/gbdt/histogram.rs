//! Gradient histograms: (gradient, hessian) per bin of every feature, summed over a leaf's rows
//! in a fixed number of parts (or, for a leaf of one part, by features on several threads), with
//! recycled buffers and row prefetching.

use rayon::prelude::*;

use crate::binning::BinnedData;

/// A leaf's (gradient, hessian) per bin. Row counts are not summed: like LightGBM, a bin's count
/// is estimated from its hessian share of the leaf, which is exact for unweighted L2.
///
/// A small leaf's histogram is sparse: `occupied` marks, per feature, the bins that may hold
/// rows, and only their entries are sums; the others are left from the buffer's last use and
/// read as zero. A leaf of 50 rows touches at most 50 of a feature's 255 bins, so zeroing and
/// scanning every entry was most of a small fit (many classes on few rows): the clearing
/// alone was 12% of it. Categorical features are always whole (their split reads every bin).
pub(super) struct Hist {
    pub(super) entries: Vec<[f64; 2]>,
    pub(super) occupied: Option<Vec<[u64; 4]>>,
}

impl Hist {
    /// Feature `f`'s occupied bins, None when every entry is a sum.
    #[inline]
    pub(super) fn occupied(&self, f: usize) -> Option<&[u64; 4]> {
        self.occupied.as_ref().map(|o| &o[f])
    }

    /// `self` (a parent's histogram) less `small` (one child's): the other child's. Where
    /// `small` is sparse only its occupied entries change; the rest are the parent's less
    /// +0.0, which is the parent's, bit for bit. The result is as sparse as the parent: the
    /// child's rows are the parent's.
    pub(super) fn subtract(
        mut self,
        small: &Hist,
        binned: &BinnedData,
        features: &[usize],
    ) -> Hist {
        match &small.occupied {
            None => subtract_dense_block(&mut self.entries, &small.entries),
            Some(occupied) => {
                for e in summed_entries(occupied, binned, features) {
                    let (a, s) = (&mut self.entries[e], small.entries[e]);
                    a[0] -= s[0];
                    a[1] -= s[1];
                }
            }
        }
        self
    }

    /// Adds to `acc` (a next root's entries, see `grow::RootCarry`) this final leaf's
    /// gradients as they will be once its rows' scores move by `value` under squared error —
    /// each row's gradient grows by `value` times its hessian — and its hessians.
    pub(super) fn add_moved(
        &self,
        acc: &mut [[f64; 2]],
        value: f64,
        binned: &BinnedData,
        features: &[usize],
    ) {
        let add = |a: &mut [f64; 2], e: [f64; 2]| {
            a[0] += e[0] + value * e[1];
            a[1] += e[1];
        };
        match &self.occupied {
            None => {
                for (a, &e) in acc.iter_mut().zip(&self.entries) {
                    add(a, e);
                }
            }
            Some(occupied) => {
                for e in summed_entries(occupied, binned, features) {
                    add(&mut acc[e], self.entries[e]);
                }
            }
        }
    }

    /// Every entry, the unoccupied ones as zeros.
    #[cfg(test)]
    pub(super) fn dense(&self, binned: &BinnedData) -> Vec<[f64; 2]> {
        let Some(occupied) = &self.occupied else {
            return self.entries.clone();
        };
        let mut out = vec![[0.0; 2]; self.entries.len()];
        let features: Vec<usize> = (0..occupied.len()).collect();
        for e in summed_entries(occupied, binned, &features) {
            out[e] = self.entries[e];
        }
        out
    }
}

/// The entries of `features` that are sums in a sparse histogram whose marks are `occupied`:
/// a categorical feature's all (see [`Hist`]), a numeric one's marked bins; ascending per
/// feature.
fn summed_entries<'a>(
    occupied: &'a [[u64; 4]],
    binned: &'a BinnedData,
    features: &'a [usize],
) -> impl Iterator<Item = usize> + 'a {
    features.iter().flat_map(move |&f| {
        let (off, m) = (binned.hist_offsets[f], &binned.mappers[f]);
        let (whole, marked) = if m.is_categorical() {
            (0..m.n_bins(), None)
        } else {
            (0..0, Some(&occupied[f][..]))
        };
        whole
            .chain(marked.into_iter().flat_map(set_bits))
            .map(move |b| off + b)
    })
}

/// Whether bin `t` is in the bit set `words` (bins of one feature: marks, categories); bins
/// past its last word are not.
#[inline]
pub(super) fn has_bit(words: &[u64], t: usize) -> bool {
    words.get(t >> 6).is_some_and(|w| (w >> (t & 63)) & 1 == 1)
}

/// Puts bin `t` into the bit set `words` (which must hold it).
#[inline]
pub(super) fn add_bit(words: &mut [u64], t: usize) {
    words[t >> 6] |= 1 << (t & 63);
}

/// The members of a bit set, ascending.
#[inline]
pub(super) fn set_bits(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(w, &word)| {
        let mut rest = word;
        std::iter::from_fn(move || {
            (rest != 0).then(|| {
                let t = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                w * 64 + t
            })
        })
    })
}

/// Whether a leaf of `rows` rows gets a sparse histogram: when its rows touch at most a
/// quarter of the features' entries, so that marking and clearing the touched ones costs less
/// than clearing all of them, and the split scans skip most bins.
pub(super) fn sparse_pays(binned: &BinnedData, rows: usize, features: &[usize]) -> bool {
    let entries: usize = features.iter().map(|&f| binned.mappers[f].n_bins()).sum();
    rows < MIN_PART_ROWS && 4 * rows * features.len() <= entries
}

/// The sparse histogram of a small leaf (see [`Hist`]): one pass over the rows marks and
/// clears the entries they touch, a second adds them up in row order, as the dense fill does.
pub(super) fn build_sparse(
    binned: &BinnedData,
    gh: &[[f32; 2]],
    rows: &[u32],
    features: &[usize],
    pool: &HistPool,
) -> Hist {
    let mut entries = pool.get_stale();
    let mut occupied = vec![[0u64; 4]; binned.n_features];
    let offsets = &binned.hist_offsets;
    let (numeric, categorical): (Vec<usize>, Vec<usize>) = features
        .iter()
        .partition(|&&f| !binned.mappers[f].is_categorical());
    for &f in &categorical {
        let n = binned.mappers[f].n_bins();
        entries[offsets[f]..offsets[f] + n].fill([0.0; 2]);
        for b in 0..n.min(256) {
            add_bit(&mut occupied[f], b);
        }
    }
    for &r in rows {
        let bins = binned.row(r as usize);
        for &f in &numeric {
            let b = bins[f] as usize;
            add_bit(&mut occupied[f], b);
            entries[offsets[f] + b] = [0.0; 2];
        }
    }
    for &r in rows {
        let bins = binned.row(r as usize);
        let [g, h] = gh[r as usize];
        let (g, h) = (f64::from(g), f64::from(h));
        for &f in features {
            let e = &mut entries[offsets[f] + bins[f] as usize];
            e[0] += g;
            e[1] += h;
        }
    }
    fill_wide(binned, gh, rows, features, &mut entries);
    Hist {
        entries,
        occupied: Some(occupied),
    }
}

/// Wide features' entries (see `binning`) from their u16 columns, in place of what the
/// row-major pass put there (every row in the first entry, from the features' placeholder
/// byte). Rows are summed in the parts [`build_hist`] cuts, each in leaf order, and the parts
/// added in order: the same sums on any thread count.
fn fill_wide(
    binned: &BinnedData,
    gh: &[[f32; 2]],
    rows: &[u32],
    features: &[usize],
    entries: &mut [[f64; 2]],
) {
    for &f in features {
        let Some(col) = &binned.wide[f] else {
            continue;
        };
        let off = binned.hist_offsets[f];
        let h = &mut entries[off..off + binned.mappers[f].n_bins()];
        sum_wide(col, gh, rows, h, true);
    }
}

/// A wide feature's entries `h` from its u16 column `col`: rows summed in [`build_hist`]'s
/// parts, each from zero in leaf order, the parts added in order; the parts in parallel when
/// `parallel`, the same sums either way.
fn sum_wide(col: &[u16], gh: &[[f32; 2]], rows: &[u32], h: &mut [[f64; 2]], parallel: bool) {
    let add = |rows: &[u32], h: &mut [[f64; 2]]| {
        for &r in rows {
            let [g, he] = gh[r as usize];
            let e = &mut h[usize::from(col[r as usize])];
            e[0] += f64::from(g);
            e[1] += f64::from(he);
        }
    };
    h.fill([0.0; 2]);
    let parts = (rows.len() / MIN_PART_ROWS).clamp(1, HIST_PARTS);
    if parts == 1 {
        add(rows, h);
        return;
    }
    let len = h.len();
    let part_of = |chunk: &[u32]| {
        let mut part = vec![[0.0; 2]; len];
        add(chunk, &mut part);
        part
    };
    let size = rows.len().div_ceil(parts);
    let partials: Vec<Vec<[f64; 2]>> = if parallel {
        rows.par_chunks(size).map(part_of).collect()
    } else {
        rows.chunks(size).map(part_of).collect()
    };
    for part in partials {
        for (t, p) in h.iter_mut().zip(&part) {
            t[0] += p[0];
            t[1] += p[1];
        }
    }
}

/// [`fill_wide`] for a class histogram (see [`build_class_hist`]).
fn fill_wide_class(
    binned: &BinnedData,
    class_rows: &[ClassRow],
    stride: usize,
    rows: &[u32],
    features: &[usize],
    entries: &mut [f64],
) {
    for &f in features {
        let Some(col) = &binned.wide[f] else {
            continue;
        };
        let off = binned.hist_offsets[f] * stride;
        let h = &mut entries[off..off + binned.mappers[f].n_bins() * stride];
        h.fill(0.0);
        for &r in rows {
            let ClassRow { class, weight } = class_rows[r as usize];
            let e = usize::from(col[r as usize]) * stride;
            h[e] += f64::from(weight);
            h[e + 1 + class as usize] += f64::from(weight);
        }
    }
}

/// Histogram buffers are recycled: fresh 100+ KB allocations would each cost page faults.
/// Entries are (gradient, hessian) pairs, or for class-share forests plain sums (see
/// [`build_class_hist`]).
pub(super) struct HistPool<E = [f64; 2]> {
    len: usize,
    free: std::sync::Mutex<Vec<Vec<E>>>,
}

impl<E: Copy + Default> HistPool<E> {
    pub(super) fn new(len: usize) -> HistPool<E> {
        HistPool {
            len,
            free: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub(super) fn get(&self) -> Vec<E> {
        let reused = self.free.lock().ok().and_then(|mut f| f.pop());
        match reused {
            Some(mut h) => {
                h.iter_mut().for_each(|e| *e = E::default());
                h
            }
            None => vec![E::default(); self.len],
        }
    }

    /// A buffer whose entries are whatever its last use left (a new one is zeros).
    pub(super) fn get_stale(&self) -> Vec<E> {
        let reused = self.free.lock().ok().and_then(|mut f| f.pop());
        reused.unwrap_or_else(|| vec![E::default(); self.len])
    }

    pub(super) fn put(&self, h: Vec<E>) {
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

/// Single-part leaves with at least this many rows are filled by several threads at once, each
/// on its own features: the part count is fixed by the row count, so small leaves would
/// otherwise leave every thread but one idle.
const MIN_FEATURE_PARALLEL_ROWS: usize = 2048;

/// Consecutive features (of those histogrammed) whose entries make the contiguous range
/// `start..end` of the histogram.
pub(super) struct Block<'f> {
    pub(super) features: &'f [usize],
    pub(super) start: usize,
    end: usize,
    /// Each feature's first entry, from `start`.
    rel: Vec<usize>,
    /// Whether the features are consecutive, so a row's bins for them are one slice.
    contiguous: bool,
}

/// Splits `features` (ascending) into at most `n` blocks of about equal histogram entries.
fn feature_blocks<'f>(binned: &BinnedData, features: &'f [usize], n: usize) -> Vec<Block<'f>> {
    let offsets = &binned.hist_offsets;
    let end_of = |f: usize| offsets[f] + binned.mappers[f].n_bins();
    let total: usize = features.iter().map(|&f| binned.mappers[f].n_bins()).sum();
    let target = total.div_ceil(n.max(1));
    let mut blocks = Vec::new();
    let (mut first, mut entries) = (0, 0);
    for (i, &f) in features.iter().enumerate() {
        entries += binned.mappers[f].n_bins();
        if entries >= target || i + 1 == features.len() {
            let fs = &features[first..=i];
            let start = offsets[fs[0]];
            blocks.push(Block {
                features: fs,
                start,
                end: end_of(f),
                rel: fs.iter().map(|&f| offsets[f] - start).collect(),
                contiguous: f - fs[0] + 1 == fs.len(),
            });
            first = i + 1;
            entries = 0;
        }
    }
    blocks
}

/// Rows from which a block of consecutive features with many bins is filled into a padded
/// histogram (256 entries per feature) and copied out: the padded loop needs no per-feature
/// offset and no bounds check, and the copy is small next to this many rows' additions.
const PADDED_MIN_ROWS: usize = 2048;

/// One 256-entry histogram per feature of a block, reused by each thread.
type Padded = Vec<[[f64; 2]; 256]>;

thread_local! {
    static PADDED: std::cell::RefCell<Padded> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Adds the rows' (gradient, hessian) into `hist`, the histogram's entries `block.start..`,
/// for the block's features, row after row: each entry sums its rows in the order of `rows`.
/// `hist` must hold zeros (every caller passes a fresh buffer).
fn fill_hist(
    binned: &BinnedData,
    gh: &[[f32; 2]],
    rows: &[u32],
    block: &Block,
    hist: &mut [[f64; 2]],
) {
    let first = block.features[0];
    // The unchecked additions below rely on this: every feature's entries are in `hist`.
    assert!(
        block
            .features
            .iter()
            .zip(&block.rel)
            .all(|(&f, &off)| off + binned.mappers[f].n_bins().min(256) <= hist.len()),
        "a histogram block's entries lie outside its buffer"
    );
    // Padding costs memory in proportion to 256 / bins: only for features of many bins.
    let entries = block.end - block.start;
    if block.contiguous
        && rows.len() >= PADDED_MIN_ROWS
        && 2 * entries >= 256 * block.features.len()
    {
        PADDED.with_borrow_mut(|padded| {
            padded.clear();
            padded.resize(block.features.len(), [[0.0; 2]; 256]);
            each_row(binned, gh, rows, first, |bins, g, h| {
                for (feature, &b) in padded.iter_mut().zip(&bins[first..]) {
                    let e = &mut feature[b as usize];
                    e[0] += g;
                    e[1] += h;
                }
            });
            // The same additions in the same order as the direct loop: the same bits.
            for (i, (feature, &off)) in padded.iter().zip(&block.rel).enumerate() {
                // A wide feature's entries come after, from `fill_wide`.
                let n = binned.mappers[block.features[i]].n_bins().min(256);
                hist[off..off + n].copy_from_slice(&feature[..n]);
            }
        });
    } else if block.contiguous {
        each_row(binned, gh, rows, first, |bins, g, h| {
            for (&off, &b) in block.rel.iter().zip(&bins[first..]) {
                // SAFETY: `b` is below its feature's bin count (a `BinnedData` invariant), and
                // the feature's entries `off..off + bins` lie within `hist` (checked above).
                let e = unsafe { hist.get_unchecked_mut(off + b as usize) };
                e[0] += g;
                e[1] += h;
            }
        });
    } else {
        each_row(binned, gh, rows, first, |bins, g, h| {
            for (&off, &f) in block.rel.iter().zip(block.features) {
                let e = &mut hist[off + bins[f] as usize];
                e[0] += g;
                e[1] += h;
            }
        });
    }
}

/// Calls `add(bins, g, h)` for each of `rows` in order, with the row's bins (all features) and
/// its gradient and hessian, prefetching rows ahead from feature `first` on.
#[inline(always)]
fn each_row(
    binned: &BinnedData,
    gh: &[[f32; 2]],
    rows: &[u32],
    first: usize,
    mut add: impl FnMut(&[u8], f64, f64),
) {
    let nf = binned.n_features;
    for (i, &r) in rows.iter().enumerate() {
        if let Some(&ahead) = rows.get(i + PREFETCH_AHEAD) {
            prefetch(gh, ahead as usize);
            prefetch(&binned.rows, ahead as usize * nf + first);
        }
        let r = r as usize;
        let [g, h] = gh[r];
        add(
            &binned.rows[r * nf..(r + 1) * nf],
            f64::from(g),
            f64::from(h),
        );
    }
}

/// Sums (gradient, hessian) per bin over `rows` for `features` (ascending, not empty); other
/// features' entries stay zero. Rows are cut into parts by their count alone and the parts'
/// sums added in part order; within a part each entry sums its rows in leaf order. Threads
/// share out parts, or features of a single part, never the additions into one entry: the
/// same additions in the same order whatever the thread count.
pub(super) fn build_hist(
    binned: &BinnedData,
    gh: &[[f32; 2]],
    rows: &[u32],
    features: &[usize],
    pool: &HistPool,
) -> Hist {
    if sparse_pays(binned, rows.len(), features) {
        return build_sparse(binned, gh, rows, features, pool);
    }
    let mut entries = build_in_parts(
        binned,
        rows,
        features,
        pool,
        1,
        |chunk, block, h| fill_hist(binned, gh, chunk, block, h),
        |t, p| {
            t[0] += p[0];
            t[1] += p[1];
        },
    );
    fill_wide(binned, gh, rows, features, &mut entries);
    Hist {
        entries,
        occupied: None,
    }
}

/// Where each pool thread's shard of the features begins (and, last, the feature count): a
/// fit on few rows gives every thread a fixed block of features whose histogram entries only
/// it fills, subtracts and searches (see `grow_tree`). Blocks of about equal work over a
/// tree of `rows` rows: a tree adds about 1.5 × `rows` rows into each feature's histograms,
/// and searches each bin about twice per leaf, a categorical's at about three times a
/// numeric bin's cost (hotel_rates: 12,300 rows, 30 features, 60 searches of 2,000 bins).
pub(super) fn shard_bounds(
    binned: &BinnedData,
    threads: usize,
    rows: usize,
    leaves: usize,
) -> Vec<usize> {
    let work = |f: usize| {
        let m = &binned.mappers[f];
        let per_bin = if m.is_categorical() { 3 } else { 1 };
        3 * rows / 2 + 2 * leaves * m.n_bins() * per_bin * SEARCH_PER_ADD
    };
    let total: usize = (0..binned.n_features).map(work).sum();
    let target = total.div_ceil(threads.max(1));
    let mut bounds = vec![0];
    let mut done = 0;
    for f in 0..binned.n_features {
        done += work(f);
        if done >= target && f + 1 < binned.n_features && bounds.len() < threads {
            bounds.push(f + 1);
            done = 0;
        }
    }
    bounds.push(binned.n_features);
    bounds
}

/// A numeric bin's share of a split search costs about this many row additions.
const SEARCH_PER_ADD: usize = 3;

/// `features` (ascending) cut at `bounds` (from [`shard_bounds`]): the block of each shard,
/// None for a shard with none of them.
pub(super) fn shard_blocks<'f>(
    binned: &BinnedData,
    features: &'f [usize],
    bounds: &[usize],
) -> Vec<Option<Block<'f>>> {
    let offsets = &binned.hist_offsets;
    bounds
        .windows(2)
        .map(|w| {
            let first = features.partition_point(|&f| f < w[0]);
            let end = features.partition_point(|&f| f < w[1]);
            let fs = &features[first..end];
            let (&lo, &hi) = (fs.first()?, fs.last()?);
            let start = offsets[lo];
            Some(Block {
                features: fs,
                start,
                end: offsets[hi] + binned.mappers[hi].n_bins(),
                rel: fs.iter().map(|&f| offsets[f] - start).collect(),
                contiguous: hi - lo + 1 == fs.len(),
            })
        })
        .collect()
}

/// Each block's entries of a histogram, as disjoint mutable slices (None for no block).
pub(super) fn block_slices<'h, 'f, E>(
    entries: &'h mut [E],
    blocks: &[Option<Block<'f>>],
) -> Vec<Option<&'h mut [E]>> {
    let mut rest = entries;
    let mut at = 0;
    blocks
        .iter()
        .map(|b| {
            let b = b.as_ref()?;
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(b.start - at);
            let (mine, tail) = tail.split_at_mut(b.end - b.start);
            rest = tail;
            at = b.end;
            Some(mine)
        })
        .collect()
}

thread_local! {
    static PART: std::cell::RefCell<Vec<[f64; 2]>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One block's entries (`hist`, the histogram's `block.start..block.end`) of what
/// [`build_hist`] sums over `rows`, on the calling thread alone: the same parts, each summed
/// in leaf order and added in part order, so the same bits.
pub(super) fn fill_block(
    binned: &BinnedData,
    gh: &[[f32; 2]],
    rows: &[u32],
    block: &Block,
    hist: &mut [[f64; 2]],
) {
    hist.fill([0.0; 2]);
    let parts = (rows.len() / MIN_PART_ROWS).clamp(1, HIST_PARTS);
    let mut chunks = rows.chunks(rows.len().div_ceil(parts).max(1));
    if let Some(first) = chunks.next() {
        fill_hist(binned, gh, first, block, hist);
    }
    PART.with_borrow_mut(|part| {
        for chunk in chunks {
            part.clear();
            part.resize(hist.len(), [0.0; 2]);
            fill_hist(binned, gh, chunk, block, part);
            for (t, p) in hist.iter_mut().zip(part.iter()) {
                t[0] += p[0];
                t[1] += p[1];
            }
        }
    });
    for (i, &f) in block.features.iter().enumerate() {
        if let Some(col) = &binned.wide[f] {
            let off = block.rel[i];
            sum_wide(
                col,
                gh,
                rows,
                &mut hist[off..off + binned.mappers[f].n_bins()],
                false,
            );
        }
    }
}

/// [`Hist::subtract`] for one block: `parent` (the block's entries of the parent's
/// histogram) less `small`'s entries of the block's features.
pub(super) fn subtract_block(
    parent: &mut [[f64; 2]],
    small: &Hist,
    binned: &BinnedData,
    block: &Block,
) {
    match &small.occupied {
        None => subtract_dense_block(parent, &small.entries[block.start..block.end]),
        Some(occupied) => {
            for e in summed_entries(occupied, binned, block.features) {
                let (a, s) = (&mut parent[e - block.start], small.entries[e]);
                a[0] -= s[0];
                a[1] -= s[1];
            }
        }
    }
}

/// `parent -= small`, entry by entry.
pub(super) fn subtract_dense_block(parent: &mut [[f64; 2]], small: &[[f64; 2]]) {
    for (a, b) in parent.iter_mut().zip(small) {
        a[0] -= b[0];
        a[1] -= b[1];
    }
}

/// A row of a class-share forest: its class and its weight (times its bootstrap count).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ClassRow {
    pub(super) class: u32,
    pub(super) weight: f32,
}

/// Channels per entry of a class histogram of `k` classes: the weight sum, then each class's.
pub(super) fn class_stride(k: usize) -> usize {
    k + 1
}

/// The class histogram of `rows`: per bin, the rows' weight sum and each class's weight sum,
/// entry `e`'s channels at `e * stride..`, in one pass over the rows (two additions per row
/// and feature, whatever the class count). Every class's gradient and the hessian of
/// class-share forests follow from these sums (see `classes`), so this is the K gradient
/// channels plus one hessian channel without K additions per row. Parts and threads as in
/// [`build_hist`]: the same sums on any pool.
pub(super) fn build_class_hist(
    binned: &BinnedData,
    class_rows: &[ClassRow],
    stride: usize,
    rows: &[u32],
    features: &[usize],
    pool: &HistPool<f64>,
) -> Vec<f64> {
    let mut entries = build_in_parts(
        binned,
        rows,
        features,
        pool,
        stride,
        |chunk, block, h| fill_class_hist(binned, class_rows, stride, chunk, block, h),
        |t, p| *t += *p,
    );
    fill_wide_class(binned, class_rows, stride, rows, features, &mut entries);
    entries
}

fn fill_class_hist(
    binned: &BinnedData,
    class_rows: &[ClassRow],
    stride: usize,
    rows: &[u32],
    block: &Block,
    hist: &mut [f64],
) {
    let nf = binned.n_features;
    let (first, last) = (block.features[0], block.features[block.features.len() - 1]);
    for (i, &r) in rows.iter().enumerate() {
        if let Some(&ahead) = rows.get(i + PREFETCH_AHEAD) {
            prefetch(class_rows, ahead as usize);
            prefetch(&binned.rows, ahead as usize * nf + first);
        }
        let r = r as usize;
        let ClassRow { class, weight } = class_rows[r];
        let (c, w) = (1 + class as usize, f64::from(weight));
        let mut add = |off: usize, b: u8| {
            let e = (off + b as usize) * stride;
            hist[e] += w;
            hist[e + c] += w;
        };
        if block.contiguous {
            let bins = &binned.rows[r * nf + first..=r * nf + last];
            for (&off, &b) in block.rel.iter().zip(bins) {
                add(off, b);
            }
        } else {
            let bins = &binned.rows[r * nf..(r + 1) * nf];
            for (&off, &f) in block.rel.iter().zip(block.features) {
                add(off, bins[f]);
            }
        }
    }
}

/// The part and thread plan of every histogram: `stride` values of `E` per histogram entry,
/// `fill` adding some rows into a block's slice, `add` merging one value of a part into the
/// total.
fn build_in_parts<E: Copy + Default + Send + Sync>(
    binned: &BinnedData,
    rows: &[u32],
    features: &[usize],
    pool: &HistPool<E>,
    stride: usize,
    fill: impl Fn(&[u32], &Block, &mut [E]) + Sync,
    add: impl Fn(&mut E, &E),
) -> Vec<E> {
    let parts = (rows.len() / MIN_PART_ROWS).clamp(1, HIST_PARTS);
    if parts == 1 {
        let mut total = pool.get();
        let threads = rayon::current_num_threads();
        if threads > 1 && rows.len() >= MIN_FEATURE_PARALLEL_ROWS && features.len() > 1 {
            let blocks = feature_blocks(binned, features, threads);
            let mut slices = Vec::with_capacity(blocks.len());
            let mut rest: &mut [E] = &mut total;
            let mut at = 0;
            for b in &blocks {
                let (_, tail) = std::mem::take(&mut rest).split_at_mut((b.start - at) * stride);
                let (mine, tail) = tail.split_at_mut((b.end - b.start) * stride);
                slices.push(mine);
                rest = tail;
                at = b.end;
            }
            blocks
                .par_iter()
                .zip(slices)
                .for_each(|(b, h)| fill(rows, b, h));
        } else if let Some(all) = feature_blocks(binned, features, 1).first() {
            fill(rows, all, &mut total[all.start * stride..all.end * stride]);
        }
        return total;
    }
    let blocks = feature_blocks(binned, features, 1);
    let Some(all) = blocks.first() else {
        return pool.get();
    };
    let (start, end) = (all.start * stride, all.end * stride);
    let part_len = rows.len().div_ceil(parts);
    let mut partials = rows
        .par_chunks(part_len)
        .map(|chunk| {
            let mut h = pool.get();
            fill(chunk, all, &mut h[start..end]);
            h
        })
        .collect::<Vec<Vec<E>>>()
        .into_iter();
    let mut total = partials.next().unwrap_or_else(|| pool.get());
    for part in partials {
        for (t, p) in total[start..end].iter_mut().zip(&part[start..end]) {
            add(t, p);
        }
        pool.put(part);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbdt::test_data::numeric_features;
    use whet_data::rng::Rng;

    /// Eight numeric features, some with few bins, a wide categorical, and scattered gradients of many magnitudes, so any
    /// change in the order of additions shows in the bits.
    fn data(n: usize) -> (BinnedData, Vec<[f32; 2]>) {
        let mut rng = Rng::new(5);
        let cols: Vec<Vec<f32>> = (0..8)
            .map(|f| {
                (0..n)
                    .map(|_| (rng.next_f64() * [1000.0, 3.0, 255.0, 40.0][f % 4]).floor() as f32)
                    .collect()
            })
            .collect();
        // And a ninth: a categorical of 600 levels, in wide bins (see `binning`).
        let mut x = numeric_features(cols);
        x.columns.push(whet_data::prep::Feature {
            name: "wide".into(),
            data: whet_data::prep::FeatureData::Categorical {
                codes: (0..n)
                    .map(|_| {
                        if rng.next_f64() < 0.05 {
                            whet_data::prep::MISSING_CODE
                        } else {
                            rng.below(600) as u32
                        }
                    })
                    .collect(),
                n_categories: 600,
            },
        });
        let binned = BinnedData::fit(&x, 255).unwrap();
        assert!(binned.mappers[8].is_wide());
        let gh = (0..n)
            .map(|_| {
                let g = (rng.next_f64() - 0.5) * 10f64.powi((rng.next_f64() * 8.0) as i32 - 4);
                [g as f32, rng.next_f64() as f32]
            })
            .collect();
        (binned, gh)
    }

    /// The histogram of a plain loop: rows in order, cut into the same parts, parts added in order.
    fn reference(
        binned: &BinnedData,
        gh: &[[f32; 2]],
        rows: &[u32],
        features: &[usize],
    ) -> Vec<[f64; 2]> {
        let parts = (rows.len() / MIN_PART_ROWS).clamp(1, HIST_PARTS);
        let mut total: Option<Vec<[f64; 2]>> = None;
        for chunk in rows.chunks(rows.len().div_ceil(parts).max(1)) {
            let mut h = vec![[0.0; 2]; binned.hist_len];
            for &r in chunk {
                let [g, he] = gh[r as usize];
                for &f in features {
                    let e = &mut h[binned.hist_offsets[f] + binned.bin(r as usize, f)];
                    e[0] += f64::from(g);
                    e[1] += f64::from(he);
                }
            }
            match total.as_mut() {
                None => total = Some(h),
                Some(t) => t.iter_mut().zip(&h).for_each(|(t, p)| {
                    t[0] += p[0];
                    t[1] += p[1];
                }),
            }
        }
        total.unwrap_or_else(|| vec![[0.0; 2]; binned.hist_len])
    }

    /// The next root from a tree's final leaves (`Hist::add_moved`): per bin, the leaves'
    /// gradients plus each leaf's value times its hessians, a sparse leaf's stale entries left
    /// out, is the histogram of the moved gradients. Exactly, as every number here is a small
    /// multiple of 1/8.
    #[test]
    fn moved_leaves_add_up_to_the_histogram_of_the_moved_gradients() {
        let n = 3_000;
        let (binned, _) = data(n);
        let mut rng = Rng::new(9);
        let gh: Vec<[f32; 2]> = (0..n)
            .map(|_| {
                let g = (rng.below(64) as f32 - 32.0) / 8.0;
                [g, [0.5, 1.0, 2.0][rng.below(3) as usize]]
            })
            .collect();
        let features: Vec<usize> = (0..binned.n_features).collect();
        let pool = HistPool::new(binned.hist_len);
        let rows: Vec<u32> = (0..n as u32).collect();
        let leaves = [(0, 2_000, 0.25), (2_000, 2_990, -0.5), (2_990, n, 1.0)];
        let mut next = vec![[0.0; 2]; binned.hist_len];
        let mut sparse = 0;
        for &(begin, end, value) in &leaves {
            let h = build_hist(&binned, &gh, &rows[begin..end], &features, &pool);
            sparse += usize::from(h.occupied.is_some());
            h.add_moved(&mut next, value, &binned, &features);
            // The next leaf's buffer holds this one's sums: a sparse one must skip them.
            pool.put(h.entries);
        }
        assert_eq!(sparse, 1, "the last leaf's histogram is sparse");
        let moved: Vec<[f32; 2]> = gh
            .iter()
            .enumerate()
            .map(|(r, &[g, h])| {
                let &(_, _, value) = leaves.iter().find(|l| r < l.1).unwrap();
                [g + value as f32 * h, h]
            })
            .collect();
        assert_eq!(next, reference(&binned, &moved, &rows, &features));
    }

    #[test]
    fn histograms_are_the_plain_loops_bit_for_bit_on_any_thread_count() {
        let n = 40_000;
        let (binned, gh) = data(n);
        let mut rng = Rng::new(9);
        // Leaves of one part below and above the feature-parallel threshold, and of many parts.
        for len in [
            1,
            100,
            MIN_FEATURE_PARALLEL_ROWS + 7,
            MIN_PART_ROWS * 2 - 1,
            30_001,
        ] {
            let mut rows: Vec<u32> = (0..n as u32).filter(|_| rng.next_f64() < 0.9).collect();
            rows.truncate(len);
            for features in [
                vec![0, 1, 2, 3, 4, 5, 6, 7, 8],
                vec![1, 2, 5, 7],
                vec![6],
                vec![3, 8],
                vec![8],
            ] {
                let want = reference(&binned, &gh, &rows, &features);
                for threads in [1, 2, 3] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let hp = HistPool::new(binned.hist_len);
                    let got = pool.install(|| build_hist(&binned, &gh, &rows, &features, &hp));
                    let bits = |h: &[[f64; 2]]| -> Vec<u64> {
                        h.iter()
                            .flat_map(|e| [e[0].to_bits(), e[1].to_bits()])
                            .collect()
                    };
                    assert_eq!(
                        bits(&got.dense(&binned)),
                        bits(&want),
                        "{len} rows, {features:?}, {threads} threads"
                    );
                    assert_eq!(got.occupied.is_some(), sparse_pays(&binned, len, &features));
                    // A recycled buffer, dirty from another leaf, gives the same sums.
                    hp.put(got.entries);
                    let other = build_hist(&binned, &gh, &rows[..len / 2], &[0, 1, 2, 3], &hp);
                    hp.put(other.entries);
                    let again = pool.install(|| build_hist(&binned, &gh, &rows, &features, &hp));
                    assert_eq!(bits(&again.dense(&binned)), bits(&want));
                }
            }
        }
    }
}
