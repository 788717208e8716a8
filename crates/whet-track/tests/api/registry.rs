//! The model registry as MLflow clients drive it: registered models with tags, rename and
//! delete with everything attached, versions from URIs and run artifacts, version tags, and
//! both searches.

use whet_track::*;

use crate::common::{Api, kv, tick};

/// A finished run in experiment 0 that has logged `model/MLmodel`.
fn run_with_model(a: &Api) -> RunId {
    let run = a
        .run(a.s.start_run(&NewRun {
            experiment: 0,
            ..Default::default()
        }))
        .unwrap();
    a.run(a.s.log_artifact(&run, "model/MLmodel", ArtifactSource::Bytes(b"flavors: {}")))
        .unwrap();
    run
}

fn uri_version(name: &str, source: &str, run: Option<&str>) -> NewModelVersion {
    NewModelVersion {
        name: name.into(),
        source: source.into(),
        source_kind: SourceKind::Uri,
        run_id: run.map(String::from),
        ..Default::default()
    }
}

both!(registered_model_lifecycle, |a: &Api| {
    let m = a
        .run(a.s.create_registered_model("churn", "predicts churn", &kv(&[("team", "risk")])))
        .unwrap();
    assert_eq!(m.description, "predicts churn");
    assert_eq!(m.tags["team"], "risk");
    assert!(m.latest_versions.is_empty() && m.latest_version.is_none());
    assert_eq!(a.run(a.s.get_registered_model("churn")).unwrap(), m);
    let e = a
        .run(a.s.create_registered_model("churn", "", &[]))
        .unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("registered model 'churn' already exists"),
        "{e}"
    );
    let e = a
        .run(a.s.create_registered_model("a/b", "", &[]))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    tick();
    let updated = a
        .run(a.s.update_registered_model("churn", "better"))
        .unwrap();
    assert_eq!(updated.description, "better");
    assert!(updated.last_updated_time > m.last_updated_time);
    a.run(a.s.set_registered_model_tag("churn", "team", "ops"))
        .unwrap();
    a.run(a.s.set_registered_model_tag("churn", "tier", "1"))
        .unwrap();
    a.run(a.s.delete_registered_model_tag("churn", "tier"))
        .unwrap();
    // A tag the model does not have is not an error, as in MLflow; a model it lacks is.
    a.run(a.s.delete_registered_model_tag("churn", "tier"))
        .unwrap();
    let e = a
        .run(a.s.delete_registered_model_tag("nope", "tier"))
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let tags = a.run(a.s.get_registered_model("churn")).unwrap().tags;
    assert_eq!(tags, [("team".to_string(), "ops".to_string())].into());
    // Delete takes the versions and aliases with it.
    let v = a
        .run(a.s.create_model_version(&uri_version("churn", "s3://b/m", None)))
        .unwrap();
    a.run(a.s.set_alias("churn", "champion", Some(v.version)))
        .unwrap();
    a.run(a.s.delete_registered_model("churn")).unwrap();
    let e = a.run(a.s.get_registered_model("churn")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(a.run(a.s.model_versions("churn", None)).unwrap().is_empty());
    assert!(a.run(a.s.alias_history("churn")).unwrap().is_empty());
    let e = a.run(a.s.delete_registered_model("churn")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    // A new model of the same name starts again.
    a.run(a.s.create_registered_model("churn", "", &[]))
        .unwrap();
    let v = a
        .run(a.s.create_model_version(&uri_version("churn", "s3://b/m", None)))
        .unwrap();
    assert_eq!(v.version, 1);
});

both!(rename_moves_everything, |a: &Api| {
    let run = run_with_model(a);
    a.run(a.s.create_registered_model("old", "d", &kv(&[("team", "x")])))
        .unwrap();
    let metrics = vec![("auc".to_string(), 0.9)];
    assert_eq!(
        a.run(a.s.register_model("old", &run, "model", &metrics))
            .unwrap(),
        1
    );
    assert_eq!(
        a.run(a.s.register_model("old", &run, "model/MLmodel", &[]))
            .unwrap(),
        2
    );
    a.run(a.s.set_model_version_tag("old", 2, "validated", "yes"))
        .unwrap();
    a.run(a.s.set_alias("old", "champion", Some(1))).unwrap();
    a.run(a.s.create_registered_model("taken", "", &[]))
        .unwrap();
    let e = a
        .run(a.s.rename_registered_model("old", "taken"))
        .unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    let m = a.run(a.s.rename_registered_model("old", "new")).unwrap();
    assert_eq!(m.name, "new");
    assert_eq!(m.description, "d");
    assert_eq!(m.tags["team"], "x");
    assert_eq!(m.aliases, [("champion".to_string(), 1)].into());
    assert_eq!(m.latest_version, Some(2));
    assert_eq!(m.latest_versions.len(), 1);
    let latest = &m.latest_versions[0];
    assert_eq!((latest.name.as_str(), latest.version), ("new", 2));
    assert_eq!(latest.tags["validated"], "yes");
    let v1 = a
        .run(a.s.get_model_version("new", &VersionRef::Alias("champion".into())))
        .unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.metrics["auc"], 0.9);
    assert_eq!(v1.aliases, ["champion"]);
    assert_eq!(v1.source_kind, SourceKind::RunArtifact);
    assert_eq!(a.run(a.s.alias_history("new")).unwrap().len(), 1);
    let e = a.run(a.s.get_registered_model("old")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(a.run(a.s.model_versions("old", None)).unwrap().is_empty());
    assert!(a.run(a.s.alias_history("old")).unwrap().is_empty());
    // Numbering continues under the new name.
    assert_eq!(
        a.run(a.s.register_model("new", &run, "model", &[]))
            .unwrap(),
        3
    );
    let e = a.run(a.s.rename_registered_model("nope", "x")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
});

both!(model_versions_from_uris_and_runs, |a: &Api| {
    let run = run_with_model(a);
    let e = a
        .run(a.s.create_model_version(&uri_version("m", "s3://b/x", None)))
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    a.run(a.s.create_registered_model("m", "", &[])).unwrap();
    let v1 = a
        .run(a.s.create_model_version(&NewModelVersion {
            run_link: "http://x/run".into(),
            description: "from a client".into(),
            tags: kv(&[("k", "v")]),
            model_id: Some("m-0123".into()),
            ..uri_version("m", "models:/m-0123", Some("not-checked"))
        }))
        .unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.status, "READY");
    assert_eq!(v1.run_id, "not-checked");
    let got = a
        .run(a.s.get_model_version("m", &VersionRef::Number(1)))
        .unwrap();
    assert_eq!(got, v1);
    // A run artifact must be one the run logged.
    let artifact = |source: &str, run: Option<&str>| NewModelVersion {
        source_kind: SourceKind::RunArtifact,
        ..uri_version("m", source, run)
    };
    let e = a
        .run(a.s.create_model_version(&artifact("model", None)))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    let e = a
        .run(a.s.create_model_version(&artifact("elsewhere", Some(&run))))
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let v2 = a
        .run(a.s.create_model_version(&artifact("model", Some(&run))))
        .unwrap();
    assert_eq!((v2.version, v2.run_id.as_str()), (2, run.as_str()));
    // Tags, description.
    a.run(a.s.set_model_version_tag("m", 2, "a", "1")).unwrap();
    a.run(a.s.set_model_version_tag("m", 2, "a", "2")).unwrap();
    a.run(a.s.delete_model_version_tag("m", 1, "k")).unwrap();
    a.run(a.s.delete_model_version_tag("m", 1, "k")).unwrap();
    let e = a
        .run(a.s.set_model_version_tag("m", 9, "a", "1"))
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    tick();
    let updated = a.run(a.s.update_model_version("m", 2, "second")).unwrap();
    assert_eq!(updated.description, "second");
    assert_eq!(updated.tags["a"], "2");
    assert!(updated.last_updated_time > v2.last_updated_time);
    assert!(
        a.run(a.s.get_model_version("m", &VersionRef::Number(1)))
            .unwrap()
            .tags
            .is_empty()
    );
    let latest = a.run(a.s.latest_versions("m")).unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].version, 2);
    // Deleting a version drops its aliases (recorded) and never frees its number.
    a.run(a.s.set_alias("m", "champion", Some(2))).unwrap();
    a.run(a.s.delete_model_version("m", 2)).unwrap();
    let e = a.run(a.s.delete_model_version("m", 2)).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let m = a.run(a.s.get_registered_model("m")).unwrap();
    assert!(m.aliases.is_empty());
    assert_eq!(m.latest_version, Some(1));
    let history = a.run(a.s.alias_history("m")).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[1].version, history[1].previous_version),
        (None, Some(2))
    );
    let v3 = a
        .run(a.s.create_model_version(&uri_version("m", "s3://b/y", None)))
        .unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(v3.run_id, "");
    let e = a.run(a.s.latest_versions("nope")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
});

