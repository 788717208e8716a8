use super::*;
use whet_data::rng::Rng;

/// |a − b| ≤ 1e-9, relative for values beyond 1 (MAPE with a zero target is ~1e14).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[track_caller]
fn assert_close(got: f64, want: f64) {
    assert!(close(got, want), "got {got:?}, want {want:?}");
}

#[track_caller]
fn assert_nan(got: f64) {
    assert!(got.is_nan(), "got {got:?}, want NaN");
}

fn labels(v: &[usize]) -> Vec<f64> {
    v.iter().map(|&c| c as f64).collect()
}

// ---- fixed vectors (identical to crates/whet-learn/tests/sklearn_metrics.py) ----

// Binary, ties in the scores (0.1, 0.35, 0.4 ×3, 0.8), one zero weight.
const YB: [usize; 12] = [0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0];
const SB: [f64; 12] = [
    0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.2, 0.9, 0.35, 0.1, 0.65, 0.8,
];
const WB: [f64; 12] = [1.0, 2.0, 0.5, 1.5, 1.0, 3.0, 0.25, 1.0, 2.0, 0.0, 1.0, 0.75];
// Probabilities with exact 0 and 1, so the clip decides the log loss.
const PB: [f64; 12] = [
    0.0, 1.0, 0.35, 0.8, 0.4, 0.4, 1.0, 0.9, 0.35, 1.0, 0.65, 0.8,
];
// SB >= 0.5
const CB: [usize; 12] = [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 1];

/// The larger binary case with heavy ties (scores on a 0.1 grid).
fn ties_case() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let y = (0..40)
        .map(|i| f64::from(u8::from((i * 7) % 5 < 2)))
        .collect();
    let s = (0..40).map(|i| f64::from((i * 13) % 11) / 10.0).collect();
    let w = (0..40)
        .map(|i| 0.5 + f64::from((i * 3) % 4) * 0.5)
        .collect();
    (y, s, w)
}

// Multiclass, k = 3; row 8 gives its true class probability 0.
const YM: [usize; 10] = [0, 1, 2, 2, 1, 0, 1, 2, 0, 1];
const PM: [[f64; 3]; 10] = [
    [0.7, 0.2, 0.1],
    [0.1, 0.6, 0.3],
    [0.2, 0.2, 0.6],
    [0.3, 0.4, 0.3],
    [0.0, 1.0, 0.0],
    [0.5, 0.5, 0.0],
    [0.25, 0.25, 0.5],
    [0.1, 0.1, 0.8],
    [0.0, 0.0, 1.0],
    [0.3, 0.3, 0.4],
];
const WM: [f64; 10] = [1.0, 0.5, 2.0, 1.0, 3.0, 0.0, 1.5, 1.0, 0.25, 2.0];
// argmax of PM (first on ties)
const CM: [usize; 10] = [0, 1, 2, 1, 1, 0, 2, 2, 2, 2];

// Predictions naming a class (2) that never occurs in y.
const YX: [usize; 6] = [0, 0, 1, 1, 0, 1];
const CX: [usize; 6] = [0, 2, 1, 0, 0, 2];
const WX: [f64; 6] = [1.0, 2.0, 0.5, 1.0, 3.0, 1.5];

// Regression; one target 0 (MAPE divides by eps), one zero weight.
const YR: [f64; 8] = [3.0, -0.5, 2.0, 7.0, 0.0, 1.5, 4.2, -2.0];
const PR: [f64; 8] = [2.5, 0.0, 2.0, 8.0, 0.3, 1.0, 5.0, -1.0];
const WR: [f64; 8] = [1.0, 2.0, 0.5, 1.0, 0.25, 3.0, 1.0, 0.0];

fn pm_flat() -> Vec<f64> {
    PM.iter().flatten().copied().collect()
}

