//! `search_runs` against answers read off MLflow 3.17's own server for the same data (the data
//! set of the compatibility suite's `test_search_runs.py`): NaN, ±inf and missing metrics in
//! filters and order, byte-order strings, tie-breaks, lists, tags that fall back to the run's
//! name and parent, and dataset filters.

use whet_track::*;

use crate::common::{Api, kv};

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;
const T0: i64 = 1_700_000_000_000;

type Spec = (
    &'static str,
    RunStatus,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, f64)],
    &'static [(&'static str, &'static str)],
);

const RUNS_A: &[Spec] = &[
    (
        "r0",
        RunStatus::Finished,
        &[("learner", "gbdt"), ("depth", "1")],
        &[("auc", 0.5), ("loss", 0.9)],
        &[("group", "even")],
    ),
    (
        "r1",
        RunStatus::Finished,
        &[("learner", "rf"), ("depth", "2")],
        &[("auc", 0.55), ("loss", NAN)],
        &[("group", "odd")],
    ),
    (
        "r2",
        RunStatus::Failed,
        &[("learner", "gbdt"), ("depth", "10")],
        &[("auc", 0.6)],
        &[("group", "even")],
    ),
    (
        "r3",
        RunStatus::Finished,
        &[("learner", "linear"), ("depth", "3")],
        &[("auc", NAN), ("loss", 0.5)],
        &[("group", "odd")],
    ),
    (
        "r4",
        RunStatus::Killed,
        &[("learner", "gbdt"), ("depth", "20")],
        &[("loss", 0.4)],
        &[("group", "even")],
    ),
    (
        "r5",
        RunStatus::Finished,
        &[("learner", "rf"), ("depth", "5")],
        &[("auc", 0.75), ("loss", -INF)],
        &[("group", "odd"), ("team", "core")],
    ),
    (
        "r6",
        RunStatus::Finished,
        &[("learner", "knn")],
        &[("auc", INF), ("loss", 0.3)],
        &[("group", "EVEN")],
    ),
    (
        "r7-deleted",
        RunStatus::Finished,
        &[("learner", "gbdt"), ("depth", "7")],
        &[("auc", 0.8)],
        &[("group", "even")],
    ),
];

const RUNS_B: &[Spec] = &[
    (
        "b0",
        RunStatus::Finished,
        &[("learner", "gbdt"), ("depth", "4")],
        &[("auc", 0.9)],
        &[("group", "even")],
    ),
    (
        "b1",
        RunStatus::Finished,
        &[("learner", "rf"), ("depth", "6")],
        &[("auc", 0.2)],
        &[("group", "odd")],
    ),
];

fn make(a: &Api, exp: ExperimentId, specs: &[Spec], t0: i64) -> Vec<RunId> {
    let mut ids = Vec::new();
    for (i, (name, status, params, metrics, tags)) in specs.iter().enumerate() {
        let start = t0 + i as i64 * 1000;
        let run = a
            .run(a.s.start_run(&NewRun {
                experiment: exp,
                name: name.to_string(),
                tags: kv(tags),
                start_time: Some(start),
                ..Default::default()
            }))
            .unwrap();
        let metrics: Vec<Metric> = metrics
            .iter()
            .map(|(k, v)| Metric {
                key: k.to_string(),
                value: *v,
                step: 0,
                timestamp_ms: start + 1,
            })
            .collect();
        a.run(a.s.log_batch(&run, &metrics, &kv(params), &[]))
            .unwrap();
        a.run(a.s.update_run(&run, Some(*status), Some(start + 500), None))
            .unwrap();
        ids.push(run);
    }
    ids
}

struct Data {
    a: ExperimentId,
    b: ExperimentId,
    r0: RunId,
}