both!(registry_searches, |a: &Api| {
    for (name, team) in [("churn-b", "risk"), ("churn-a", "risk"), ("Fraud", "ops")] {
        a.run(a.s.create_registered_model(name, "", &kv(&[("team", team)])))
            .unwrap();
        tick();
    }
    let models = |filter: &str, order: &[&str], max: usize| {
        let order: Vec<String> = order.iter().map(|o| o.to_string()).collect();
        let p = a
            .run(a.s.search_registered_models(filter, &order, max, None))
            .unwrap_or_else(|e| panic!("{filter}: {e}"));
        p.items.into_iter().map(|m| m.name).collect::<Vec<_>>()
    };
    assert_eq!(models("", &[], 0), ["Fraud", "churn-a", "churn-b"]);
    assert_eq!(
        models("name LIKE 'churn%'", &["name DESC"], 0),
        ["churn-b", "churn-a"]
    );
    assert_eq!(models("name ILIKE 'f%'", &[], 0), ["Fraud"]);
    assert_eq!(models("tags.team = 'risk'", &[], 0), ["churn-a", "churn-b"]);
    assert_eq!(
        models("name != 'Fraud'", &["creation_timestamp DESC"], 0),
        ["churn-a", "churn-b"]
    );
    assert_eq!(
        models("", &["last_updated_timestamp ASC"], 0),
        ["churn-b", "churn-a", "Fraud"]
    );
    // Pages.
    let first = a
        .run(a.s.search_registered_models("", &[], 2, None))
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let second = a
        .run(a.s.search_registered_models("", &[], 2, first.next_page_token.as_deref()))
        .unwrap();
    assert_eq!(second.items[0].name, "churn-b");
    assert!(second.next_page_token.is_none());
    let e = a
        .run(a.s.search_registered_models("", &[], 1001, None))
        .unwrap_err();
    assert!(e.to_string().contains("1000"), "{e}");
    let e = a
        .run(a.s.search_registered_models("run_id = 'x'", &[], 0, None))
        .unwrap_err();
    assert!(matches!(e, Error::Filter(_)), "{e}");

    // Versions: two of churn-a from two runs, one of churn-b.
    let (r1, r2) = (run_with_model(a), run_with_model(a));
    for (model, run) in [("churn-a", &r1), ("churn-a", &r2), ("churn-b", &r1)] {
        // distinct update times: the default order is the most recently updated first
        std::thread::sleep(std::time::Duration::from_millis(3));
        let v = a
            .run(a.s.create_model_version(&uri_version(
                model,
                &format!("runs:/{run}/model"),
                Some(run),
            )))
            .unwrap();
        a.run(a.s.set_model_version_tag(model, v.version, "run", &run[..4]))
            .unwrap();
    }
    let versions = |filter: &str, order: &[&str]| {
        let order: Vec<String> = order.iter().map(|o| o.to_string()).collect();
        let p = a
            .run(a.s.search_model_versions(filter, &order, 0, None))
            .unwrap_or_else(|e| panic!("{filter}: {e}"));
        p.items
            .into_iter()
            .map(|v| format!("{}/{}", v.name, v.version))
            .collect::<Vec<_>>()
    };
    assert_eq!(versions("", &[]), ["churn-b/1", "churn-a/2", "churn-a/1"]);
    assert_eq!(
        versions("name = 'churn-a'", &[]),
        ["churn-a/2", "churn-a/1"]
    );
    assert_eq!(
        versions(&format!("run_id = '{r1}'"), &[]),
        ["churn-b/1", "churn-a/1"]
    );
    assert_eq!(
        versions(&format!("run_id IN ('{r2}', 'ffff')"), &[]),
        ["churn-a/2"]
    );
    assert_eq!(
        versions(&format!("tags.run = '{}'", &r2[..4]), &[]),
        ["churn-a/2"]
    );
    assert_eq!(versions("version_number > 1", &[]), ["churn-a/2"]);
    assert_eq!(
        versions(
            &format!("source_path = 'runs:/{r1}/model'"),
            &["version_number ASC"]
        ),
        ["churn-a/1", "churn-b/1"]
    );
    assert_eq!(
        versions("name LIKE 'churn%'", &["name DESC", "version_number ASC"]),
        ["churn-b/1", "churn-a/1", "churn-a/2"]
    );
    let page = a.run(a.s.search_model_versions("", &[], 2, None)).unwrap();
    assert_eq!(page.items.len(), 2);
    let rest = a
        .run(a.s.search_model_versions("", &[], 2, page.next_page_token.as_deref()))
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].tags["run"], r1[..4]);
    let e = a
        .run(a.s.search_model_versions("metrics.x > 1", &[], 0, None))
        .unwrap_err();
    assert!(matches!(e, Error::Filter(_)), "{e}");
});