#[test]
fn binary_ranking_matches_sklearn() {
    let y = labels(&YB);
    // roc_auc_score(YB, SB)
    assert_close(roc_auc(&y, &SB, None), 0.6388888888888888);
    // roc_auc_score(YB, SB, sample_weight=WB)
    assert_close(roc_auc(&y, &SB, Some(&WB)), 0.45384615384615384);
    // average_precision_score(YB, SB)
    assert_close(pr_auc(&y, &SB, None), 0.6626984126984127);
    // average_precision_score(YB, SB, sample_weight=WB)
    assert_close(pr_auc(&y, &SB, Some(&WB)), 0.5872788139646102);

    let (y, s, w) = ties_case();
    // roc_auc_score(YT, ST)
    assert_close(roc_auc(&y, &s, None), 0.5143229166666666);
    // roc_auc_score(YT, ST, sample_weight=WT)
    assert_close(roc_auc(&y, &s, Some(&w)), 0.5712499999999999);
    // average_precision_score(YT, ST)
    assert_close(pr_auc(&y, &s, None), 0.41799885010822513);
    // average_precision_score(YT, ST, sample_weight=WT)
    assert_close(pr_auc(&y, &s, Some(&w)), 0.48988173684774455);
}

#[test]
fn binary_classification_matches_sklearn() {
    let y = labels(&YB);
    // log_loss(YB, PB, labels=[0, 1])
    assert_close(log_loss(&y, &PB, 2, None), 6.614090553290858);
    // log_loss(YB, PB, labels=[0, 1], sample_weight=WB)
    assert_close(log_loss(&y, &PB, 2, Some(&WB)), 1.3029724997446512);
    // The same as two columns [1 - p, p].
    let two: Vec<f64> = PB.iter().flat_map(|&p| [1.0 - p, p]).collect();
    assert_close(log_loss(&y, &two, 2, Some(&WB)), 1.3029724997446512);
    // accuracy_score(YB, CB) / with sample_weight=WB
    assert_close(accuracy(&y, &CB, None), 0.5);
    assert_close(accuracy(&y, &CB, Some(&WB)), 0.44642857142857145);
    // balanced_accuracy_score(YB, CB) / with sample_weight=WB
    assert_close(balanced_accuracy(&y, &CB, 2, None), 0.5);
    assert_close(balanced_accuracy(&y, &CB, 2, Some(&WB)), 0.4602564102564103);
    // f1_score(YB, CB) / with sample_weight=WB
    assert_close(f1_binary(&y, &CB, None), 0.4);
    assert_close(f1_binary(&y, &CB, Some(&WB)), 0.3404255319148936);
    // f1_macro over two classes agrees with sklearn's average='macro' too: mean of both
    // classes' F1, where class 0's F1 is computed like class 1's with labels swapped.
    let flip = |v: &[usize]| v.iter().map(|&c| 1 - c).collect::<Vec<_>>();
    let f0 = f1_binary(&labels(&flip(&YB)), &flip(&CB), None);
    assert_close(f1_macro(&y, &CB, 2, None), (f0 + 0.4) / 2.0);
}

#[test]
fn log_loss_clips_at_float64_eps() {
    // log_loss([0], [[0.0, 1.0]], labels=[0, 1]) == -ln(np.finfo(np.float64).eps)
    // = 36.04365338911715 in sklearn 1.9.1 (1e-15 would give 34.538776394910684).
    assert_close(log_loss(&[0.0], &[1.0], 2, None), 36.04365338911715);
    assert_close(log_loss(&[0.0], &[0.0, 1.0], 2, None), 36.04365338911715);
    // A perfect prediction costs -ln(1 - eps), not 0.
    assert_close(log_loss(&[1.0], &[1.0], 2, None), f64::EPSILON);
}

