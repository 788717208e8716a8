use super::gather::{alias_in_label, version_in_label};
use super::*;
use crate::model::RunStatus;

#[test]
fn windows_parse_with_their_units_and_refuse_the_rest() {
    assert_eq!(
        parse_since("7d").ok(),
        Some(Duration::from_secs(7 * 86_400))
    );
    assert_eq!(parse_since(" 12h ").ok(), Some(Duration::from_secs(43_200)));
    assert_eq!(
        parse_since("2w").ok(),
        Some(Duration::from_secs(14 * 86_400))
    );
    assert_eq!(parse_since("1.5m").ok(), Some(Duration::from_secs(90)));
    for bad in ["7", "", "d", "7y", "-1d", "0h", "1e9w", "NaNd"] {
        assert!(parse_since(bad).is_err(), "{bad}");
    }
}

#[test]
fn dates_are_civil_utc() {
    assert_eq!(date(0), "1970-01-01");
    // 2026-12-05T12:00:00Z
    assert_eq!(date(1_796_472_000_000), "2026-12-05");
    assert_eq!(date(951_782_400_000), "2000-02-29");
    assert_eq!(date(-86_400_000), "1969-12-31");
}

#[test]
fn labels_name_versions_of_the_right_model() {
    assert_eq!(version_in_label("models:/churn/5", "churn"), Some(5));
    assert_eq!(
        version_in_label("models:/churn@champion (version 5 of 'churn')", "churn"),
        Some(5)
    );
    assert_eq!(version_in_label("models:/other/5", "churn"), None);
    assert_eq!(version_in_label("model.whet", "churn"), None);
    assert_eq!(
        alias_in_label("models:/churn@champion (version 5 of 'churn')").as_deref(),
        Some("champion")
    );
    assert_eq!(alias_in_label("models:/churn/5"), None);
}

#[test]
fn shell_words_survive_a_shell() {
    assert_eq!(shell_word("data/new.csv"), "data/new.csv");
    assert_eq!(shell_word("my data.csv"), "'my data.csv'");
    assert_eq!(shell_word("it's"), "'it'\\''s'");
}

fn version(v: i64, aliases: &[&str]) -> VersionStatus {
    VersionStatus {
        version: v,
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        creation_time: 0,
        run_id: format!("{v:032x}"),
        experiment: Some("churn".into()),
        target: Some("churned".into()),
        train_data: Some("churn.csv".into()),
        review: None,
        compare: None,
        drift: None,
    }
}

fn report(models: Vec<ModelStatus>, experiments: Vec<ExperimentStatus>) -> StatusReport {
    StatusReport {
        store: "whet.db".into(),
        generated_time: 1_796_472_000_000,
        window: Window {
            since: "7d".into(),
            start_time: 1_795_867_200_000,
            end_time: 1_796_472_000_000,
        },
        experiment: None,
        experiments,
        studies: vec![],
        models,
        plan: vec![],
    }
}

fn alias(a: &str, v: i64) -> AliasStatus {
    AliasStatus {
        alias: a.into(),
        version: v,
        since: Some(0),
        moved_by: None,
        previous_version: None,
    }
}

#[test]
fn the_plan_orders_drift_promotion_comparison_and_review() {
    let mut champion = version(5, &["champion"]);
    champion.review = Some(ReviewFact {
        run_id: "r".repeat(32),
        time: 0,
        data: Some("holdout.csv".into()),
        check_warnings: Some(0),
    });
    champion.drift = Some(DriftFact {
        run_id: "d".repeat(32),
        time: 1_796_400_000_000,
        verdict: "drift".into(),
        drifted: vec!["a".into(), "b".into(), "c".into()],
        data: Some("new.csv".into()),
    });
    let mut challenger = version(7, &["challenger"]);
    challenger.compare = Some(CompareFact {
        run_id: "c".repeat(32),
        time: 1_796_300_000_000,
        verdict: "better".into(),
        against: "models:/churn@champion (version 5 of 'churn')".into(),
        against_version: Some(5),
        alias: Some("champion".into()),
        metric: Some("roc_auc".into()),
        gain: Some(0.02),
        data: Some("holdout.csv".into()),
        promoted: None,
    });
    let latest = version(8, &[]);
    let m = ModelStatus {
        name: "churn".into(),
        latest_version: Some(8),
        aliases: vec![alias("challenger", 7), alias("champion", 5)],
        versions: vec![latest, challenger, champion],
    };
    let p = plan(&report(vec![m], vec![]));
    let kinds: Vec<PlanKind> = p.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            PlanKind::Retrain,
            PlanKind::Promote,
            PlanKind::Compare,
            PlanKind::Review,
            PlanKind::Review
        ]
    );
    assert_eq!(
        p[0].command,
        "whet train new.csv --target churned --experiment churn"
    );
    assert!(
        p[0].text.contains("churn@champion v5 drifted on 3 columns"),
        "{}",
        p[0].text
    );
    assert_eq!(
        p[1].command,
        "whet model promote churn --version 7 --alias champion --data holdout.csv"
    );
    assert_eq!(
        p[2].command,
        "whet compare models:/churn@champion models:/churn/8 holdout.csv"
    );
    assert_eq!(p[3].version, Some(8));
    assert_eq!(p[4].version, Some(7));
}