both!(stages_and_latest_versions, |a: &Api| {
    a.run(a.s.create_registered_model("m", "", &[])).unwrap();
    for _ in 0..4 {
        a.run(a.s.create_model_version(&uri_version("m", "s3://b/m", None)))
            .unwrap();
    }
    let v1 = a
        .run(a.s.get_model_version("m", &VersionRef::Number(1)))
        .unwrap();
    assert_eq!(v1.current_stage, Stage::None);
    tick();
    // Stage names in any case, as MLflow takes them.
    let moved = a
        .run(a.s.transition_model_version_stage("m", 1, "staging", false))
        .unwrap();
    assert_eq!((moved.version, moved.current_stage), (1, Stage::Staging));
    assert!(moved.last_updated_time > v1.last_updated_time);
    let model = a.run(a.s.get_registered_model("m")).unwrap();
    assert_eq!(model.last_updated_time, moved.last_updated_time);
    a.run(a.s.transition_model_version_stage("m", 2, "Production", false))
        .unwrap();
    a.run(a.s.transition_model_version_stage("m", 3, "Production", false))
        .unwrap();
    let latest = |stages: &[&str]| -> Vec<(i64, Stage)> {
        let stages: Vec<String> = stages.iter().map(|s| s.to_string()).collect();
        a.run(a.s.latest_versions_in("m", &stages))
            .unwrap()
            .iter()
            .map(|v| (v.version, v.current_stage))
            .collect()
    };
    // The highest version per stage, stages in the order of their lowest version.
    assert_eq!(
        latest(&[]),
        [
            (1, Stage::Staging),
            (3, Stage::Production),
            (4, Stage::None)
        ]
    );
    assert_eq!(
        a.run(a.s.latest_versions("m")).unwrap(),
        a.run(a.s.latest_versions_in("m", &[])).unwrap()
    );
    assert_eq!(latest(&["Staging"]), [(1, Stage::Staging)]);
    assert_eq!(
        latest(&["none", "PRODUCTION"]),
        [(3, Stage::Production), (4, Stage::None)]
    );
    assert_eq!(latest(&["Archived"]), []);
    let m = a.run(a.s.get_registered_model("m")).unwrap();
    let per_stage: Vec<(i64, Stage)> = m
        .latest_versions
        .iter()
        .map(|v| (v.version, v.current_stage))
        .collect();
    assert_eq!(per_stage, latest(&[]));
    assert_eq!(m.latest_version, Some(4));
    // Archiving the others in the target stage.
    let v4 = a
        .run(a.s.transition_model_version_stage("m", 4, "Production", true))
        .unwrap();
    assert_eq!(v4.current_stage, Stage::Production);
    let stage = |v: i64| {
        a.run(a.s.get_model_version("m", &VersionRef::Number(v)))
            .unwrap()
            .current_stage
    };
    assert_eq!(
        [stage(1), stage(2), stage(3), stage(4)],
        [
            Stage::Staging,
            Stage::Archived,
            Stage::Archived,
            Stage::Production
        ]
    );
    assert_eq!(
        latest(&[]),
        [
            (1, Stage::Staging),
            (3, Stage::Archived),
            (4, Stage::Production)
        ]
    );
    // Searches carry the stage. Aliases come with a version read (and the latest versions),
    // not with search results nor a model's latest_versions, as in MLflow.
    a.run(a.s.set_alias("m", "champ", Some(4))).unwrap();
    let found = a
        .run(a.s.search_model_versions("name = 'm'", &[], 0, None))
        .unwrap();
    assert_eq!(found.items[0].version, 4);
    assert_eq!(found.items[0].current_stage, Stage::Production);
    assert!(found.items.iter().all(|v| v.aliases.is_empty()));
    let model = a.run(a.s.get_registered_model("m")).unwrap();
    assert!(model.latest_versions.iter().all(|v| v.aliases.is_empty()));
    assert_eq!(model.aliases["champ"], 4);
    let v4 = a
        .run(a.s.get_model_version("m", &VersionRef::Number(4)))
        .unwrap();
    assert_eq!(v4.aliases, ["champ"]);
    let with_alias = a
        .run(a.s.latest_versions_in("m", &["Production".to_string()]))
        .unwrap();
    assert_eq!(with_alias[0].aliases, ["champ"]);
    // Errors: MLflow's messages, INVALID_PARAMETER_VALUE for bad stages.
    let e = a
        .run(a.s.transition_model_version_stage("m", 1, "Live", false))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    assert!(
        e.to_string().contains("Invalid Model Version stage: Live"),
        "{e}"
    );
    let e = a
        .run(a.s.transition_model_version_stage("m", 1, "Archived", true))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    assert!(e.to_string().contains("is not an Active stage"), "{e}");
    let e = a
        .run(a.s.transition_model_version_stage("m", 9, "Staging", false))
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = a
        .run(a.s.latest_versions_in("m", &["Live".to_string()]))
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    let e = a.run(a.s.latest_versions_in("nope", &[])).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert_eq!("production".parse::<Stage>().unwrap(), Stage::Production);
    assert_eq!(Stage::None.to_string(), "None");
});