#[test]
fn multiclass_matches_sklearn() {
    let y = labels(&YM);
    let p = pm_flat();
    // log_loss(YM, PM, labels=[0, 1, 2])
    assert_close(log_loss(&y, &p, 3, None), 4.213251028223379);
    // log_loss(YM, PM, labels=[0, 1, 2], sample_weight=WM)
    assert_close(log_loss(&y, &p, 3, Some(&WM)), 1.3517678250289675);
    // accuracy_score(YM, CM) / with sample_weight=WM
    assert_close(accuracy(&y, &CM, None), 0.6);
    assert_close(accuracy(&y, &CM, Some(&WM)), 0.6122448979591837);
    // balanced_accuracy_score(YM, CM) / with sample_weight=WM
    assert_close(balanced_accuracy(&y, &CM, 3, None), 0.611111111111111);
    assert_close(balanced_accuracy(&y, &CM, 3, Some(&WM)), 0.6833333333333332);
    // f1_score(YM, CM, average='macro') / with sample_weight=WM
    assert_close(f1_macro(&y, &CM, 3, None), 0.6238095238095238);
    assert_close(f1_macro(&y, &CM, 3, Some(&WM)), 0.685241358648841);

    let y = labels(&YX);
    // f1_score(YX, CX, average='macro') / with sample_weight=WX
    assert_close(f1_macro(&y, &CX, 3, None), 0.38888888888888884);
    assert_close(f1_macro(&y, &CX, 3, Some(&WX)), 0.3376623376623377);
    // n_classes larger than the classes present changes nothing.
    assert_close(f1_macro(&y, &CX, 7, Some(&WX)), 0.3376623376623377);
    // balanced_accuracy_score(YX, CX) / with sample_weight=WX
    assert_close(balanced_accuracy(&y, &CX, 3, None), 0.5);
    assert_close(
        balanced_accuracy(&y, &CX, 3, Some(&WX)),
        0.41666666666666663,
    );

    // f1_score([0, 1, 2, 0], [0, 1, 2, 1], average='macro', sample_weight=[1, 1, 0, 1],
    //          zero_division=np.nan) — class 2 occurs only in a zero-weight row.
    let y = [0.0, 1.0, 2.0, 0.0];
    assert_close(
        f1_macro(&y, &[0, 1, 2, 1], 3, Some(&[1.0, 1.0, 0.0, 1.0])),
        0.6666666666666666,
    );
}

#[test]
fn regression_matches_sklearn() {
    // root_mean_squared_error(YR, PR) / with sample_weight=WR
    assert_close(rmse(&YR, &PR, None), 0.6595452979136459);
    assert_close(rmse(&YR, &PR, Some(&WR)), 0.6011892975000231);
    // mean_absolute_error(YR, PR) / with sample_weight=WR
    assert_close(mae(&YR, &PR, None), 0.575);
    assert_close(mae(&YR, &PR, Some(&WR)), 0.5571428571428572);
    // r2_score(YR, PR) / with sample_weight=WR
    assert_close(r2(&YR, &PR, None), 0.9392245895913378);
    assert_close(r2(&YR, &PR, Some(&WR)), 0.9296055685930336);
    // mean_absolute_percentage_error(YR, PR) / with sample_weight=WR (y = 0 → / eps)
    assert_close(mape(&YR, &PR, None), 168884986026393.88);
    assert_close(mape(&YR, &PR, Some(&WR)), 38602282520318.94);
    // mean_absolute_percentage_error(YR[NZ], PR[NZ]) / with sample_weight=WR[NZ],
    // NZ = the rows where YR != 0
    let nz: Vec<usize> = (0..YR.len()).filter(|&i| YR[i] != 0.0).collect();
    let pick = |v: &[f64]| nz.iter().map(|&i| v[i]).collect::<Vec<_>>();
    let (y, p, w) = (pick(&YR), pick(&PR), pick(&WR));
    assert_close(mape(&y, &p, None), 0.3333333333333333);
    assert_close(mape(&y, &p, Some(&w)), 0.41176470588235287);
}

#[test]
fn auc_of_perfect_reversed_and_constant_scores() {
    let y = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0];
    let perfect = [0.1, 0.2, 0.7, 0.3, 0.8, 0.9];
    let reversed: Vec<f64> = perfect.iter().map(|s| -s).collect();
    let w = [1.0, 2.0, 0.5, 3.0, 1.0, 0.25];
    for w in [None, Some(&w[..])] {
        assert_close(roc_auc(&y, &perfect, w), 1.0);
        assert_close(roc_auc(&y, &reversed, w), 0.0);
        assert_close(roc_auc(&y, &[0.4; 6], w), 0.5);
        assert_close(pr_auc(&y, &perfect, w), 1.0);
    }
    // Constant scores: average precision is the weighted share of positives.
    assert_close(pr_auc(&y, &[0.4; 6], None), 0.5);
    // Infinite scores rank like any other.
    assert_close(
        roc_auc(&[0.0, 1.0], &[f64::NEG_INFINITY, f64::INFINITY], None),
        1.0,
    );
    // -0.0 and 0.0 are one threshold.
    assert_close(roc_auc(&[0.0, 1.0], &[-0.0, 0.0], None), 0.5);
}

