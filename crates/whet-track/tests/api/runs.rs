//! Runs as MLflow clients drive them: no lease, UpdateRun, DeleteTag, LogBatch, paged metric
//! history, dataset inputs with tags, model outputs, and artifacts written by a proxy.

use std::time::Duration;

use whet_track::*;

use crate::common::{Api, kv};

fn start(a: &Api, name: &str) -> RunId {
    a.run(a.s.start_run(&NewRun {
        experiment: 0,
        name: name.into(),
        ..Default::default()
    }))
    .unwrap()
}

fn point(key: &str, value: f64, step: i64, ts: i64) -> Metric {
    Metric {
        key: key.into(),
        value,
        step,
        timestamp_ms: ts,
    }
}

both!(runs_without_lease_are_not_reaped, |a: &Api| {
    let short = a
        .run(AsyncStore::open(
            &a.spec,
            OpenOptions {
                artifact_root: Some(a.dir.join("artifacts")),
                lease: Duration::from_millis(100),
                ..Default::default()
            },
        ))
        .unwrap();
    let new = |lease: bool| NewRun {
        experiment: 0,
        lease,
        start_time: Some(1_000),
        ..Default::default()
    };
    let free = a.run(short.start_run(&new(false))).unwrap();
    let leased = a.run(short.start_run(&new(true))).unwrap();
    let reopened = a.run(short.start_run(&new(true))).unwrap();
    // Finishing and reopening through UpdateRun drops the lease for good.
    a.run(short.update_run(&reopened, Some(RunStatus::Finished), Some(2_000), None))
        .unwrap();
    a.run(short.update_run(&reopened, Some(RunStatus::Running), None, None))
        .unwrap();
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(a.run(short.reap_expired()).unwrap(), 1);
    let status = |r: &str| a.run(a.s.get_run(r)).unwrap().info.status;
    assert_eq!(status(&free), RunStatus::Running);
    assert_eq!(status(&leased), RunStatus::Killed);
    assert_eq!(status(&reopened), RunStatus::Running);
    assert_eq!(a.run(a.s.get_run(&free)).unwrap().info.start_time, 1_000);
    a.run(short.close());
});

both!(update_run, |a: &Api| {
    let run = start(a, "first");
    let info = a
        .run(a.s.update_run(&run, Some(RunStatus::Finished), Some(5_000), Some("second")))
        .unwrap();
    assert_eq!(info.status, RunStatus::Finished);
    assert_eq!(info.end_time, Some(5_000));
    assert_eq!(info.run_name, "second");
    let r = a.run(a.s.get_run(&run)).unwrap();
    assert_eq!(r.info, info);
    assert_eq!(r.tags[RUN_NAME_TAG], "second");
    // An ended run can still be updated; nothing given changes nothing.
    let same = a.run(a.s.update_run(&run, None, None, None)).unwrap();
    assert_eq!(same, info);
    let failed = a
        .run(a.s.update_run(&run, Some(RunStatus::Failed), None, None))
        .unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.end_time, Some(5_000));
    // Setting the name tag renames the run, as in MLflow.
    a.run(a.s.set_tags(&run, &kv(&[(RUN_NAME_TAG, "third")])))
        .unwrap();
    assert_eq!(a.run(a.s.get_run(&run)).unwrap().info.run_name, "third");
    let e = a
        .run(a.s.update_run("0123456789abcdef0123456789abcdef", None, None, None))
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    a.run(a.s.delete_run(&run)).unwrap();
    let e = a
        .run(a.s.update_run(&run, None, None, Some("x")))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    // A run's name can come from the tag MLflow clients send; a different name is refused.
    let tagged = a
        .run(a.s.start_run(&NewRun {
            experiment: 0,
            tags: kv(&[(RUN_NAME_TAG, "from-tag")]),
            ..Default::default()
        }))
        .unwrap();
    assert_eq!(
        a.run(a.s.get_run(&tagged)).unwrap().info.run_name,
        "from-tag"
    );
    let e = a
        .run(a.s.start_run(&NewRun {
            experiment: 0,
            name: "a".into(),
            tags: kv(&[(RUN_NAME_TAG, "b")]),
            ..Default::default()
        }))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
});