#[test]
fn a_stale_comparison_promotes_nothing_and_asks_for_a_new_one() {
    // v7 beat v4, but the champion has since moved to v5.
    let mut challenger = version(7, &[]);
    challenger.review = Some(ReviewFact {
        run_id: "r".repeat(32),
        time: 0,
        data: None,
        check_warnings: None,
    });
    challenger.compare = Some(CompareFact {
        run_id: "c".repeat(32),
        time: 0,
        verdict: "better".into(),
        against: "models:/churn/4".into(),
        against_version: Some(4),
        alias: Some("champion".into()),
        metric: None,
        gain: None,
        data: None,
        promoted: Some(false),
    });
    let mut champion = version(5, &["champion"]);
    champion.review = challenger.review.clone();
    let m = ModelStatus {
        name: "churn".into(),
        latest_version: Some(7),
        aliases: vec![alias("champion", 5)],
        versions: vec![challenger, champion],
    };
    let p = plan(&report(vec![m], vec![]));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].kind, PlanKind::Compare);
    assert!(p[0].command.ends_with(DATA_PLACEHOLDER), "{}", p[0].command);
}

#[test]
fn a_model_without_champion_is_asked_for_a_review_first_then_for_an_alias() {
    let model = |reviewed: bool| {
        let mut v = version(1, &[]);
        if reviewed {
            v.review = Some(ReviewFact {
                run_id: "r".repeat(32),
                time: 0,
                data: None,
                check_warnings: Some(1),
            });
        }
        ModelStatus {
            name: "churn".into(),
            latest_version: Some(1),
            aliases: vec![],
            versions: vec![v],
        }
    };
    let p = plan(&report(vec![model(false)], vec![]));
    let kinds: Vec<PlanKind> = p.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [PlanKind::Review, PlanKind::SetAlias], "{p:#?}");
    assert!(p[1].text.contains("once v1 is reviewed"), "{}", p[1].text);
    let p = plan(&report(vec![model(true)], vec![]));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].kind, PlanKind::SetAlias);
    assert!(
        p[0].text.contains("v1 is reviewed, name it champion"),
        "{}",
        p[0].text
    );
}

#[test]
fn failed_runs_are_listed_until_there_are_too_many() {
    let att = |i: u64, reason: &str, trials: Option<u64>| Attention {
        run_id: format!("{i:032x}"),
        run_name: format!("run {i}"),
        kind: Some("study".into()),
        status: RunStatus::Failed,
        reason: reason.into(),
        error: Some("out of memory\nmore".into()),
        failed_trials: trials,
        start_time: 0,
        end_time: Some(0),
    };
    let exp = |attention: Vec<Attention>| ExperimentStatus {
        experiment_id: 1,
        name: "churn data".into(),
        runs: RunCounts::default(),
        studies: 0,
        metric: None,
        best: None,
        best_at_start: None,
        trend: Trend::NoScore,
        delta: None,
        gain: None,
        attention,
    };
    let p = plan(&report(
        vec![],
        vec![exp(vec![
            att(1, "failed", None),
            att(2, "failed_trials", Some(14)),
        ])],
    ));
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].kind, PlanKind::InspectRun);
    assert_eq!(
        p[0].command,
        format!("whet run show {}", &format!("{:032x}", 1)[..12])
    );
    assert!(p[0].text.ends_with(": out of memory"), "{}", p[0].text);
    assert_eq!(p[1].kind, PlanKind::InspectTrials);
    assert!(p[1].text.contains("14 failed trials"));
    assert!(
        p[1].command
            .starts_with("whet runs -e 'churn data' -f \"attributes.parent_run_id = '")
    );
    let many: Vec<Attention> = (0..4).map(|i| att(i, "killed", None)).collect();
    let p = plan(&report(vec![], vec![exp(many)]));
    assert_eq!(p.len(), 1);
    assert!(
        p[0].text.starts_with("4 runs failed or were killed"),
        "{}",
        p[0].text
    );
}