both!(
    unknown_alias_is_invalid_and_unknown_model_not_found,
    |a: &Api| {
        a.run(a.s.create_registered_model("m", "", &[])).unwrap();
        a.run(a.s.create_model_version(&uri_version("m", "s3://b/m", None)))
            .unwrap();
        let e = a
            .run(a.s.get_model_version("m", &VersionRef::Alias("nope".into())))
            .unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        assert!(
            e.to_string()
                .starts_with("Registered model alias nope not found.\n  hint: "),
            "{e}"
        );
        let e = a
            .run(a.s.get_model_version("ghost", &VersionRef::Alias("nope".into())))
            .unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        let e = a
            .run(a.s.get_model_version("m", &VersionRef::Number(5)))
            .unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
    }
);

both!(registry_searches_leave_out_prompts, |a: &Api| {
    a.run(a.s.create_registered_model("p-a", "", &kv(&[("k", "v")])))
        .unwrap();
    a.run(a.s.create_registered_model("p-b", "", &[])).unwrap();
    a.run(a.s.create_registered_model("p-false", "", &kv(&[("mlflow.prompt.is_prompt", "false")])))
        .unwrap();
    a.run(a.s.create_registered_model("p-prompt", "", &kv(&[("mlflow.prompt.is_prompt", "true")])))
        .unwrap();
    for name in ["p-a", "p-prompt"] {
        let v = a
            .run(a.s.create_model_version(&uri_version(name, "s3://b/m", None)))
            .unwrap();
        if name == "p-prompt" {
            a.run(a.s.set_model_version_tag(name, v.version, "mlflow.prompt.is_prompt", "true"))
                .unwrap();
        }
    }
    let models = |filter: &str| -> Vec<String> {
        a.run(a.s.search_registered_models(filter, &[], 0, None))
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .items
            .into_iter()
            .map(|m| m.name)
            .collect()
    };
    // What the MLflow client sends: models without the tag pass `!= 'true'`.
    let filter = "name LIKE 'p-%' AND tag.`mlflow.prompt.is_prompt` != 'true'";
    assert_eq!(models(filter), ["p-a", "p-b", "p-false"]);
    assert_eq!(
        models("tag.`mlflow.prompt.is_prompt` != 'true'"),
        ["p-a", "p-b", "p-false"]
    );
    assert_eq!(models("name LIKE 'p-%'"), ["p-a", "p-b", "p-false"]);
    assert_eq!(
        models("name LIKE 'p-%' AND tags.k = 'v' AND tag.`mlflow.prompt.is_prompt` != 'true'"),
        ["p-a"]
    );
    // Asking for prompts finds them.
    assert_eq!(
        models("tags.`mlflow.prompt.is_prompt` = 'true'"),
        ["p-prompt"]
    );
    assert_eq!(
        models("tags.`mlflow.prompt.is_prompt` != 'false'"),
        ["p-prompt"]
    );
    // Other tags keep MLflow's rule: a model without the tag matches no comparison.
    assert_eq!(models("name LIKE 'p-%' AND tags.k != 'x'"), ["p-a"]);
    let versions = |filter: &str| -> Vec<String> {
        a.run(a.s.search_model_versions(filter, &[], 0, None))
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .items
            .into_iter()
            .map(|v| format!("{}/{}", v.name, v.version))
            .collect()
    };
    assert_eq!(versions("name LIKE 'p-%'"), ["p-a/1"]);
    assert_eq!(
        versions("name LIKE 'p-%' AND tags.`mlflow.prompt.is_prompt` = 'true'"),
        ["p-prompt/1"]
    );
});