/// Experiment A: r0..r7 (r7 deleted) and r0-child, a child of r0 (linked through its parent,
/// with no `mlflow.parentRunId` tag row); experiment B: b0, b1. No run has an
/// `mlflow.runName` tag row either: their names stand in for it.
fn seed(a: &Api) -> Data {
    let ea = a.run(a.s.get_or_create_experiment("A")).unwrap();
    let eb = a.run(a.s.get_or_create_experiment("B")).unwrap();
    let ids = make(a, ea, RUNS_A, T0);
    make(a, eb, RUNS_B, T0 + 100_000);
    let child = a
        .run(a.s.start_run(&NewRun {
            experiment: ea,
            name: "r0-child".into(),
            parent: Some(ids[0].clone()),
            tags: kv(&[("group", "child")]),
            start_time: Some(T0 + 50_000),
            ..Default::default()
        }))
        .unwrap();
    a.run(a.s.log_batch(
        &child,
        &[Metric {
            key: "auc".into(),
            value: 0.1,
            step: 0,
            timestamp_ms: T0 + 50_001,
        }],
        &[],
        &[],
    ))
    .unwrap();
    a.run(a.s.update_run(&child, Some(RunStatus::Finished), Some(T0 + 50_500), None))
        .unwrap();
    a.run(a.s.delete_run(&ids[7])).unwrap();
    Data {
        a: ea,
        b: eb,
        r0: ids[0].clone(),
    }
}

fn search(a: &Api, exps: &[ExperimentId], filter: &str, order: &[&str]) -> Result<Vec<String>> {
    let page = a.run(a.s.search_runs(&SearchRuns {
        experiments: exps.to_vec(),
        filter: filter.into(),
        order_by: order.iter().map(|o| o.to_string()).collect(),
        ..Default::default()
    }))?;
    Ok(page.items.into_iter().map(|r| r.info.run_name).collect())
}

both!(metric_filters_with_nan_inf_and_missing, |a: &Api| {
    let d = seed(a);
    let names = |f: &str| search(a, &[d.a], f, &[]).unwrap_or_else(|e| panic!("{f}: {e}"));
    assert_eq!(
        names(""),
        ["r0-child", "r6", "r5", "r4", "r3", "r2", "r1", "r0"]
    );
    // NaN never satisfies <, <=, >, >=, = but does satisfy !=; a missing metric satisfies
    // nothing; infinities compare as numbers.
    assert_eq!(
        names("metrics.auc > 0"),
        ["r0-child", "r6", "r5", "r2", "r1", "r0"]
    );
    assert_eq!(
        names("metrics.auc != 0.6"),
        ["r0-child", "r6", "r5", "r3", "r1", "r0"]
    );
    assert_eq!(names("metrics.loss != 0.5"), ["r6", "r5", "r4", "r1", "r0"]);
    assert_eq!(names("metrics.auc < 0.6"), ["r0-child", "r1", "r0"]);
    assert_eq!(names("metrics.auc = 0.6"), ["r2"]);
    assert_eq!(names("metrics.auc >= 0.75"), ["r6", "r5"]);
    assert_eq!(names("metrics.loss < 0"), ["r5"]);
    assert_eq!(names("metrics.loss > 0.35"), ["r4", "r3", "r0"]);
    assert_eq!(names("metrics.loss = 0"), Vec::<String>::new());
});