#[test]
fn auc_equals_pairwise_count() {
    // The Mann-Whitney form: P(score⁺ > score⁻) + ½ P(tie), weighted by w⁺·w⁻.
    let mut rng = Rng::new(7);
    for round in 0..20 {
        let n = 5 + rng.below(60) as usize;
        let y: Vec<f64> = (0..n).map(|_| rng.below(2) as f64).collect();
        let s: Vec<f64> = (0..n).map(|_| rng.below(8) as f64 / 4.0).collect();
        let w: Vec<f64> = (0..n).map(|_| rng.below(5) as f64 * 0.5).collect();
        let (mut num, mut den) = (0.0, 0.0);
        for i in (0..n).filter(|&i| y[i] == 1.0) {
            for j in (0..n).filter(|&j| y[j] == 0.0) {
                let pair = w[i] * w[j];
                den += pair;
                num += pair
                    * match s[i].total_cmp(&s[j]) {
                        std::cmp::Ordering::Greater => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Less => 0.0,
                    };
            }
        }
        let got = roc_auc(&y, &s, Some(&w));
        if den > 0.0 {
            assert!(
                (got - num / den).abs() < 1e-12,
                "round {round}: {got} vs {num}/{den}"
            );
        } else {
            assert_nan(got);
        }
    }
}

/// Rows repeated `wᵢ` times (whole-number weights).
fn repeat<T: Copy>(v: &[T], w: &[f64]) -> Vec<T> {
    v.iter()
        .zip(w)
        .flat_map(|(&x, &k)| std::iter::repeat_n(x, k as usize))
        .collect()
}

#[test]
fn integer_weights_equal_repeated_rows() {
    let eq = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    let w: Vec<f64> = (0..12).map(|i| f64::from((i * 5) % 4)).collect(); // 0, 1, 2, 3
    let y = labels(&YB);
    let (yr, sr, pr, cr) = (
        repeat(&y, &w),
        repeat(&SB, &w),
        repeat(&PB, &w),
        repeat(&CB, &w),
    );
    eq(roc_auc(&y, &SB, Some(&w)), roc_auc(&yr, &sr, None));
    eq(pr_auc(&y, &SB, Some(&w)), pr_auc(&yr, &sr, None));
    eq(log_loss(&y, &PB, 2, Some(&w)), log_loss(&yr, &pr, 2, None));
    eq(accuracy(&y, &CB, Some(&w)), accuracy(&yr, &cr, None));
    eq(
        balanced_accuracy(&y, &CB, 2, Some(&w)),
        balanced_accuracy(&yr, &cr, 2, None),
    );
    eq(f1_binary(&y, &CB, Some(&w)), f1_binary(&yr, &cr, None));

    let w: Vec<f64> = (0..10).map(|i| f64::from((i * 3) % 4)).collect();
    let y = labels(&YM);
    let rows: Vec<[f64; 3]> = repeat(&PM, &w);
    let pr: Vec<f64> = rows.iter().flatten().copied().collect();
    let (yr, cr) = (repeat(&y, &w), repeat(&CM, &w));
    eq(
        log_loss(&y, &pm_flat(), 3, Some(&w)),
        log_loss(&yr, &pr, 3, None),
    );
    eq(accuracy(&y, &CM, Some(&w)), accuracy(&yr, &cr, None));
    eq(
        balanced_accuracy(&y, &CM, 3, Some(&w)),
        balanced_accuracy(&yr, &cr, 3, None),
    );
    eq(f1_macro(&y, &CM, 3, Some(&w)), f1_macro(&yr, &cr, 3, None));

    let w = [2.0, 1.0, 0.0, 3.0, 2.0, 1.0, 2.0, 1.0];
    let (yr, pr) = (repeat(&YR, &w), repeat(&PR, &w));
    eq(rmse(&YR, &PR, Some(&w)), rmse(&yr, &pr, None));
    eq(mae(&YR, &PR, Some(&w)), mae(&yr, &pr, None));
    eq(r2(&YR, &PR, Some(&w)), r2(&yr, &pr, None));
    let rel = (mape(&YR, &PR, Some(&w)) / mape(&yr, &pr, None) - 1.0).abs();
    assert!(rel < 1e-12);

    // All-ones weights are no weights.
    let ones = [1.0; 8];
    eq(rmse(&YR, &PR, Some(&ones)), rmse(&YR, &PR, None));
}

