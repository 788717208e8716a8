//! Experiments: the Default experiment, create, rename, delete and restore with their runs,
//! tags, and search with filters, order and pages.

use whet_track::*;

use crate::common::{Api, kv, tick};

fn names(p: &Page<Experiment>) -> Vec<&str> {
    p.items.iter().map(|e| e.name.as_str()).collect()
}

fn search(a: &Api, filter: &str, order_by: &[&str]) -> Vec<String> {
    let page = a
        .run(a.s.search_experiments(&SearchExperiments {
            filter: filter.into(),
            order_by: order_by.iter().map(|o| o.to_string()).collect(),
            ..Default::default()
        }))
        .unwrap_or_else(|e| panic!("{filter}: {e}"));
    names(&page).into_iter().map(String::from).collect()
}

both!(default_experiment_exists, |a: &Api| {
    let e = a.run(a.s.get_experiment(DEFAULT_EXPERIMENT_ID)).unwrap();
    assert_eq!(e.name, "Default");
    assert_eq!(e.artifact_location, "0");
    assert_eq!(e.lifecycle_stage, "active");
    assert!(e.creation_time > 0);
    // Serial ids still start at 1 for new experiments.
    assert_eq!(a.run(a.s.get_or_create_experiment("a")).unwrap(), 1);
    assert_eq!(a.run(a.s.create_experiment("b", None, &[])).unwrap(), 2);
    assert_eq!(a.run(a.s.get_or_create_experiment("a")).unwrap(), 1);
    let all = a.run(a.s.list_experiments()).unwrap();
    let ids: Vec<i64> = all.iter().map(|e| e.experiment_id).collect();
    assert_eq!(ids, [0, 1, 2]);
    // Runs can go to experiment 0, as MLflow clients send them there by default.
    let run = a
        .run(a.s.start_run(&NewRun {
            experiment: 0,
            ..Default::default()
        }))
        .unwrap();
    let r = a.run(a.s.get_run(&run)).unwrap();
    assert_eq!(r.info.artifact_uri, format!("0/{run}/artifacts"));
});

both!(create_experiment_rules, |a: &Api| {
    let id = a
        .run(a.s.create_experiment(
            "churn",
            None,
            &kv(&[("team", "risk"), ("mlflow.note.content", "hi")]),
        ))
        .unwrap();
    let e = a.run(a.s.get_experiment(id)).unwrap();
    assert_eq!(e.artifact_location, id.to_string());
    assert_eq!(e.tags.len(), 2);
    assert_eq!(e.tags["team"], "risk");
    assert_eq!(e.creation_time, e.last_update_time);
    let by_name = a.run(a.s.experiment_by_name("churn")).unwrap().unwrap();
    assert_eq!(by_name, e);
    assert!(a.run(a.s.experiment_by_name("nope")).unwrap().is_none());
    let other = a
        .run(a.s.create_experiment("s3", Some("s3://bucket/x"), &[]))
        .unwrap();
    assert_eq!(
        a.run(a.s.get_experiment(other)).unwrap().artifact_location,
        "s3://bucket/x"
    );
    let e = a
        .run(a.s.create_experiment("churn", None, &[]))
        .unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    assert!(
        e.to_string().contains("'churn' (id 1) already exists"),
        "{e}"
    );
    // A deleted experiment keeps its name.
    a.run(a.s.delete_experiment(id)).unwrap();
    let e = a
        .run(a.s.create_experiment("churn", None, &[]))
        .unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    let e = a.run(a.s.create_experiment("  ", None, &[])).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    let e = a.run(a.s.get_experiment(999)).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
});