both!(order_by_metric_puts_nan_then_missing_last, |a: &Api| {
    let d = seed(a);
    let order = |o: &str| search(a, &[d.a], "", &[o]).unwrap();
    assert_eq!(
        order("metrics.auc DESC"),
        ["r6", "r5", "r2", "r1", "r0", "r0-child", "r3", "r4"]
    );
    assert_eq!(
        order("metrics.auc ASC"),
        ["r0-child", "r0", "r1", "r2", "r5", "r6", "r3", "r4"]
    );
    assert_eq!(order("metrics.auc"), order("metrics.auc ASC"));
    assert_eq!(
        order("metrics.loss DESC"),
        ["r0", "r3", "r4", "r6", "r5", "r1", "r0-child", "r2"]
    );
    assert_eq!(
        order("metrics.loss ASC"),
        ["r5", "r6", "r4", "r3", "r0", "r1", "r0-child", "r2"]
    );
    // With a filter on the metric that lets NaN through, NaN still sorts after numbers.
    assert_eq!(
        search(a, &[d.a], "metrics.auc != 0.6", &["metrics.auc DESC"]).unwrap(),
        ["r6", "r5", "r1", "r0", "r0-child", "r3"]
    );
    // And with one that does not, only numbers are left, in order.
    assert_eq!(
        search(a, &[d.a], "metrics.auc < 1", &["metrics.auc DESC"]).unwrap(),
        ["r5", "r2", "r1", "r0", "r0-child"]
    );
    // Over two experiments, and in pages.
    assert_eq!(
        search(a, &[d.a, d.b], "", &["metrics.auc DESC"]).unwrap(),
        [
            "r6", "b0", "r5", "r2", "r1", "r0", "b1", "r0-child", "r3", "r4"
        ]
    );
    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let p = a
            .run(a.s.search_runs(&SearchRuns {
                experiments: vec![d.a],
                order_by: vec!["metrics.auc DESC".into()],
                max_results: 3,
                page_token: token,
                ..Default::default()
            }))
            .unwrap();
        pages.push(
            p.items
                .iter()
                .map(|r| r.info.run_name.clone())
                .collect::<Vec<_>>(),
        );
        token = p.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        pages,
        [
            vec!["r6", "r5", "r2"],
            vec!["r1", "r0", "r0-child"],
            vec!["r3", "r4"]
        ]
    );
    // Numbers are read apart from NaN and missing values: every page size, with the boundary
    // inside a page, at its end or on an empty page, joins up to the whole order.
    for o in [
        "metrics.auc DESC",
        "metrics.loss ASC",
        "metrics.nothing DESC",
        "params.depth DESC",
        "tags.team ASC",
        "tags.group DESC",
    ] {
        let whole = order(o);
        for size in 1..=9 {
            let mut joined = Vec::new();
            let mut token = None;
            loop {
                let p = a
                    .run(a.s.search_runs(&SearchRuns {
                        experiments: vec![d.a],
                        order_by: vec![o.into()],
                        max_results: size,
                        page_token: token,
                        ..Default::default()
                    }))
                    .unwrap();
                assert!(p.items.len() <= size);
                joined.extend(p.items.iter().map(|r| r.info.run_name.clone()));
                token = p.next_page_token;
                if token.is_none() {
                    break;
                }
            }
            assert_eq!(joined, whole, "{o}, pages of {size}");
        }
        // A page token carries an offset: later pages may ask for another page size, as the
        // web UI does (a short first page, then long ones) and MLflow allows.
        let first = a
            .run(a.s.search_runs(&SearchRuns {
                experiments: vec![d.a],
                order_by: vec![o.into()],
                max_results: 2,
                ..Default::default()
            }))
            .unwrap();
        let rest = a
            .run(a.s.search_runs(&SearchRuns {
                experiments: vec![d.a],
                order_by: vec![o.into()],
                max_results: 100,
                page_token: first.next_page_token.clone(),
                ..Default::default()
            }))
            .unwrap();
        let joined: Vec<String> = first
            .items
            .iter()
            .chain(&rest.items)
            .map(|r| r.info.run_name.clone())
            .collect();
        assert_eq!(joined, whole, "{o}, a page of 2 then one of 100");
        assert!(rest.next_page_token.is_none());
    }
});