both!(delete_tag, |a: &Api| {
    let run = start(a, "r");
    a.run(a.s.set_tags(&run, &kv(&[("a", "1"), ("b", "2")])))
        .unwrap();
    a.run(a.s.delete_tag(&run, "a")).unwrap();
    let tags = a.run(a.s.get_run(&run)).unwrap().tags;
    assert_eq!(tags.keys().collect::<Vec<_>>(), ["b"]);
    let e = a.run(a.s.delete_tag(&run, "a")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("tag 'a' of run"), "{e}");
    a.run(a.s.delete_run(&run)).unwrap();
    let e = a.run(a.s.delete_tag(&run, "b")).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
});

both!(log_batch_is_atomic, |a: &Api| {
    let run = start(a, "r");
    a.run(a.s.log_batch(
        &run,
        &[point("loss", 0.5, 0, 10), point("loss", 0.4, 1, 11)],
        &kv(&[("lr", "0.1")]),
        &kv(&[("team", "x"), (RUN_NAME_TAG, "renamed")]),
    ))
    .unwrap();
    let r = a.run(a.s.get_run(&run)).unwrap();
    assert_eq!(r.params["lr"], "0.1");
    assert_eq!(r.metrics["loss"].value, 0.4);
    assert_eq!(r.tags["team"], "x");
    assert_eq!(r.info.run_name, "renamed");
    // The same param value again is fine; another value fails the whole batch.
    a.run(a.s.log_batch(&run, &[], &kv(&[("lr", "0.1")]), &[]))
        .unwrap();
    let e = a
        .run(a.s.log_batch(
            &run,
            &[point("auc", 0.9, 0, 12)],
            &kv(&[("depth", "3"), ("lr", "0.2")]),
            &kv(&[("note", "n")]),
        ))
        .unwrap_err();
    assert!(matches!(e, Error::ParamConflict { .. }), "{e}");
    let r = a.run(a.s.get_run(&run)).unwrap();
    assert_eq!(r.params.len(), 1);
    assert!(!r.metrics.contains_key("auc"));
    assert!(!r.tags.contains_key("note"));
    assert!(a.run(a.s.metric_history(&run, "auc")).unwrap().is_empty());
    let e = a
        .run(a.s.log_batch(&run, &[point("", 1.0, 0, 1)], &[], &[]))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
});

both!(metric_history_pages, |a: &Api| {
    let run = start(a, "r");
    // Logged out of order; read back by step, then timestamp.
    let points: Vec<Metric> = [(3, 30), (0, 5), (1, 10), (0, 1), (2, 20), (1, 11), (4, 40)]
        .iter()
        .map(|&(step, ts)| point("loss", step as f64 + ts as f64 / 100.0, step, ts))
        .collect();
    a.run(a.s.log_metrics(&run, &points)).unwrap();
    a.run(a.s.log_metrics(&run, &[point("other", 1.0, 0, 1)]))
        .unwrap();
    let mut got = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let p = a
            .run(a.s.metric_history_page(&run, "loss", 3, token.as_deref()))
            .unwrap();
        pages += 1;
        got.extend(p.items.iter().map(|m| (m.step, m.timestamp_ms)));
        match p.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        got,
        [(0, 1), (0, 5), (1, 10), (1, 11), (2, 20), (3, 30), (4, 40)]
    );
    let all = a
        .run(a.s.metric_history_page(&run, "loss", 0, None))
        .unwrap();
    assert_eq!(all.items.len(), 7);
    assert!(all.next_page_token.is_none());
    assert_eq!(all.items, a.run(a.s.metric_history(&run, "loss")).unwrap());
    let first = a
        .run(a.s.metric_history_page(&run, "loss", 3, None))
        .unwrap();
    let e = a
        .run(a.s.metric_history_page(&run, "other", 3, first.next_page_token.as_deref()))
        .unwrap_err();
    assert!(matches!(e, Error::PageToken(_)), "{e}");
    let none = a
        .run(a.s.metric_history_page(&run, "missing", 10, None))
        .unwrap();
    assert!(none.items.is_empty() && none.next_page_token.is_none());
});