both!(rename_experiment, |a: &Api| {
    let id = a.run(a.s.create_experiment("old", None, &[])).unwrap();
    a.run(a.s.create_experiment("taken", None, &[])).unwrap();
    let before = a.run(a.s.get_experiment(id)).unwrap();
    tick();
    a.run(a.s.rename_experiment(id, "new")).unwrap();
    let after = a.run(a.s.get_experiment(id)).unwrap();
    assert_eq!(after.name, "new");
    assert!(after.last_update_time > before.last_update_time);
    assert!(a.run(a.s.experiment_by_name("old")).unwrap().is_none());
    // Renaming to its own name is allowed.
    a.run(a.s.rename_experiment(id, "new")).unwrap();
    let e = a.run(a.s.rename_experiment(id, "taken")).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    let e = a.run(a.s.rename_experiment(999, "x")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    a.run(a.s.delete_experiment(id)).unwrap();
    let e = a.run(a.s.rename_experiment(id, "again")).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
});

both!(delete_and_restore_take_their_runs, |a: &Api| {
    let id = a.run(a.s.create_experiment("e", None, &[])).unwrap();
    let other = a.run(a.s.create_experiment("other", None, &[])).unwrap();
    let start = |exp: i64| {
        a.run(a.s.start_run(&NewRun {
            experiment: exp,
            ..Default::default()
        }))
        .unwrap()
    };
    let (r1, r2, alone, elsewhere) = (start(id), start(id), start(id), start(other));
    // Deleted on its own before the experiment: stays deleted after the restore.
    a.run(a.s.delete_run(&alone)).unwrap();
    tick();
    a.run(a.s.delete_experiment(id)).unwrap();
    let stage = |r: &str| a.run(a.s.get_run(r)).unwrap().info.lifecycle_stage;
    assert_eq!(stage(&r1), "deleted");
    assert_eq!(stage(&r2), "deleted");
    assert_eq!(stage(&elsewhere), "active");
    assert_eq!(
        a.run(a.s.get_experiment(id)).unwrap().lifecycle_stage,
        "deleted"
    );
    // No new runs in a deleted experiment; deleting twice is NotFound, as in MLflow.
    let e = a
        .run(a.s.start_run(&NewRun {
            experiment: id,
            ..Default::default()
        }))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    let e = a.run(a.s.delete_experiment(id)).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = a.run(a.s.restore_experiment(other)).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    a.run(a.s.restore_experiment(id)).unwrap();
    assert_eq!(stage(&r1), "active");
    assert_eq!(stage(&r2), "active");
    assert_eq!(stage(&alone), "deleted");
    let e = a.run(a.s.get_experiment(id)).unwrap();
    assert_eq!(e.lifecycle_stage, "active");
    // Experiment 0 can be deleted and restored too.
    a.run(a.s.delete_experiment(0)).unwrap();
    a.run(a.s.restore_experiment(0)).unwrap();
});

both!(experiment_tags, |a: &Api| {
    let id = a.run(a.s.create_experiment("e", None, &[])).unwrap();
    a.run(a.s.set_experiment_tag(id, "team", "a")).unwrap();
    a.run(a.s.set_experiment_tag(id, "team", "b")).unwrap();
    a.run(a.s.set_experiment_tag(id, "note", "n")).unwrap();
    let tags = a.run(a.s.get_experiment(id)).unwrap().tags;
    assert_eq!(tags.len(), 2);
    assert_eq!(tags["team"], "b");
    a.run(a.s.delete_experiment_tag(id, "note")).unwrap();
    let e = a.run(a.s.delete_experiment_tag(id, "note")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("tag 'note'"), "{e}");
    let e = a.run(a.s.set_experiment_tag(id, "", "x")).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    let e = a.run(a.s.set_experiment_tag(42, "k", "v")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    a.run(a.s.delete_experiment(id)).unwrap();
    let e = a.run(a.s.set_experiment_tag(id, "k", "v")).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    assert_eq!(a.run(a.s.get_experiment(id)).unwrap().tags.len(), 1);
});

both!(search_experiments_filters_order_pages, |a: &Api| {
    // Created in this order, one millisecond apart at least: ids 1..=4.
    for (name, team) in [
        ("churn-a", "risk"),
        ("Churn-B", "risk"),
        ("fraud", "ops"),
        ("misc", ""),
    ] {
        let tags = if team.is_empty() {
            vec![]
        } else {
            kv(&[("team", team)])
        };
        a.run(a.s.create_experiment(name, None, &tags)).unwrap();
        tick();
    }
    // MLflow's default order: newest first, then id; Default (id 0) is the oldest.
    assert_eq!(
        search(a, "", &[]),
        ["misc", "fraud", "Churn-B", "churn-a", "Default"]
    );
    assert_eq!(search(a, "name = 'fraud'", &[]), ["fraud"]);
    assert_eq!(
        search(a, "attributes.name != 'fraud'", &["name ASC"]),
        ["Churn-B", "Default", "churn-a", "misc"]
    );
    assert_eq!(search(a, "name LIKE 'churn%'", &[]), ["churn-a"]);
    assert_eq!(
        search(a, "name ILIKE 'churn%'", &["name DESC"]),
        ["churn-a", "Churn-B"]
    );
    assert_eq!(
        search(a, "tags.team = 'risk'", &["experiment_id ASC"]),
        ["churn-a", "Churn-B"]
    );
    assert_eq!(search(a, "tags.team != 'risk'", &[]), ["fraud"]);
    assert_eq!(search(a, "tags.`team` LIKE 'o%'", &[]), ["fraud"]);
    assert_eq!(
        search(
            a,
            "tags.team = 'risk' and name = 'Churn-B'",
            &["creation_time"]
        ),
        ["Churn-B"]
    );
    let fraud = a.run(a.s.experiment_by_name("fraud")).unwrap().unwrap();
    assert_eq!(
        search(
            a,
            &format!("creation_time >= {}", fraud.creation_time),
            &["last_update_time ASC"]
        ),
        ["fraud", "misc"]
    );
    // Deleted experiments only show when asked for.
    a.run(a.s.delete_experiment(fraud.experiment_id)).unwrap();
    let view = |view: ViewType| {
        let p = a
            .run(a.s.search_experiments(&SearchExperiments {
                view,
                order_by: vec!["experiment_id".into()],
                ..Default::default()
            }))
            .unwrap();
        names(&p).into_iter().map(String::from).collect::<Vec<_>>()
    };
    assert_eq!(view(ViewType::DeletedOnly), ["fraud"]);
    assert_eq!(view(ViewType::ActiveOnly).len(), 4);
    assert_eq!(view(ViewType::All).len(), 5);
    // Pages of two, by id.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let p = a
            .run(a.s.search_experiments(&SearchExperiments {
                view: ViewType::All,
                order_by: vec!["experiment_id ASC".into()],
                max_results: 2,
                page_token: token.clone(),
                ..Default::default()
            }))
            .unwrap();
        seen.extend(p.items.iter().map(|e| e.experiment_id));
        match p.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, [0, 1, 2, 3, 4]);
    // A token from one search does not page another.
    let first = a
        .run(a.s.search_experiments(&SearchExperiments {
            max_results: 1,
            ..Default::default()
        }))
        .unwrap();
    let e = a
        .run(a.s.search_experiments(&SearchExperiments {
            filter: "name LIKE '%'".into(),
            max_results: 1,
            page_token: first.next_page_token,
            ..Default::default()
        }))
        .unwrap_err();
    assert!(matches!(e, Error::PageToken(_)), "{e}");
    // MLflow's limits and grammar.
    let e = a
        .run(a.s.search_experiments(&SearchExperiments {
            max_results: 50_001,
            ..Default::default()
        }))
        .unwrap_err();
    assert!(e.to_string().contains("50000"), "{e}");
    for bad in [
        "metrics.x > 1",
        "params.p = 'x'",
        "status = 'x'",
        "name > 'a'",
    ] {
        let e = a
            .run(a.s.search_experiments(&SearchExperiments {
                filter: bad.into(),
                ..Default::default()
            }))
            .unwrap_err();
        assert!(matches!(e, Error::Filter(_)), "{bad}: {e}");
    }
    let e = a
        .run(a.s.search_experiments(&SearchExperiments {
            order_by: vec!["name".into(), "name DESC".into()],
            ..Default::default()
        }))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
});