both!(
    order_by_strings_is_byte_order_with_ties_by_start_time,
    |a: &Api| {
        let d = seed(a);
        if a.s.is_postgres() {
            // Under a language collation "child" < "even" < "EVEN"; the order must not change.
            let icu = testing::execute(
                &a.spec,
                &[
                    "ALTER TABLE tags ALTER COLUMN value TYPE TEXT COLLATE \"en-US-x-icu\"",
                    "ALTER TABLE params ALTER COLUMN value TYPE TEXT COLLATE \"en-US-x-icu\"",
                    "ALTER TABLE runs ALTER COLUMN name TYPE TEXT COLLATE \"en-US-x-icu\"",
                ],
            );
            if let Err(e) = icu {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "no ICU collation, left as it is: {e}");
            }
        }
        let order = |o: &[&str]| search(a, &[d.a], "", o).unwrap();
        // "10" < "2" < "20" < "3"; missing last, ties newest first.
        assert_eq!(
            order(&["params.depth ASC"]),
            ["r0", "r2", "r1", "r4", "r3", "r5", "r0-child", "r6"]
        );
        assert_eq!(
            order(&["params.depth DESC"]),
            ["r5", "r3", "r4", "r1", "r2", "r0", "r0-child", "r6"]
        );
        // Upper case first: EVEN < child < even < odd (PostgreSQL's locales would say otherwise).
        assert_eq!(
            order(&["tags.group ASC"]),
            ["r6", "r0-child", "r4", "r2", "r0", "r5", "r3", "r1"]
        );
        assert_eq!(
            order(&["tags.team ASC"]),
            ["r5", "r0-child", "r6", "r4", "r3", "r2", "r1", "r0"]
        );
        assert_eq!(
            order(&["attributes.status ASC", "metrics.auc DESC"]),
            ["r2", "r6", "r5", "r1", "r0", "r0-child", "r3", "r4"]
        );
        assert_eq!(
            order(&["params.learner ASC", "metrics.loss DESC"]),
            ["r0", "r4", "r2", "r6", "r3", "r5", "r1", "r0-child"]
        );
        assert_eq!(
            order(&["attributes.run_name DESC"]),
            ["r6", "r5", "r4", "r3", "r2", "r1", "r0-child", "r0"]
        );
        assert_eq!(
            order(&["attributes.end_time ASC"]),
            ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r0-child"]
        );
        assert_eq!(
            order(&["attributes.start_time ASC"]),
            ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r0-child"]
        );
        assert_eq!(
            order(&["tags.`mlflow.runName` ASC"]),
            ["r0", "r0-child", "r1", "r2", "r3", "r4", "r5", "r6"]
        );
        // A field named twice is refused, as MLflow refuses it.
        let e = search(a, &[d.a], "", &["metrics.auc", "metrics.auc DESC"]).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        let e = search(a, &[d.a], "", &["attributes.created", "start_time DESC"]).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
    }
);

both!(string_filters_like_lists_and_derived_tags, |a: &Api| {
    let d = seed(a);
    let names = |f: &str| search(a, &[d.a], f, &[]).unwrap_or_else(|e| panic!("{f}: {e}"));
    let none: Vec<String> = Vec::new();
    // LIKE is case-sensitive on both back ends, ILIKE is not.
    assert_eq!(names("params.learner LIKE 'g%'"), ["r4", "r2", "r0"]);
    assert_eq!(names("params.learner LIKE 'GB%'"), none);
    assert_eq!(names("params.learner ILIKE 'GB%'"), ["r4", "r2", "r0"]);
    assert_eq!(names("tags.group LIKE 'even'"), ["r4", "r2", "r0"]);
    assert_eq!(names("tags.group ILIKE 'even'"), ["r6", "r4", "r2", "r0"]);
    assert_eq!(names("tags.group = 'EVEN'"), ["r6"]);
    assert_eq!(
        names("attributes.run_name LIKE 'r_'"),
        ["r6", "r5", "r4", "r3", "r2", "r1", "r0"]
    );
    assert_eq!(names("attributes.run_name ILIKE 'R%CHILD'"), ["r0-child"]);
    // mlflow.runName and mlflow.parentRunId without tag rows: the run's name and parent.
    assert_eq!(names("tags.`mlflow.runName` = 'r4'"), ["r4"]);
    assert_eq!(names("tags.mlflow.runName = 'r4'"), ["r4"]);
    assert_eq!(names("tags.`mlflow.runName` LIKE '%child'"), ["r0-child"]);
    assert_eq!(names("tags.mlflow.runName != 'r4'").len(), 7);
    assert_eq!(
        names(&format!("tags.mlflow.parentRunId = '{}'", d.r0)),
        ["r0-child"]
    );
    assert_eq!(names("tags.mlflow.parentRunId IS NOT NULL"), ["r0-child"]);
    assert_eq!(names("tags.mlflow.parentRunId IS NULL").len(), 7);
    assert_eq!(names("tags.\"group\" = 'odd'"), ["r5", "r3", "r1"]);
    // A missing param or tag never matches, not even !=.
    assert_eq!(names("tags.team != 'x'"), ["r5"]);
    assert_eq!(names("params.depth != '1'").len(), 5);
    assert_eq!(names("params.depth IS NULL"), ["r0-child", "r6"]);
    // Lists only for run ids.
    let r0 = &d.r0;
    assert_eq!(
        names(&format!("attributes.run_id IN ('{r0}', 'x')")),
        ["r0"]
    );
    assert_eq!(
        names(&format!("attributes.run_id NOT IN ('{r0}')")).len(),
        7
    );
    for f in [
        "params.depth IN ('1', '2')",
        "tags.group NOT IN ('odd')",
        "attributes.run_name IN ('r1', 'r2')",
        "attributes.status IN ('FINISHED')",
        "metrics.auc LIKE '0.5'",
        "params.learner > 'a'",
    ] {
        let e = search(a, &[d.a], f, &[]).unwrap_err();
        assert!(matches!(e, Error::Filter(_)), "{f}: {e}");
    }
});

