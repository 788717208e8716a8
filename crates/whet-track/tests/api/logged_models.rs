//! MLflow 3 logged models: lifecycle, params and tags, metrics logged through a run, and
//! search.

use whet_track::*;

use crate::common::{Api, kv, tick};

fn run_in(a: &Api, exp: ExperimentId) -> RunId {
    a.run(a.s.start_run(&NewRun {
        experiment: exp,
        ..Default::default()
    }))
    .unwrap()
}

fn model(a: &Api, exp: ExperimentId, name: &str, params: &[(&str, &str)]) -> LoggedModel {
    let m = a
        .run(a.s.create_logged_model(&NewLoggedModel {
            experiment_id: exp,
            name: name.into(),
            params: kv(params),
            ..Default::default()
        }))
        .unwrap();
    tick();
    m
}

fn metric(model: &str, key: &str, value: f64, step: i64, ts: i64) -> ModelMetric {
    ModelMetric {
        model_id: model.into(),
        metric: Metric {
            key: key.into(),
            value,
            step,
            timestamp_ms: ts,
        },
        dataset_name: None,
        dataset_digest: None,
    }
}

both!(logged_model_lifecycle, |a: &Api| {
    let run = run_in(a, 0);
    let m = a
        .run(a.s.create_logged_model(&NewLoggedModel {
            experiment_id: 0,
            name: "clf".into(),
            model_type: "sklearn".into(),
            source_run_id: Some(run.clone()),
            params: kv(&[("C", "1.0")]),
            tags: kv(&[("mlflow.source.name", "train.py")]),
        }))
        .unwrap();
    assert_eq!(m.model_id.len(), 34);
    assert!(m.model_id.starts_with("m-"));
    assert!(m.model_id[2..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        m.artifact_location,
        format!("0/models/{}/artifacts", m.model_id)
    );
    assert_eq!(m.status, LoggedModelStatus::Pending);
    assert_eq!(m.lifecycle_stage, "active");
    assert_eq!(m.source_run_id.as_deref(), Some(run.as_str()));
    assert_eq!(a.run(a.s.get_logged_model(&m.model_id)).unwrap(), m);
    tick();
    let ready = a
        .run(a.s.finalize_logged_model(&m.model_id, LoggedModelStatus::Ready))
        .unwrap();
    assert_eq!(ready.status, LoggedModelStatus::Ready);
    assert!(ready.last_updated_time > m.last_updated_time);
    // Tags and params.
    a.run(a.s.set_logged_model_tags(&m.model_id, &kv(&[("a", "1"), ("b", "2")])))
        .unwrap();
    a.run(a.s.delete_logged_model_tag(&m.model_id, "a"))
        .unwrap();
    let e = a
        .run(a.s.delete_logged_model_tag(&m.model_id, "a"))
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    a.run(a.s.log_logged_model_params(&m.model_id, &kv(&[("C", "1.0"), ("penalty", "l2")])))
        .unwrap();
    let e = a
        .run(a.s.log_logged_model_params(&m.model_id, &kv(&[("tol", "1"), ("C", "2.0")])))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    let got = a.run(a.s.get_logged_model(&m.model_id)).unwrap();
    assert_eq!(got.tags.len(), 2);
    assert_eq!(got.tags["b"], "2");
    assert_eq!(got.params.len(), 2, "the failed call wrote nothing");
    // Deleted: not found, but still finalizable as in MLflow.
    a.run(a.s.delete_logged_model(&m.model_id)).unwrap();
    let e = a.run(a.s.get_logged_model(&m.model_id)).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let failed = a
        .run(a.s.finalize_logged_model(&m.model_id, LoggedModelStatus::Failed))
        .unwrap();
    assert_eq!(failed.lifecycle_stage, "deleted");
    let e = a.run(a.s.delete_logged_model("m-0000")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = a
        .run(a.s.set_logged_model_tags("m-0000", &kv(&[("a", "1")])))
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    // Names are made when not given; the experiment must exist and be active.
    let unnamed = model(a, 0, "", &[]);
    assert!(unnamed.name.starts_with("model-"));
    let e = a
        .run(a.s.create_logged_model(&NewLoggedModel {
            experiment_id: 77,
            ..Default::default()
        }))
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let gone = a.run(a.s.create_experiment("gone", None, &[])).unwrap();
    a.run(a.s.delete_experiment(gone)).unwrap();
    let e = a
        .run(a.s.create_logged_model(&NewLoggedModel {
            experiment_id: gone,
            ..Default::default()
        }))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
});

both!(model_metrics_go_to_the_run_too, |a: &Api| {
    let run = run_in(a, 0);
    let m1 = model(a, 0, "one", &[]);
    let m2 = model(a, 0, "two", &[]);
    let mut on_eval = metric(&m1.model_id, "acc", 0.8, 1, 100);
    on_eval.dataset_name = Some("eval".into());
    on_eval.dataset_digest = Some("d1".into());
    a.run(a.s.log_model_metrics(
        &run,
        &[
            metric(&m1.model_id, "acc", 0.7, 0, 90),
            on_eval,
            metric(&m2.model_id, "acc", f64::NAN, 0, 95),
        ],
    ))
    .unwrap();
    let r = a.run(a.s.get_run(&run)).unwrap();
    assert_eq!(r.metrics["acc"].value, 0.8);
    assert_eq!(a.run(a.s.metric_history(&run, "acc")).unwrap().len(), 3);
    let got = a.run(a.s.get_logged_model(&m1.model_id)).unwrap();
    let seen: Vec<(f64, i64, Option<&str>)> = got
        .metrics
        .iter()
        .map(|m| (m.value, m.step, m.dataset_name.as_deref()))
        .collect();
    assert_eq!(seen, [(0.7, 0, None), (0.8, 1, Some("eval"))]);
    assert_eq!(got.metrics[1].dataset_digest.as_deref(), Some("d1"));
    assert_eq!(got.metrics[1].run_id.as_deref(), Some(run.as_str()));
    assert_eq!(got.metrics[1].timestamp_ms, 100);
    let two = a.run(a.s.get_logged_model(&m2.model_id)).unwrap();
    assert!(two.metrics[0].value.is_nan());
    // The run must be active; nothing is written otherwise.
    a.run(a.s.delete_run(&run)).unwrap();
    let e = a
        .run(a.s.log_model_metrics(&run, &[metric(&m1.model_id, "acc", 0.1, 2, 1)]))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    assert_eq!(
        a.run(a.s.get_logged_model(&m1.model_id))
            .unwrap()
            .metrics
            .len(),
        2
    );
});

both!(search_logged_models, |a: &Api| {
    let other = a.run(a.s.create_experiment("other", None, &[])).unwrap();
    let run = run_in(a, 0);
    let a1 = model(a, 0, "alpha", &[("lr", "0.1")]);
    let b1 = model(a, 0, "beta", &[("lr", "0.2")]);
    let c1 = model(a, 0, "gamma", &[]);
    let elsewhere = model(a, other, "alpha", &[]);
    let deleted = model(a, 0, "deleted", &[]);
    a.run(a.s.delete_logged_model(&deleted.model_id)).unwrap();
    a.run(a.s.finalize_logged_model(&b1.model_id, LoggedModelStatus::Ready))
        .unwrap();
    a.run(a.s.set_logged_model_tags(&c1.model_id, &kv(&[("team", "x")])))
        .unwrap();
    a.run(a.s.log_model_metrics(
        &run,
        &[
            // alpha's latest acc (by timestamp) is 0.6, though it once was 0.95.
            metric(&a1.model_id, "acc", 0.95, 0, 10),
            metric(&a1.model_id, "acc", 0.6, 1, 20),
            metric(&b1.model_id, "acc", 0.9, 0, 15),
        ],
    ))
    .unwrap();
    let names = |exps: &[i64], filter: &str, order: &[&str]| {
        let order: Vec<String> = order.iter().map(|o| o.to_string()).collect();
        let p = a
            .run(a.s.search_logged_models(exps, filter, &order, 0, None))
            .unwrap_or_else(|e| panic!("{filter}: {e}"));
        p.items.into_iter().map(|m| m.name).collect::<Vec<_>>()
    };
    // Newest first by default; deleted models never show.
    assert_eq!(names(&[0], "", &[]), ["gamma", "beta", "alpha"]);
    assert_eq!(names(&[], "", &[]), ["alpha", "gamma", "beta", "alpha"]);
    assert_eq!(names(&[other], "", &[]), ["alpha"]);
    assert_eq!(
        names(&[0, other], "name = 'alpha'", &[]),
        ["alpha", "alpha"]
    );
    assert_eq!(names(&[0], "status = 'READY'", &[]), ["beta"]);
    assert_eq!(names(&[0], "tags.team = 'x'", &[]), ["gamma"]);
    assert_eq!(names(&[0], "params.lr = '0.2'", &[]), ["beta"]);
    assert_eq!(
        names(&[0], "params.lr LIKE '0.%'", &["name"]),
        ["alpha", "beta"]
    );
    // Any point matches a metric filter, as in MLflow.
    assert_eq!(names(&[0], "metrics.acc > 0.92", &[]), ["alpha"]);
    assert_eq!(
        names(
            &[0],
            &format!("creation_timestamp > {}", a1.creation_time),
            &["creation_timestamp ASC"]
        ),
        ["beta", "gamma"]
    );
    // Ordering by a metric uses each model's latest point; models without one come last.
    assert_eq!(
        names(&[0], "", &["metrics.acc DESC"]),
        ["beta", "alpha", "gamma"]
    );
    assert_eq!(
        names(&[0], "", &["metrics.acc ASC"]),
        ["alpha", "beta", "gamma"]
    );
    assert_eq!(names(&[0], "", &["name DESC"]), ["gamma", "beta", "alpha"]);
    // Pages.
    let first = a
        .run(a.s.search_logged_models(&[0], "", &[], 2, None))
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let rest = a
        .run(a.s.search_logged_models(&[0], "", &[], 2, first.next_page_token.as_deref()))
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].model_id, a1.model_id);
    assert!(rest.next_page_token.is_none());
    let e = a
        .run(a.s.search_logged_models(&[other], "", &[], 2, first.next_page_token.as_deref()))
        .unwrap_err();
    assert!(matches!(e, Error::PageToken(_)), "{e}");
    let e = a
        .run(a.s.search_logged_models(&[0], "attributes.run_name = 'x'", &[], 0, None))
        .unwrap_err();
    assert!(matches!(e, Error::Filter(_)), "{e}");
    assert_ne!(elsewhere.model_id, a1.model_id);
});