#[test]
fn undefined_cases_are_nan() {
    // roc_auc_score([1, 1, 1], [0.2, 0.5, 0.9]) is nan in sklearn 1.9.1 too.
    assert_nan(roc_auc(&[1.0, 1.0, 1.0], &[0.2, 0.5, 0.9], None));
    assert_nan(roc_auc(&[0.0, 0.0], &[0.2, 0.5], None));
    // One class only in zero-weight rows.
    assert_nan(roc_auc(&[0.0, 1.0], &[0.2, 0.5], Some(&[1.0, 0.0])));
    // average_precision_score([0, 0], [0.2, 0.9]) is 0.0 (with a warning); whet: NaN.
    assert_nan(pr_auc(&[0.0, 0.0], &[0.2, 0.9], None));
    // f1_score([0, 0], [0, 0], zero_division=np.nan)
    assert_nan(f1_binary(&[0.0, 0.0], &[0, 0], None));
    // r2_score([1, 1], [1, 2], force_finite=False) is -inf; whet: NaN.
    assert_nan(r2(&[1.0, 1.0], &[1.0, 2.0], None));
    assert_nan(r2(
        &[0.1, 0.1, 0.1],
        &[0.1, 0.2, 0.3],
        Some(&[3.0, 0.7, 1.1]),
    ));
    assert_nan(r2(&[5.0], &[5.0], None));
    assert_nan(r2(&[1.0, 2.0], &[1.0, 2.0], Some(&[1.0, 0.0])));

    // Empty input and zero total weight.
    let e: &[f64] = &[];
    assert_nan(roc_auc(e, e, None));
    assert_nan(pr_auc(e, e, None));
    assert_nan(log_loss(e, e, 2, None));
    assert_nan(accuracy(e, &[], None));
    assert_nan(balanced_accuracy(e, &[], 2, None));
    assert_nan(f1_binary(e, &[], None));
    assert_nan(f1_macro(e, &[], 3, None));
    assert_nan(rmse(e, e, None));
    assert_nan(mae(e, e, None));
    assert_nan(r2(e, e, None));
    assert_nan(mape(e, e, None));
    let z = Some(&[0.0, 0.0][..]);
    assert_nan(accuracy(&[0.0, 1.0], &[0, 1], z));
    assert_nan(log_loss(&[0.0, 1.0], &[0.3, 0.6], 2, z));
    assert_nan(rmse(&[0.0, 1.0], &[0.3, 0.6], z));
    assert_nan(balanced_accuracy(&[0.0, 1.0], &[0, 1], 2, z));
    assert_nan(f1_macro(&[0.0, 1.0], &[0, 1], 2, z));
}

#[test]
fn invalid_input_is_nan() {
    let y = [0.0, 1.0, 1.0];
    let s = [0.1, 0.5, 0.9];
    // Mismatched lengths.
    assert_nan(roc_auc(&y, &s[..2], None));
    assert_nan(roc_auc(&y, &s, Some(&[1.0])));
    assert_nan(pr_auc(&y[..2], &s, None));
    assert_nan(log_loss(&y, &s[..2], 2, None));
    assert_nan(log_loss(&y, &[0.5; 8], 3, None));
    assert_nan(accuracy(&y, &[0, 1], None));
    assert_nan(accuracy(&y, &[0, 1, 1], Some(&[1.0; 4])));
    assert_nan(balanced_accuracy(&y, &[0, 1], 2, None));
    assert_nan(f1_binary(&y, &[0, 1], None));
    assert_nan(f1_macro(&y, &[0, 1, 1], 2, Some(&[1.0, 1.0])));
    assert_nan(rmse(&y, &s[..2], None));
    assert_nan(mae(&y, &s, Some(&[1.0])));
    assert_nan(r2(&y[..1], &s, None));
    assert_nan(mape(&y, &s, Some(&[])));
    // Labels outside the classes, NaN scores, probabilities outside [0, 1].
    assert_nan(roc_auc(&[0.0, 2.0], &[0.1, 0.2], None));
    assert_nan(roc_auc(&[0.0, 0.5], &[0.1, 0.2], None));
    assert_nan(roc_auc(&[0.0, 1.0], &[0.1, f64::NAN], None));
    assert_nan(pr_auc(&[0.0, f64::NAN], &[0.1, 0.2], None));
    assert_nan(log_loss(&[0.0, 2.0], &[0.1, 0.2], 2, None));
    assert_nan(log_loss(&[0.0, 1.0], &[0.1, 1.2], 2, None));
    assert_nan(log_loss(&[0.0, 1.0], &[0.1, f64::NAN], 2, None));
    assert_nan(log_loss(&[0.0, 0.0], &[1.0, 1.0], 1, None));
    assert_nan(accuracy(&[0.0, -1.0], &[0, 1], None));
    assert_nan(accuracy(&[0.0, 1.5], &[0, 1], None));
    assert_nan(balanced_accuracy(&[0.0, 3.0], &[0, 1], 3, None));
    assert_nan(balanced_accuracy(&[0.0, 1.0], &[0, 3], 3, None));
    assert_nan(f1_binary(&[0.0, 2.0], &[0, 1], None));
    assert_nan(f1_binary(&[0.0, 1.0], &[0, 2], None));
    assert_nan(f1_macro(&[0.0, 1.0], &[0, 1], 0, None));
    // NaN weights propagate.
    assert_nan(roc_auc(&y, &s, Some(&[1.0, f64::NAN, 1.0])));
    assert_nan(rmse(&y, &s, Some(&[1.0, f64::NAN, 1.0])));
}