both!(dataset_filters, |a: &Api| {
    let exp = a.run(a.s.get_or_create_experiment("D")).unwrap();
    let dataset = |name: &str, digest: &str| Dataset {
        fingerprint: format!("mlflow:{name}:{digest}"),
        name: name.into(),
        digest: digest.into(),
        source_type: "local".into(),
        source: "{}".into(),
        ..Default::default()
    };
    let inputs: [(&str, Vec<DatasetInput>); 4] = [
        (
            "run-a",
            vec![(
                dataset("a", "d-a"),
                kv(&[(DATASET_CONTEXT_TAG, "training")]),
            )],
        ),
        (
            "run-b",
            vec![
                (dataset("b", "d-b"), kv(&[(DATASET_CONTEXT_TAG, "eval")])),
                (dataset("Big", "d-big"), kv(&[("note", "no context")])),
            ],
        ),
        ("run-c", vec![(dataset("a", "d-a"), vec![])]),
        ("run-none", vec![]),
    ];
    for (i, (name, ins)) in inputs.iter().enumerate() {
        let run = a
            .run(a.s.start_run(&NewRun {
                experiment: exp,
                name: name.to_string(),
                start_time: Some(T0 + i as i64),
                ..Default::default()
            }))
            .unwrap();
        a.run(a.s.log_inputs(&run, ins, &[])).unwrap();
    }
    let names = |f: &str| search(a, &[exp], f, &[]).unwrap_or_else(|e| panic!("{f}: {e}"));
    let none: Vec<String> = Vec::new();
    assert_eq!(names("dataset.name = 'a'"), ["run-c", "run-a"]);
    assert_eq!(names("datasets.name = 'b'"), ["run-b"]);
    assert_eq!(names("dataset.digest = 'd-a'"), ["run-c", "run-a"]);
    assert_eq!(names("dataset.context = 'eval'"), ["run-b"]);
    // Runs having an input that matches: run-b's second input is not named 'b'.
    assert_eq!(names("dataset.name != 'b'"), ["run-c", "run-b", "run-a"]);
    // An input without a context has none to compare.
    assert_eq!(names("dataset.context != 'eval'"), ["run-a"]);
    assert_eq!(
        names("dataset.digest IN ('d-a', 'zzz')"),
        ["run-c", "run-a"]
    );
    assert_eq!(names("dataset.name NOT IN ('a', 'Big')"), ["run-b"]);
    assert_eq!(names("dataset.name LIKE 'B%'"), ["run-b"]);
    assert_eq!(names("dataset.name LIKE 'A'"), none);
    assert_eq!(names("dataset.name ILIKE 'A'"), ["run-c", "run-a"]);
    assert_eq!(names("dataset.context ILIKE 'TRAIN%'"), ["run-a"]);
    // Each condition may match another input of the run.
    assert_eq!(
        names("dataset.name = 'Big' and dataset.context = 'eval'"),
        ["run-b"]
    );
    assert_eq!(
        names("dataset.name = 'a' and dataset.context = 'eval'"),
        none
    );
    let e = search(a, &[exp], "", &["dataset.name"]).unwrap_err();
    assert!(matches!(e, Error::Filter(_)), "{e}");
});
