//! The MLflow filter parser: known answers and errors with positions.

use whet_track::filter::{
    Attribute, Condition, DatasetField, Entity, Field, Op, OrderBy, Value, parse, parse_for,
};

fn one(s: &str) -> Condition {
    let mut v = parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(v.len(), 1, "{s}");
    v.remove(0)
}

#[test]
fn known_answers() {
    assert_eq!(parse("").unwrap(), vec![]);
    assert_eq!(parse("   ").unwrap(), vec![]);
    assert_eq!(
        one("metrics.auc > 0.9"),
        Condition {
            field: Field::Metric("auc".into()),
            op: Op::Gt,
            value: Value::Number(0.9)
        }
    );
    let all = parse(
        "metrics.auc > 0.9 and params.learner = 'gbdt' AND tags.team = \"x\" and attributes.status = 'FINISHED'",
    )
    .unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[1].field, Field::Param("learner".into()));
    assert_eq!(all[1].value, Value::Text("gbdt".into()));
    assert_eq!(all[2].field, Field::Tag("team".into()));
    assert_eq!(all[2].value, Value::Text("x".into()));
    assert_eq!(all[3].field, Field::Attribute(Attribute::Status));
    assert_eq!(
        one("metrics.`my metric` <= -1.5e-3").field,
        Field::Metric("my metric".into())
    );
    assert_eq!(
        one("metrics.`my metric` <= -1.5e-3").value,
        Value::Number(-1.5e-3)
    );
    assert_eq!(
        one("metrics.\"a b\" != 2").field,
        Field::Metric("a b".into())
    );
    assert_eq!(one("metrics.\"a b\" != 2").op, Op::Ne);
    assert_eq!(
        one("metrics.val.loss < 1").field,
        Field::Metric("val.loss".into())
    );
    assert_eq!(one("metrics.x <> 1").op, Op::Ne);
    assert_eq!(one("metrics.x == 1").op, Op::Eq);
    assert_eq!(one("metrics.x >= 1").op, Op::Ge);
    assert_eq!(one("params.p like 'a%'").op, Op::Like);
    assert_eq!(one("params.p ILIKE 'a%'").op, Op::ILike);
    assert_eq!(
        one("attributes.run_id IN ('a', 'b')").value,
        Value::List(vec!["a".into(), "b".into()])
    );
    assert_eq!(one("run_id not in ('a')").op, Op::NotIn);
    assert_eq!(
        one("dataset.name IN ('a')").field,
        Field::Dataset(DatasetField::Name)
    );
    assert_eq!(
        one("datasets.digest = 'd1'").field,
        Field::Dataset(DatasetField::Digest)
    );
    assert_eq!(
        one("dataset.context ILIKE 'train%'").field,
        Field::Dataset(DatasetField::Context)
    );
    assert_eq!(
        one("tag.`mlflow.prompt.is_prompt` != 'true'").field,
        Field::Tag("mlflow.prompt.is_prompt".into())
    );
    assert_eq!(
        one("tags.mlflow.parentRunId = 'x'").field,
        Field::Tag("mlflow.parentRunId".into())
    );
    assert_eq!(
        one("attributes.`Run name` = 'x'").field,
        Field::Attribute(Attribute::RunName)
    );
    assert_eq!(one("tags.t IS NULL").op, Op::IsNull);
    assert_eq!(one("tags.t is not null").op, Op::IsNotNull);
    assert_eq!(one("params.p = 'it''s'").value, Value::Text("it's".into()));
    assert_eq!(one("params.p = 'a\\'b'").value, Value::Text("a'b".into()));
    assert_eq!(
        one("attributes.start_time >= 1700000000000").field,
        Field::Attribute(Attribute::StartTime)
    );
    assert_eq!(
        one("attr.run_name = 'x'").field,
        Field::Attribute(Attribute::RunName)
    );
    assert_eq!(
        one("status = 'RUNNING'").field,
        Field::Attribute(Attribute::Status)
    );
    assert_eq!(one("m.auc > 1").field, Field::Metric("auc".into()));
}