#[test]
fn metric_names_round_trip() {
    for m in Metric::ALL {
        assert_eq!(Metric::parse(m.name()), Some(m));
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            format!("\"{}\"", m.name())
        );
        assert_eq!(m.to_string(), m.name());
    }
    assert_eq!(Metric::parse("AUC"), Some(Metric::RocAuc));
    assert_eq!(Metric::parse("roc-auc"), Some(Metric::RocAuc));
    assert_eq!(Metric::parse("logloss"), Some(Metric::LogLoss));
    assert_eq!(Metric::parse("acc"), Some(Metric::Accuracy));
    assert_eq!(Metric::parse("average_precision"), Some(Metric::PrAuc));
    assert_eq!(Metric::parse("Macro F1"), Some(Metric::F1Macro));
    assert_eq!(Metric::parse("l2"), None);
    assert_eq!(Metric::parse("mse"), None);
    assert_eq!(Metric::parse(""), None);
    assert!(Metric::RocAuc.higher_is_better() && Metric::R2.higher_is_better());
    assert!(!Metric::LogLoss.higher_is_better() && !Metric::Mape.higher_is_better());
}

#[test]
fn metrics_per_task() {
    let names = |t| {
        Metric::for_task(t)
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(Task::Binary),
        [
            "roc_auc",
            "pr_auc",
            "log_loss",
            "accuracy",
            "balanced_accuracy",
            "f1"
        ]
    );
    assert_eq!(
        names(Task::Multiclass),
        ["log_loss", "accuracy", "balanced_accuracy", "f1_macro"]
    );
    assert_eq!(names(Task::Regression), ["rmse", "mae", "r2", "mape"]);
    for t in [Task::Binary, Task::Multiclass, Task::Regression] {
        assert!(Metric::for_task(t).contains(&Metric::default_for(t)));
    }
    assert_eq!(Metric::default_for(Task::Binary), Metric::RocAuc);
    assert_eq!(Metric::default_for(Task::Multiclass), Metric::LogLoss);
    assert_eq!(Metric::default_for(Task::Regression), Metric::Rmse);
}

fn preds(n_outputs: usize, values: Vec<f64>) -> Predictions {
    Predictions {
        n_rows: values.len() / n_outputs,
        n_outputs,
        values,
    }
}