both!(metric_history_is_in_mlflow_order, |a: &Api| {
    // MLflow orders history by timestamp, then step, then value (not by step first).
    let run = start(a, "r");
    let points = [
        point("a", 5.0, 5, 1000),
        point("a", 2.0, 2, 2000),
        point("a", 4.0, 1, 1000),
        point("a", 3.0, 1, 1000),
        point("a", f64::NEG_INFINITY, 7, 500),
    ];
    for p in &points {
        a.run(a.s.log_metrics(&run, std::slice::from_ref(p)))
            .unwrap();
    }
    let expected = [
        (500, 7, f64::NEG_INFINITY),
        (1000, 1, 3.0),
        (1000, 1, 4.0),
        (1000, 5, 5.0),
        (2000, 2, 2.0),
    ];
    let whole: Vec<(i64, i64, f64)> = a
        .run(a.s.metric_history(&run, "a"))
        .unwrap()
        .iter()
        .map(|m| (m.timestamp_ms, m.step, m.value))
        .collect();
    assert_eq!(whole, expected);
    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let p = a
            .run(a.s.metric_history_page(&run, "a", 2, token.as_deref()))
            .unwrap();
        paged.extend(p.items.iter().map(|m| (m.timestamp_ms, m.step, m.value)));
        match p.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(paged, expected);
    // The latest value is still the highest step's.
    assert_eq!(
        a.run(a.s.get_run(&run)).unwrap().metrics["a"].value,
        f64::NEG_INFINITY
    );
});

both!(identical_metric_points_are_stored_once, |a: &Api| {
    let run = start(a, "r");
    let history = |key: &str| -> Vec<(i64, i64, String)> {
        a.run(a.s.metric_history(&run, key))
            .unwrap()
            .iter()
            .map(|m| (m.timestamp_ms, m.step, m.value.to_string()))
            .collect()
    };
    // Twice through log_metrics, twice in one batch, NaN and inf too.
    a.run(a.s.log_metrics(&run, &[point("d", 1.0, 1, 1000)]))
        .unwrap();
    a.run(a.s.log_metrics(&run, &[point("d", 1.0, 1, 1000)]))
        .unwrap();
    let twice = [
        point("e", 1.0, 1, 1),
        point("e", 1.0, 1, 1),
        point("n", f64::NAN, 0, 5),
        point("n", f64::NAN, 0, 5),
        point("i", f64::INFINITY, 0, 5),
        point("i", f64::INFINITY, 0, 5),
    ];
    a.run(a.s.log_batch(&run, &twice, &[], &[])).unwrap();
    a.run(a.s.log_batch(&run, &twice, &kv(&[("p", "1")]), &kv(&[("t", "x")])))
        .unwrap();
    assert_eq!(history("d"), [(1000, 1, "1".to_string())]);
    assert_eq!(history("e"), [(1, 1, "1".to_string())]);
    assert_eq!(history("n"), [(5, 0, "NaN".to_string())]);
    assert_eq!(history("i"), [(5, 0, "inf".to_string())]);
    // A point that differs in any of value, step or timestamp is kept; NaN differs from 0.
    a.run(a.s.log_metrics(
        &run,
        &[
            point("d", 2.0, 1, 1000),
            point("d", 1.0, 2, 1000),
            point("d", 1.0, 1, 1001),
            point("n", 0.0, 0, 5),
        ],
    ))
    .unwrap();
    assert_eq!(history("d").len(), 4);
    assert_eq!(
        history("n"),
        [(5, 0, "0".to_string()), (5, 0, "NaN".to_string())]
    );
    let r = a.run(a.s.get_run(&run)).unwrap();
    assert_eq!(r.metrics["d"].value, 1.0);
    assert_eq!(r.metrics["d"].step, 2);
    assert_eq!(r.params["p"], "1");
    assert_eq!(r.tags["t"], "x");
    // Still one transaction: a batch that fails leaves none of its points, duplicates or not.
    let e = a
        .run(a.s.log_batch(
            &run,
            &[point("d", 9.0, 9, 9), point("d", 1.0, 1, 1000)],
            &kv(&[("p", "2")]),
            &[],
        ))
        .unwrap_err();
    assert!(matches!(e, Error::ParamConflict { .. }), "{e}");
    assert_eq!(history("d").len(), 4);
});