fn err(s: &str) -> (usize, String) {
    let e = parse(s).expect_err(s);
    (e.position, e.message)
}

#[test]
fn errors_point_at_the_problem() {
    assert_eq!(err("metrics.auc > 'x'").0, 14);
    assert_eq!(err("metrics.auc >").0, 13);
    assert_eq!(err("metrics.auc 0.9").0, 12);
    assert_eq!(err("foo.auc > 1").0, 0);
    assert!(err("foo.auc > 1").1.contains("unknown entity 'foo'"));
    let (pos, msg) = err("metrics.a > 1 or metrics.b > 2");
    assert_eq!(pos, 14);
    assert!(msg.contains("OR is not supported"), "{msg}");
    assert_eq!(err("params.p > 'a'").0, 9);
    assert!(
        err("params.p > 'a'")
            .1
            .contains("not supported for strings")
    );
    assert_eq!(err("params.p = 1").0, 11);
    assert_eq!(err("params.p = 'abc").0, 11);
    assert!(err("params.p = 'abc").1.contains("unclosed"));
    assert_eq!(err("attributes.colour = 'red'").0, 11);
    assert_eq!(err("metrics.x LIKE 'a'").0, 10);
    assert_eq!(err("params.p IN 'a'").0, 12);
    // MLflow takes lists only for run ids and dataset fields.
    let (pos, msg) = err("params.p IN ('a', 'b')");
    assert_eq!(pos, 9);
    assert!(msg.contains("attributes.run_id"), "{msg}");
    assert_eq!(err("tags.t NOT IN ('a')").0, 7);
    assert_eq!(err("attributes.run_name IN ('r1', 'r2')").0, 20);
    assert_eq!(err("dataset.name IS NULL").0, 13);
    assert_eq!(err("dataset.size = '1'").0, 8);
    assert!(
        err("dataset.size = '1'")
            .1
            .contains("name, digest, context")
    );
    assert_eq!(err("dataset.name > 'a'").0, 13);
    // Datasets belong to runs only.
    assert!(parse_for("dataset.name = 'a'", Entity::RegisteredModels).is_err());
    assert!(parse_for("dataset.name = 'a'", Entity::LoggedModels).is_err());
    assert_eq!(err("params.p IN ('a' 'b')").0, 17);
    assert_eq!(err("metrics.a > 1 metrics.b > 2").0, 14);
    assert_eq!(err("metrics.a > 1 and").0, 17);
    assert_eq!(err("metrics.a # 1").0, 10);
    assert!(err("auc > 1").1.contains("metrics.auc"));
    // The message shows the filter and a caret under the position.
    let e = parse("metrics.auc > 'x'").unwrap_err().to_string();
    assert!(e.contains("position 14"), "{e}");
    assert!(
        e.contains("\n  metrics.auc > 'x'\n                ^"),
        "{e}"
    );
}

#[test]
fn order_by() {
    let o = OrderBy::parse("metrics.auc DESC").unwrap();
    assert_eq!(o.field, Field::Metric("auc".into()));
    assert!(o.descending);
    let o = OrderBy::parse("attributes.start_time").unwrap();
    assert_eq!(o.field, Field::Attribute(Attribute::StartTime));
    assert!(!o.descending);
    let o = OrderBy::parse("params.x asc").unwrap();
    assert_eq!(o.field, Field::Param("x".into()));
    let o = OrderBy::parse("start_time desc").unwrap();
    assert!(o.descending);
    let o = OrderBy::parse("metrics.`a b` DESC").unwrap();
    assert_eq!(o.field, Field::Metric("a b".into()));
    assert!(OrderBy::parse("metrics.auc sideways").is_err());
    assert!(OrderBy::parse("dataset.name").is_err());
    assert!(OrderBy::parse("bogus").is_err());
}