#[test]
fn evaluate_from_predictions() {
    let y = labels(&YB);
    let w = Some(&WB[..]);
    let p = preds(1, SB.to_vec());
    let all = evaluate_all(Task::Binary, &y, &p, w);
    let direct = [
        roc_auc(&y, &SB, w),
        pr_auc(&y, &SB, w),
        log_loss(&y, &SB, 2, w),
        accuracy(&y, &CB, w),
        balanced_accuracy(&y, &CB, 2, w),
        f1_binary(&y, &CB, w),
    ];
    assert_eq!(all.len(), direct.len());
    for ((name, got), (m, want)) in all.iter().zip(BINARY_METRICS.iter().zip(direct)) {
        assert_eq!(*name, m.name());
        assert_eq!(got.to_bits(), want.to_bits(), "{name}");
    }
    // Two-column binary predictions give the same.
    let p2 = preds(2, SB.iter().flat_map(|&s| [1.0 - s, s]).collect());
    for m in BINARY_METRICS {
        assert_close(evaluate(*m, &y, &p2, w), evaluate(*m, &y, &p, w));
    }

    let y = labels(&YM);
    let p = preds(3, pm_flat());
    let all = evaluate_all(Task::Multiclass, &y, &p, Some(&WM));
    let want = [
        1.3517678250289675,
        0.6122448979591837,
        0.6833333333333332,
        0.685241358648841,
    ];
    for ((_, got), want) in all.iter().zip(want) {
        assert_close(*got, want);
    }
    assert_nan(evaluate(Metric::RocAuc, &y, &p, None));
    assert_nan(evaluate(Metric::Rmse, &y, &p, None));

    let p = preds(1, PR.to_vec());
    let all = evaluate_all(Task::Regression, &YR, &p, Some(&WR));
    let want = [
        0.6011892975000231,
        0.5571428571428572,
        0.9296055685930336,
        38602282520318.94,
    ];
    for ((_, got), want) in all.iter().zip(want) {
        assert_close(*got, want);
    }

    // Predictions that do not fit y.
    let bad = Predictions {
        n_rows: 8,
        n_outputs: 1,
        values: vec![0.0; 7],
    };
    assert_nan(evaluate(Metric::Rmse, &YR, &bad, None));
    let bad = Predictions {
        n_rows: 8,
        n_outputs: 0,
        values: vec![],
    };
    assert_nan(evaluate(Metric::Accuracy, &YR, &bad, None));
    assert_nan(evaluate(
        Metric::Mae,
        &YR[..7],
        &preds(1, PR.to_vec()),
        None,
    ));
}

#[test]
fn class_scores_weighted_f1_and_brier_match_sklearn() {
    // precision_recall_fscore_support(YB, CB, labels=[0, 1], sample_weight=WB,
    //                                 zero_division=np.nan)
    let y = labels(&YB);
    let c = class_scores(&y, &CB, 2, Some(&WB)).unwrap();
    let want = [
        [
            0.4358974358974359,
            0.6538461538461539,
            0.5230769230769231,
            6.5,
        ],
        [
            0.47058823529411764,
            0.26666666666666666,
            0.3404255319148936,
            7.5,
        ],
    ];
    for (got, want) in c.iter().zip(want) {
        assert_close(got.precision, want[0]);
        assert_close(got.recall, want[1]);
        assert_close(got.f1, want[2]);
        assert_close(got.support, want[3]);
    }
    assert_close(precision_binary(&y, &CB, Some(&WB)), 0.47058823529411764);
    assert_close(recall_binary(&y, &CB, Some(&WB)), 0.26666666666666666);
    // precision_recall_fscore_support(YX, CX, labels=[0, 1, 2], zero_division=np.nan):
    // class 2 is predicted but never true, so its recall is NaN and its F1 0.
    let c = class_scores(&labels(&YX), &CX, 3, None).unwrap();
    assert_close(c[1].precision, 1.0);
    assert_close(c[1].recall, 0.3333333333333333);
    assert_close(c[2].precision, 0.0);
    assert_nan(c[2].recall);
    assert_close(c[2].f1, 0.0);
    assert_close(c[2].support, 0.0);
    // f1_score(..., average='weighted') with and without weights
    assert_close(f1_weighted(&labels(&YM), &CM, 3, None), 0.6185714285714285);
    assert_close(
        f1_weighted(&labels(&YM), &CM, 3, Some(&WM)),
        0.6207786788459908,
    );
    assert_close(f1_weighted(&labels(&YX), &CX, 3, None), 0.5833333333333334);
    assert_close(
        f1_weighted(&labels(&YX), &CX, 3, Some(&WX)),
        0.58008658008658,
    );
    // brier_score_loss(YB, PB) / with sample_weight=WB
    assert_close(brier(&y, &PB, None), 0.398125);
    assert_close(brier(&y, &PB, Some(&WB)), 0.26562500000000006);
    assert_nan(brier(&[2.0], &[0.5], None));
    assert_nan(brier(&[1.0], &[1.5], None));
    assert!(class_scores(&[3.0], &[0], 3, None).is_none());
}