both!(inputs_and_outputs_round_trip, |a: &Api| {
    let run = start(a, "r");
    let other = start(a, "other");
    let mlflow = |name: &str, digest: &str| Dataset {
        fingerprint: format!("mlflow:{name}:{digest}"),
        name: name.into(),
        digest: digest.into(),
        source_type: "local".into(),
        source: r#"{"uri": "/data/x.csv"}"#.into(),
        schema: r#"{"mlflow_colspec": []}"#.into(),
        profile: r#"{"num_rows": 3}"#.into(),
    };
    let train = mlflow("train", "d1");
    let eval = mlflow("eval", "d2");
    let train_tags = kv(&[(DATASET_CONTEXT_TAG, "training")]);
    let eval_tags = kv(&[(DATASET_CONTEXT_TAG, "eval"), ("note", "held out")]);
    let inputs = vec![
        (train.clone(), train_tags.clone()),
        (eval.clone(), eval_tags.clone()),
        (train.clone(), kv(&[("ignored", "dup")])),
    ];
    a.run(a.s.log_inputs(&run, &inputs, &[])).unwrap();
    // Idempotent: logging again, even with other tags, changes nothing.
    a.run(a.s.log_inputs(&run, &[(train.clone(), kv(&[("x", "y")]))], &[]))
        .unwrap();
    a.run(a.s.log_inputs(&other, &[(train.clone(), vec![])], &[]))
        .unwrap();
    let expected = vec![(eval.clone(), eval_tags), (train.clone(), train_tags)];
    assert_eq!(a.run(a.s.run_inputs(&run)).unwrap(), expected);
    let r = a.run(a.s.get_run(&run)).unwrap();
    assert_eq!(r.inputs, expected);
    assert_eq!(
        a.run(a.s.run_datasets(&run)).unwrap(),
        vec![
            (eval.clone(), "eval".to_string()),
            (train.clone(), "training".to_string())
        ]
    );
    assert_eq!(
        a.run(a.s.get_run(&other)).unwrap().inputs,
        vec![(train.clone(), vec![])]
    );
    // Outputs: the logged models a run produced.
    let out = |m: &str, step: i64| ModelOutput {
        model_id: m.into(),
        step,
    };
    a.run(a.s.log_outputs(&run, &[out("m-b", 2), out("m-a", 1), out("m-b", 1)]))
        .unwrap();
    a.run(a.s.log_outputs(&run, &[out("m-a", 1)])).unwrap();
    let r = a.run(a.s.get_run(&run)).unwrap();
    assert_eq!(r.outputs, [out("m-a", 1), out("m-b", 1), out("m-b", 2)]);
    // Searches carry inputs and outputs too.
    let found = a
        .run(a.s.search_runs(&SearchRuns {
            order_by: vec!["attributes.run_name".into()],
            ..Default::default()
        }))
        .unwrap();
    assert_eq!(found.items.len(), 2);
    assert_eq!(found.items[1].inputs, expected);
    assert_eq!(found.items[1].outputs.len(), 3);
    assert_eq!(found.items[0].inputs.len(), 1);
    assert!(found.items[0].outputs.is_empty());
    let e = a
        .run(a.s.log_inputs(&run, &[(Dataset::default(), vec![])], &[]))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    // Model inputs: the logged models a run used, once each, first logged first; a dataset
    // logged in the same call lands with them.
    assert!(r.model_inputs.is_empty());
    a.run(a.s.log_inputs(&other, &[], &["m-z".into()])).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    a.run(a.s.log_inputs(
        &other,
        &[(eval.clone(), vec![])],
        &["m-a".into(), "m-z".into()],
    ))
    .unwrap();
    let r = a.run(a.s.get_run(&other)).unwrap();
    assert_eq!(r.model_inputs, ["m-z", "m-a"]);
    assert_eq!(r.inputs.len(), 2);
    let e = a
        .run(a.s.log_inputs(&other, &[], &[String::new()]))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
});