both!(a_version_records_who_registered_it, |a: &Api| {
    let run = run_with_model(a);
    let v = a
        .run(a.s.register_model_by("churn", &run, "model", &[], "ana"))
        .unwrap();
    a.run(a.s.create_registered_model("uri", "", &[])).unwrap();
    let by_uri = a
        .run(a.s.create_model_version(&NewModelVersion {
            user_id: "ci-job".into(),
            ..uri_version("uri", "s3://b/m", None)
        }))
        .unwrap();
    assert_eq!(by_uri.user_id, "ci-job");
    let anonymous = a
        .run(a.s.create_model_version(&uri_version("uri", "s3://b/n", None)))
        .unwrap();
    assert_eq!(anonymous.user_id, "");
    // Read back by every path that lists versions.
    let got = a
        .run(a.s.get_model_version("churn", &VersionRef::Number(v)))
        .unwrap();
    assert_eq!(got.user_id, "ana");
    let users: Vec<(i64, String)> = a
        .run(a.s.model_versions("uri", None))
        .unwrap()
        .into_iter()
        .map(|v| (v.version, v.user_id))
        .collect();
    assert_eq!(users, [(2, String::new()), (1, "ci-job".to_string())]);
    let latest = a.run(a.s.get_registered_model("uri")).unwrap();
    assert_eq!(latest.latest_versions[0].user_id, "");
});
