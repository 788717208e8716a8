//! The leaf-wise (best-first) tree learner: split the leaf with the largest gain until
//! `num_leaves`, building the smaller child's histogram and subtracting it from the parent's
//! for the larger, and bounding children's outputs for monotone constraints.

use rayon::prelude::*;
use whet_data::rng::Rng;

use super::histogram::{Hist, build_hist};
use super::partition::partition_rows;
use super::profile::{Phase, PhaseTimer};
use super::shard::{Plan, shard_blocks, sharded_step};
use super::split::{Ctx, SplitInfo, keep_first_best};
use super::tree::{Node, Tree};
use crate::binning::BinKind;

pub(super) struct Leaf {
    pub(super) begin: usize,
    pub(super) end: usize,
    pub(super) sum: [f64; 3],
    pub(super) output: f64,
    pub(super) depth: usize,
    pub(super) min_out: f64,
    pub(super) max_out: f64,
    pub(super) hist: Option<Hist>,
    pub(super) best: Option<SplitInfo>,
    /// Internal node whose child this leaf is, and whether it is the left child.
    pub(super) parent: Option<(usize, bool)>,
}

/// A leaf's split search in two steps: its random draws (node features, extra-trees seeds),
/// taken from `rng` in leaf order, then the search itself, which may run beside another
/// leaf's without changing any draw. None (and no draw) when the leaf may not split.
pub(super) fn plan_leaf(
    ctx: &Ctx,
    tree_features: &[usize],
    depth: usize,
    rows: usize,
    rng: &mut Rng,
) -> Option<(Vec<usize>, Vec<Rng>)> {
    let p = ctx.p;
    if p.max_depth.is_some_and(|d| depth >= d) {
        return None;
    }
    if rows < 2 * p.min_data_in_leaf.max(1) {
        return None;
    }
    let node_features: Vec<usize> = if p.feature_fraction_bynode < 1.0 {
        let k = ((tree_features.len() as f64 * p.feature_fraction_bynode).ceil() as usize)
            .clamp(1, tree_features.len());
        let mut fs = tree_features.to_vec();
        rng.shuffle(&mut fs);
        fs.truncate(k);
        fs.sort_unstable();
        fs
    } else {
        tree_features.to_vec()
    };
    // One RNG stream per feature keeps extra-trees thresholds independent of thread order.
    // Only extra-trees draws from them; forking is pure, so other fits skip it (58 forks
    // per leaf were a tenth of a small multiclass fit) without moving `rng`.
    let seeds: Vec<Rng> = if ctx.extra_trees {
        node_features.iter().map(|&f| rng.fork(f as u64)).collect()
    } else {
        Vec::new()
    };
    let _ = rng.next_u64();
    Some((node_features, seeds))
}

/// The leaf to split next: the largest gain, the first leaf among equal ones.
pub(super) fn next_leaf(gains: impl Iterator<Item = (usize, f64)>) -> Option<usize> {
    gains
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i)
}

/// Records `split` of leaf `li` as internal node `tree.nodes.len()` whose right child is the
/// new leaf `new_leaf`, linked from its parent node; returns the node's index.
pub(super) fn record_split(
    ctx: &Ctx,
    tree: &mut Tree,
    split: &SplitInfo,
    li: usize,
    new_leaf: usize,
    parent: Option<(usize, bool)>,
    cover: f64,
) -> usize {
    let node = tree.nodes.len();
    let mapper = &ctx.binned.mappers[split.feature];
    // A category set is one or more consecutive 256-bin blocks (see `Node::threshold_bin`),
    // up to its last member's: bins past them go right as well.
    let (cat_set, threshold_bin) = match &split.cat_bins {
        Some(bits) => {
            let first = tree.cat_sets.len() as i32;
            let blocks = bits
                .chunks(4)
                .rposition(|b| b.iter().any(|&w| w != 0))
                .map_or(1, |last| last + 1);
            for block in bits.chunks(4).take(blocks) {
                let mut words = [0u64; 4];
                words[..block.len()].copy_from_slice(block);
                tree.cat_sets.push(words);
            }
            if blocks > bits.len().div_ceil(4) {
                tree.cat_sets.push([0; 4]);
            }
            (first, (blocks - 1) as u8)
        }
        None => (-1, split.threshold_bin),
    };
    tree.nodes.push(Node {
        threshold: match &mapper.kind {
            BinKind::Numeric { upper_bounds } => upper_bounds[split.threshold_bin as usize],
            BinKind::Categorical => 0.0,
        },
        feature: split.feature as u32,
        left: !(li as i32),
        right: !(new_leaf as i32),
        cat_set,
        threshold_bin,
        default_left: split.default_left,
    });
    tree.split_gain.push(split.gain);
    tree.internal_cover.push(cover);
    if let Some((parent, is_left)) = parent {
        if is_left {
            tree.nodes[parent].left = node as i32;
        } else {
            tree.nodes[parent].right = node as i32;
        }
    }
    node
}

