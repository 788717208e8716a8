//! Properties of the filter and order-by grammar: no input makes it panic, and a condition
//! written out as text parses back to the same condition.

use proptest::prelude::*;
use whet_track::filter::{Entity, Field, Op, OrderBy, Value, parse, parse_for};

const ENTITIES: [Entity; 5] = [
    Entity::Runs,
    Entity::Experiments,
    Entity::RegisteredModels,
    Entity::ModelVersions,
    Entity::LoggedModels,
];

fn parse_everything(text: &str) {
    let _ = parse(text).map_err(|e| e.to_string());
    let _ = OrderBy::parse(text).map_err(|e| e.to_string());
    for entity in ENTITIES {
        let _ = parse_for(text, entity).map_err(|e| e.to_string());
        let _ = OrderBy::parse_for(text, entity).map_err(|e| e.to_string());
    }
}

/// Pieces of the grammar, so random sequences get past the tokenizer and into the parser.
const TOKENS: &[&str] = &[
    "metrics",
    "params",
    "tags",
    "attributes",
    "dataset",
    ".",
    "`a b`",
    "\"k\"",
    "'v'",
    "'",
    "\"",
    "`",
    "auc",
    "run_id",
    "status",
    "start_time",
    "name",
    "version_number",
    "=",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "LIKE",
    "ILIKE",
    "IN",
    "NOT",
    "IS",
    "NULL",
    "and",
    "AND",
    "or",
    "(",
    ")",
    ",",
    "1",
    "-1.5e3",
    "+.5",
    "1e",
    "-",
    "é",
    "日本",
    "\\",
    "'it''s'",
    " ",
    "DESC",
    "asc",
    "\u{0}",
    "%_",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        parse_everything(&text);
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..16),
                               spaced in any::<bool>()) {
        let text = tokens.join(if spaced { " " } else { "" });
        parse_everything(&text);
    }

    #[test]
    fn metric_condition_round_trips(key in "[a-z_][a-z0-9_.-]{0,12}",
                                    op in prop::sample::select(vec![
                                        ("=", Op::Eq), ("!=", Op::Ne), ("<", Op::Lt),
                                        ("<=", Op::Le), (">", Op::Gt), (">=", Op::Ge)]),
                                    number in -1e12f64..1e12) {
        let text = format!("metrics.`{key}` {} {number:?}", op.0);
        let conditions = parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(conditions.len(), 1);
        prop_assert_eq!(&conditions[0].field, &Field::Metric(key));
        prop_assert_eq!(conditions[0].op, op.1);
        prop_assert_eq!(&conditions[0].value, &Value::Number(number));
    }

    #[test]
    fn param_and_tag_conditions_round_trip(key in "[a-zA-Z_][a-zA-Z0-9_]{0,10}",
                                           value in "[^\\\\]{0,16}",
                                           tag in any::<bool>()) {
        // A quote inside the value is doubled, as SQL writes it.
        let quoted = value.replace('\'', "''");
        let kind = if tag { "tags" } else { "params" };
        let text = format!("{kind}.{key} = '{quoted}' and metrics.m >= 0");
        let conditions = parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(conditions.len(), 2);
        let field = if tag { Field::Tag(key) } else { Field::Param(key) };
        prop_assert_eq!(&conditions[0].field, &field);
        prop_assert_eq!(conditions[0].op, Op::Eq);
        prop_assert_eq!(&conditions[0].value, &Value::Text(value));
    }

    #[test]
    fn order_by_round_trips(key in "[a-z_][a-z0-9_]{0,10}", descending in any::<bool>()) {
        let text = format!("metrics.{key} {}", if descending { "DESC" } else { "ASC" });
        let order = OrderBy::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(order.field, Field::Metric(key));
        prop_assert_eq!(order.descending, descending);
    }
}
