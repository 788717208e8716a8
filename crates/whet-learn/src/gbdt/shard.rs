//! Trees grown with the features sharded over the pool's threads, for fits on few rows that
//! have the pool to themselves (`whet fit`, a library call from outside the pool).
//!
//! On 12,000 rows a leaf's histogram takes microseconds to fill and its split search about as
//! long. Handed to whichever thread was free, a histogram was filled on one core and searched
//! on the other, and moving its entries between the cores' caches cost what the second thread
//! saved: hotel_rates fitted in the same time on one thread as on two. Here every thread owns
//! a fixed block of features (from [`shard_bounds`]) for the whole fit, and one parallel step
//! per split fills the smaller child's entries of its block, subtracts them from the parent's
//! for the larger child, and searches both children's splits on its block: only the split
//! found crosses between threads. The sums are [`build_hist`]'s, part for part, and the best
//! split the first best in feature order: the same tree, bit for bit, as unsharded growth.
//!
//! [`build_hist`]: super::histogram::build_hist

use whet_data::rng::Rng;

use super::grow::Leaf;
use super::histogram::{
    Block, Hist, block_slices, build_sparse, fill_block, sparse_pays, subtract_block,
    subtract_dense_block,
};
use super::split::{Ctx, SplitInfo, keep_first_best};

pub(super) use super::histogram::{shard_blocks, shard_bounds};

/// A leaf's search plan: its node features and their random streams (see `plan_leaf`).
pub(super) type Plan = Option<(Vec<usize>, Vec<Rng>)>;

/// Runs `work(i)` once on each thread `i` of the pool (the caller's among them) and returns
/// the results in thread order.
fn on_each_thread<R: Send>(work: impl Fn(usize) -> R + Sync) -> Vec<R> {
    rayon::broadcast(|c| work(c.index()))
}

/// What one shard's thread may touch of one step's two histograms.
struct ShardSlot<'h> {
    /// The block's entries of the histogram being filled (None when it is sparse, built
    /// beforehand on the calling thread).
    built: Option<&'h mut [[f64; 2]]>,
    /// The block's entries of the parent's histogram, which become the larger child's.
    parent: Option<&'h mut [[f64; 2]]>,
}

/// A leaf's histogram as one shard reads it: entries, the histogram entry its first one is,
/// and the occupied bins of a sparse histogram.
type View<'h> = (&'h [[f64; 2]], usize, Option<&'h Vec<[u64; 4]>>);

/// One step of a sharded tree: the histogram of `rows` when given (the root's, or a split's
/// smaller child's), `parent` less it when there is a parent (the larger child's), and the
/// best split of `leaves[0]` (whose rows are `rows`) and `leaves[1]` (whose histogram is
/// `parent`) by their plans. Returns the built histogram, the larger child's and the two
/// splits. A root whose histogram is known comes as `parent` without `rows`: a search alone.
pub(super) fn sharded_step(
    ctx: &Ctx,
    gh: &[[f32; 2]],
    rows: Option<&[u32]>,
    parent: Option<Hist>,
    features: &[usize],
    blocks: &[Option<Block>],
    leaves: [(&Leaf, Plan); 2],
) -> (Option<Hist>, Option<Hist>, [Option<SplitInfo>; 2]) {
    let binned = ctx.binned;
    // A sparse histogram marks bins row by row over every feature: it is built here, and the
    // shards only subtract it and search it.
    let sparse = rows
        .filter(|rows| sparse_pays(binned, rows.len(), features))
        .map(|rows| build_sparse(binned, gh, rows, features, &ctx.pool));
    let mut built_entries = match (rows, &sparse) {
        (Some(_), None) => ctx.pool.get_stale(),
        _ => Vec::new(),
    };
    let (mut parent_entries, parent_occupied) = match parent {
        Some(Hist { entries, occupied }) => (Some(entries), occupied),
        None => (None, None),
    };
    let built_blocks = match (rows, &sparse) {
        (Some(_), None) => block_slices(&mut built_entries, blocks),
        _ => blocks.iter().map(|_| None).collect(),
    };
    let parent_blocks = match parent_entries.as_mut() {
        Some(entries) => block_slices(entries, blocks),
        None => blocks.iter().map(|_| None).collect(),
    };
    let slots: Vec<std::sync::Mutex<ShardSlot>> = built_blocks
        .into_iter()
        .zip(parent_blocks)
        .map(|(built, parent)| std::sync::Mutex::new(ShardSlot { built, parent }))
        .collect();
    let found = on_each_thread(|t| {
        let (Some(Some(block)), Some(slot)) = (blocks.get(t), slots.get(t)) else {
            return [None, None];
        };
        let Ok(mut slot) = slot.lock() else {
            return [None, None];
        };
        let ShardSlot { built, parent } = &mut *slot;
        if let (Some(built), Some(rows)) = (built.as_deref_mut(), rows) {
            fill_block(binned, gh, rows, block, built);
        }
        if let Some(parent) = parent.as_deref_mut() {
            match (&sparse, built.as_deref()) {
                (Some(small), _) => subtract_block(parent, small, binned, block),
                (None, Some(built)) => subtract_dense_block(parent, built),
                (None, None) => {}
            }
        }
        // Entries of feature `f` in each leaf's histogram: the block's slices are indexed from
        // `block.start`, a sparse histogram's from 0.
        let views: [Option<View>; 2] = [
            match &sparse {
                Some(h) => Some((&h.entries[..], 0, h.occupied.as_ref())),
                None => built.as_deref().map(|b| (b, block.start, None)),
            },
            parent
                .as_deref()
                .map(|p| (p, block.start, parent_occupied.as_ref())),
        ];
        let (lo, hi) = (block.features[0], block.features[block.features.len() - 1]);
        let mut best: [Option<SplitInfo>; 2] = [None, None];
        for ((leaf, plan), (view, best)) in leaves.iter().zip(views.iter().zip(&mut best)) {
            let (Some((node_features, seeds)), Some((entries, base, occupied))) = (plan, view)
            else {
                continue;
            };
            for (i, &f) in node_features.iter().enumerate() {
                if f < lo || f > hi {
                    continue;
                }
                let off = binned.hist_offsets[f] - base;
                let h = &entries[off..off + binned.mappers[f].n_bins()];
                // Without extra-trees the feature's stream is never drawn from: any will do.
                let mut stream = seeds.get(i).cloned().unwrap_or_else(|| Rng::new(0));
                let occupied = occupied.map(|o| &o[f]);
                keep_first_best(best, ctx.best_split_of(f, h, occupied, leaf, &mut stream));
            }
        }
        best
    });
    drop(slots);
    // Shards in feature order, each with its first best: the first best overall.
    let mut best: [Option<SplitInfo>; 2] = [None, None];
    for shard in found {
        for (b, s) in best.iter_mut().zip(shard) {
            keep_first_best(b, s);
        }
    }
    let built = match (rows, sparse) {
        (_, Some(sparse)) => Some(sparse),
        (Some(_), None) => Some(Hist {
            entries: built_entries,
            occupied: None,
        }),
        (None, None) => None,
    };
    let larger = parent_entries.map(|entries| Hist {
        entries,
        occupied: parent_occupied,
    });
    (built, larger, best)
}