/// A tree's root histogram known before the tree grows, and the next tree's being summed.
///
/// Under squared error a row's gradient is (score − target) × weight and its hessian its
/// weight, so when a tree takes every row and moves each score by its leaf's value `v`, the
/// next gradients are the last ones plus `v` × hessian. The next root's histogram is then the
/// sum over this tree's leaves of (gradients + `v` × hessians) per bin, from histograms the
/// tree has anyway: a few thousand additions instead of one per row and feature. The root
/// was nearly half a regression fit's histogram time (birthdays: 298,000 rows, 655 of 1,440
/// ms). Its sums are the f64 sums of the exact gradients, not of the f32 gradients a pass over
/// the rows adds up, so models differ from that pass's in the last bits of split gains and
/// leaf values (bench/RESULTS.md).
pub(super) struct RootCarry {
    /// This tree's root histogram, when known.
    pub(super) root: Option<Hist>,
    /// The next root's entries, summed as leaves are final (zeros at the tree's start).
    pub(super) next: Vec<[f64; 2]>,
    /// Leaf outputs × this are the score moves (the learning rate).
    pub(super) shrinkage: f64,
}

impl RootCarry {
    fn add_leaf(&mut self, ctx: &Ctx, leaf: &Leaf, hist: &Hist, features: &[usize]) {
        let value = leaf.output * self.shrinkage;
        hist.add_moved(&mut self.next, value, ctx.binned, features);
    }
}