both!(artifacts_written_by_a_proxy, |a: &Api| {
    let run = start(a, "r");
    let dir = a.run(a.s.artifact_dir(&run)).unwrap();
    assert_eq!(
        dir,
        a.dir
            .join("artifacts")
            .join("0")
            .join(&run)
            .join("artifacts")
    );
    let sha = "ab".repeat(32);
    for path in ["model/MLmodel", "model/model.pkl", "model.txt", "other.txt"] {
        a.run(a.s.record_artifact(&run, path, 7, &sha)).unwrap();
    }
    // Recording again replaces the record.
    let info = a
        .run(a.s.record_artifact(&run, "other.txt", 9, &sha.to_uppercase()))
        .unwrap();
    assert_eq!((info.size, info.sha256.as_str()), (9, sha.as_str()));
    let listed = |a: &Api| -> Vec<String> {
        a.run(a.s.list_artifacts(&run))
            .unwrap()
            .into_iter()
            .map(|i| i.path)
            .collect()
    };
    assert_eq!(
        listed(a),
        ["model.txt", "model/MLmodel", "model/model.pkl", "other.txt"]
    );
    // A folder goes with everything under it, and only that.
    assert_eq!(a.run(a.s.delete_artifact_record(&run, "model")).unwrap(), 2);
    assert_eq!(listed(a), ["model.txt", "other.txt"]);
    assert_eq!(
        a.run(a.s.delete_artifact_record(&run, "nothing")).unwrap(),
        0
    );
    for bad in ["../x", "/abs", "a//b", "a/./b"] {
        let e = a.run(a.s.record_artifact(&run, bad, 1, &sha)).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{bad}: {e}");
        assert!(validate_artifact_path(bad).is_err());
    }
    let e = a
        .run(a.s.record_artifact(&run, "x", 1, "nothex"))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    // The proxy may write to a deleted run; its file keeps a record.
    a.run(a.s.delete_run(&run)).unwrap();
    a.run(a.s.record_artifact(&run, "late.txt", 1, &sha))
        .unwrap();
    let e = a
        .run(a.s.record_artifact("0123456789abcdef0123456789abcdef", "x", 1, &sha))
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
});

both!(run_data_reads_back_exactly, |a: &Api| {
    // Every double comes back bit for bit, and keys and values with quotes, backslashes,
    // control characters and non-ASCII text come back unchanged, through get and search.
    let run = start(a, "exact");
    let values = [
        0.1,
        1.0 / 3.0,
        -2.0 / 3.0,
        5e-324,
        2.2250738585072014e-308,
        f64::MAX,
        f64::MIN,
        123456789.12345679,
        1e300,
        0.30000000000000004,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    let points: Vec<Metric> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            point(
                &format!("m{i}"),
                *v,
                i as i64 * 3,
                1_700_000_000_000 + i as i64,
            )
        })
        .collect();
    let odd = [
        ("quote\"d", "va\"lue"),
        ("back\\slash", "c:\\path\\"),
        ("tab", "a\tb\nc\u{1}"),
        ("unicode", "größe ✓ 日本"),
        ("empty", ""),
        ("json", "[1, {\"a\": null}]"),
    ];
    a.run(a.s.log_batch(&run, &points, &kv(&odd), &kv(&odd)))
        .unwrap();
    let fetched = a.run(a.s.get_run(&run)).unwrap();
    let searched = a
        .run(a.s.search_runs(&SearchRuns {
            experiments: vec![0],
            filter: "attributes.run_name = 'exact'".into(),
            ..Default::default()
        }))
        .unwrap()
        .items
        .remove(0);
    for r in [&fetched, &searched] {
        for (i, v) in values.iter().enumerate() {
            let m = &r.metrics[&format!("m{i}")];
            assert_eq!(m.value.to_bits(), v.to_bits(), "m{i}: {} vs {v}", m.value);
            assert_eq!(
                (m.step, m.timestamp_ms),
                (i as i64 * 3, 1_700_000_000_000 + i as i64)
            );
        }
        for (k, v) in odd {
            assert_eq!(r.params[k], v);
            assert_eq!(r.tags[k], v);
        }
    }
});