/// Grows one tree on `indices` (the rows in the bag) with gradients `gh`.
///
/// `shards` (from [`super::shard::shard_bounds`], one per pool thread) is for a fit that has
/// the pool to itself and few rows: each split is one step of [`sharded_step`], the same tree.
#[allow(clippy::too_many_arguments)]
pub(super) fn grow_tree(
    ctx: &Ctx,
    gh: &[[f32; 2]],
    indices: &mut [u32],
    scratch: &mut Vec<u32>,
    tree_features: &[usize],
    rng: &mut Rng,
    leaf_of_range: &mut Vec<(usize, usize, usize)>,
    shards: Option<&[usize]>,
    mut carry: Option<&mut RootCarry>,
) -> Tree {
    let p = ctx.p;
    let blocks = shards.map(|bounds| shard_blocks(ctx.binned, tree_features, bounds));

    let hist_time = PhaseTimer::start(Phase::Histograms);
    let given_root = carry.as_mut().and_then(|c| c.root.take());
    let carried = given_root.is_some();
    let root_hist = match (&blocks, given_root) {
        (_, Some(root)) => Some(root),
        // Built with the root's search below.
        (Some(_), None) => None,
        (None, None) => Some(build_hist(
            ctx.binned,
            gh,
            indices,
            tree_features,
            &ctx.pool,
        )),
    };
    let mut sum = [0.0; 3];
    match (&root_hist, tree_features.first()) {
        // A carried root's sums are in any feature's bins: no pass over the rows.
        (Some(root), Some(&f)) if carried => {
            let off = ctx.binned.hist_offsets[f];
            for e in &root.entries[off..off + ctx.binned.mappers[f].n_bins()] {
                sum[0] += e[0];
                sum[1] += e[1];
            }
        }
        _ => {
            for &r in indices.iter() {
                let [g, h] = gh[r as usize];
                sum[0] += f64::from(g);
                sum[1] += f64::from(h);
            }
        }
    }
    sum[2] = indices.len() as f64;
    drop(hist_time);
    let root_out = ctx.leaf_output(
        sum[0],
        sum[1],
        p.lambda_l2,
        f64::NEG_INFINITY,
        f64::INFINITY,
    );
    let mut leaves = vec![Leaf {
        begin: 0,
        end: indices.len(),
        sum,
        output: root_out,
        depth: 0,
        min_out: f64::NEG_INFINITY,
        max_out: f64::INFINITY,
        hist: root_hist,
        best: None,
        parent: None,
    }];
    let mut tree = Tree::leaf(0.0, 0.0, 0);
    tree.leaf_value.clear();
    tree.leaf_cover.clear();
    tree.leaf_count.clear();

    // A sharded step builds a leaf's histogram and searches it at once: plans come first.
    let plan = |leaf: &Leaf, rng: &mut Rng| -> Plan {
        plan_leaf(ctx, tree_features, leaf.depth, leaf.end - leaf.begin, rng)
    };
    let search = |leaf: &Leaf, plan: Plan| -> Option<SplitInfo> {
        let (node_features, seeds) = plan?;
        let hist = leaf.hist.as_ref()?;
        // Without extra-trees the feature's stream is never drawn from: any will do.
        let stream = |i: usize| seeds.get(i).cloned().unwrap_or_else(|| Rng::new(0));
        let results: Vec<Option<SplitInfo>> =
            if node_features.len() >= 8 && leaf.end - leaf.begin >= 4096 {
                node_features
                    .par_iter()
                    .enumerate()
                    .map(|(i, &f)| ctx.best_split_for_feature(f, hist, leaf, &mut stream(i)))
                    .collect()
            } else {
                node_features
                    .iter()
                    .enumerate()
                    .map(|(i, &f)| ctx.best_split_for_feature(f, hist, leaf, &mut stream(i)))
                    .collect()
            };
        let mut best: Option<SplitInfo> = None;
        for s in results {
            keep_first_best(&mut best, s);
        }
        best
    };

    let root_plan = plan(&leaves[0], rng);
    // A sharded step's searches count as histograms (see `FitProfile`).
    let splits_time = PhaseTimer::start(match &blocks {
        Some(_) => Phase::Histograms,
        None => Phase::Splits,
    });
    match (&blocks, leaves[0].hist.take()) {
        (Some(blocks), None) => {
            let (hist, _, [best, _]) = sharded_step(
                ctx,
                gh,
                Some(indices),
                None,
                tree_features,
                blocks,
                [(&leaves[0], root_plan), (&leaves[0], None)],
            );
            leaves[0].hist = hist;
            leaves[0].best = best;
        }
        (Some(blocks), Some(root)) => {
            let (_, hist, [_, best]) = sharded_step(
                ctx,
                gh,
                None,
                Some(root),
                tree_features,
                blocks,
                [(&leaves[0], None), (&leaves[0], root_plan)],
            );
            leaves[0].hist = hist;
            leaves[0].best = best;
        }
        (None, root) => {
            leaves[0].hist = root;
            leaves[0].best = search(&leaves[0], root_plan);
        }
    }
    drop(splits_time);
    while leaves.len() < p.num_leaves {
        let Some(li) = next_leaf(
            leaves
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.best.as_ref().map(|b| (i, b.gain))),
        ) else {
            break;
        };
        let Some(split) = leaves[li].best.take() else {
            break;
        };
        let (begin, end) = (leaves[li].begin, leaves[li].end);
        // Stable partition of the leaf's rows.
        let partition_time = PhaseTimer::start(Phase::Partition);
        let n_left = partition_rows(ctx.binned, &split, &mut indices[begin..end], scratch);
        drop(partition_time);
        let mid = begin + n_left;

        let new_leaf = leaves.len();
        let node = record_split(
            ctx,
            &mut tree,
            &split,
            li,
            new_leaf,
            leaves[li].parent,
            leaves[li].sum[1],
        );

        // Child constraints (LightGBM's basic monotone method).
        let (min_out, max_out) = (leaves[li].min_out, leaves[li].max_out);
        let mono = ctx.monotone.get(split.feature).copied().unwrap_or(0);
        let midv = (split.left_output + split.right_output) / 2.0;
        let (l_bounds, r_bounds) = match mono {
            m if m > 0 && split.cat_bins.is_none() => {
                ((min_out, max_out.min(midv)), (min_out.max(midv), max_out))
            }
            m if m < 0 && split.cat_bins.is_none() => {
                ((min_out.max(midv), max_out), (min_out, max_out.min(midv)))
            }
            _ => ((min_out, max_out), (min_out, max_out)),
        };

        let depth = leaves[li].depth + 1;
        let parent_hist = leaves[li].hist.take();
        leaves[li] = Leaf {
            begin,
            end: mid,
            // Counts in the split were estimated; the partition knows them exactly.
            sum: [split.left[0], split.left[1], n_left as f64],
            output: split.left_output,
            depth,
            min_out: l_bounds.0,
            max_out: l_bounds.1,
            hist: None,
            best: None,
            parent: Some((node, true)),
        };
        leaves.push(Leaf {
            begin: mid,
            end,
            sum: [split.right[0], split.right[1], (end - mid) as f64],
            output: split.right_output,
            depth,
            min_out: r_bounds.0,
            max_out: r_bounds.1,
            hist: None,
            best: None,
            parent: Some((node, false)),
        });
        let last = leaves.len() - 1;
        // Histograms: build the smaller child, subtract for the larger.
        let left_small = n_left <= (end - begin) - n_left;
        let (small, large) = if left_small { (li, last) } else { (last, li) };
        let small_rows = &indices[leaves[small].begin..leaves[small].end];
        let searched = leaves.len() < p.num_leaves;
        let (left_plan, right_plan) = if searched {
            (plan(&leaves[li], rng), plan(&leaves[last], rng))
        } else {
            (None, None)
        };
        match (&blocks, parent_hist) {
            (Some(blocks), Some(parent_hist)) => {
                // The searches too (see `FitProfile`).
                let _t = PhaseTimer::start(Phase::Histograms);
                let (small_plan, large_plan) = if left_small {
                    (left_plan, right_plan)
                } else {
                    (right_plan, left_plan)
                };
                let (small_hist, large_hist, [small_best, large_best]) = sharded_step(
                    ctx,
                    gh,
                    Some(small_rows),
                    Some(parent_hist),
                    tree_features,
                    blocks,
                    [(&leaves[small], small_plan), (&leaves[large], large_plan)],
                );
                leaves[small].hist = small_hist;
                leaves[large].hist = large_hist;
                leaves[small].best = small_best;
                leaves[large].best = large_best;
            }
            (_, parent_hist) => {
                let hist_time = PhaseTimer::start(Phase::Histograms);
                let small_hist = build_hist(ctx.binned, gh, small_rows, tree_features, &ctx.pool);
                let large_hist = match parent_hist {
                    Some(ph) => ph.subtract(&small_hist, ctx.binned, tree_features),
                    // No parent histogram (it was released): build the larger side too.
                    None => build_hist(
                        ctx.binned,
                        gh,
                        &indices[leaves[large].begin..leaves[large].end],
                        tree_features,
                        &ctx.pool,
                    ),
                };
                leaves[small].hist = Some(small_hist);
                leaves[large].hist = Some(large_hist);
                drop(hist_time);
                if searched {
                    let (left, right) = (&leaves[li], &leaves[last]);
                    // The two children's searches are independent: one per thread.
                    let _t = PhaseTimer::start(Phase::Splits);
                    let (lb, rb) =
                        rayon::join(|| search(left, left_plan), || search(right, right_plan));
                    leaves[li].best = lb;
                    leaves[last].best = rb;
                }
            }
        }
        // Leaves that will not be split again give their histograms back.
        for i in [li, leaves.len() - 1] {
            if leaves[i].best.is_none()
                && let Some(h) = leaves[i].hist.take()
            {
                if let Some(c) = carry.as_mut() {
                    c.add_leaf(ctx, &leaves[i], &h, tree_features);
                }
                ctx.pool.put(h.entries);
            }
        }
    }
    leaf_of_range.clear();
    for l in leaves.iter_mut() {
        if let Some(h) = l.hist.take() {
            if let Some(c) = carry.as_mut() {
                c.add_leaf(ctx, l, &h, tree_features);
            }
            ctx.pool.put(h.entries);
        }
    }
    for (i, l) in leaves.iter().enumerate() {
        tree.leaf_value.push(l.output);
        tree.leaf_cover.push(l.sum[1]);
        tree.leaf_count.push(l.sum[2] as u32);
        leaf_of_range.push((l.begin, l.end, i));
    }
    tree
}
