//! What every search shares: `max_results` limits, page tokens (an offset and a fingerprint
//! of the query they belong to), and filter conditions and `order_by` entries turned into SQL
//! for the searches other than runs' (experiments, registered models, model versions, logged
//! models), with bind parameters only.

use super::{Arg, Sql};
use crate::error::{Error, Result};
use crate::filter::{Condition, Field, Op, OrderBy, Value};
use crate::schema::Backend;

/// `max_results` as a search takes it: 0 means `default`, above `limit` is an error (MLflow
/// refuses too: INVALID_PARAMETER_VALUE).
pub(super) fn page_size(max_results: usize, default: usize, limit: usize) -> Result<usize> {
    match max_results {
        0 => Ok(default),
        n if n > limit => Err(Error::Invalid(format!(
            "max_results {n} is more than {limit}\n  hint: page through the results with the page token"
        ))),
        n => Ok(n),
    }
}

/// FNV-1a over the parts of a query: a token from one query must not silently page through
/// another. Each part is followed by a separator so that ("ab", "c") and ("a", "bc") differ.
pub(super) fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for part in parts {
        for x in part {
            h ^= *x as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub(super) fn encode_token(offset: usize, fingerprint: u64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{offset}:{fingerprint:x}"))
}

/// The offset a page token carries; None (no token) is the first page.
pub(super) fn decode_token(token: Option<&str>, fingerprint: u64) -> Result<usize> {
    use base64::Engine;
    let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
        return Ok(0);
    };
    let foreign = || Error::PageToken("not a token this store issued".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| foreign())?;
    let text = String::from_utf8(bytes).map_err(|_| foreign())?;
    let mut parts = text.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(off), Some(fp)) => {
            if u64::from_str_radix(fp, 16).ok() != Some(fingerprint) {
                return Err(Error::PageToken(
                    "it belongs to a search with another filter, order or scope".into(),
                ));
            }
            off.parse().map_err(|_| foreign())
        }
        _ => Err(foreign()),
    }
}

/// A side table holding key/value rows for the searched table: `link` joins its alias `x`
/// to the searched row, e.g. `x.experiment_id = e.experiment_id`.
#[derive(Clone, Copy)]
pub(super) struct Side {
    pub table: &'static str,
    pub link: &'static str,
}

/// The table a search reads and the side tables its filter may name.
pub(super) struct Searched {
    /// The searched table's alias in the query.
    pub alias: &'static str,
    pub tags: Option<Side>,
    pub params: Option<Side>,
    /// Metric rows with `key`, `value` and `is_nan`; a condition matches when any row does
    /// (MLflow's logged-model search joins every metric row, not only the latest).
    pub metrics: Option<Side>,
}

fn rhs(sql: &mut Sql, value: &Value) -> String {
    match value {
        Value::Number(n) => sql.arg(Arg::F(*n)),
        Value::Text(s) => sql.arg(Arg::S(s.clone())),
        Value::List(items) => format!(
            "({})",
            items
                .iter()
                .map(|s| sql.arg(Arg::S(s.clone())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::None => String::new(),
    }
}

/// `col <op> value` with ILIKE as a lower-cased LIKE (SQLite has no ILIKE, and its LIKE is
/// made case-sensitive on open so that both back ends agree).
pub(super) fn compare(sql: &mut Sql, c: &Condition, col: &str) -> String {
    match c.op {
        Op::IsNull | Op::IsNotNull => format!("{col} {}", c.op.sql()),
        Op::ILike => format!("LOWER({col}) LIKE LOWER({})", rhs(sql, &c.value)),
        op => format!("{col} {} {}", op.sql(), rhs(sql, &c.value)),
    }
}

/// One condition as a SQL boolean over the searched row. Tags, params and metrics become
/// EXISTS subqueries, so a row without the key never matches (MLflow joins them the same
/// way, so `tags.x != 'a'` does not match rows without tag x); `IS NULL` means "has no such
/// key".
pub(super) fn condition(sql: &mut Sql, c: &Condition, on: &Searched) -> Result<String> {
    let side = |s: Option<Side>, what: &str| {
        s.ok_or_else(|| Error::Invalid(format!("this search cannot filter on {what}")))
    };
    let (side, key, metric) = match &c.field {
        Field::Column(col) => return Ok(compare(sql, c, &format!("{}.{}", on.alias, col.name))),
        Field::Attribute(_) | Field::Dataset(_) => {
            return Err(Error::Invalid(
                "run attributes and datasets can only be searched in runs".into(),
            ));
        }
        Field::Tag(k) => (side(on.tags, "tags")?, k, false),
        Field::Param(k) => (side(on.params, "params")?, k, false),
        Field::Metric(k) => (side(on.metrics, "metrics")?, k, true),
    };
    let key = sql.arg(Arg::S(key.clone()));
    let base = format!(
        "SELECT 1 FROM {} x WHERE {} AND x.key = {key}",
        side.table, side.link
    );
    Ok(match c.op {
        Op::IsNull => format!("NOT EXISTS ({base})"),
        Op::IsNotNull => format!("EXISTS ({base})"),
        _ => {
            let cmp = compare(sql, c, "x.value");
            let nan = if metric { " AND x.is_nan = 0" } else { "" };
            format!("EXISTS ({base}{nan} AND {cmp})")
        }
    })
}

/// An `order_by` column of the searched table: `alias.column DIR`, strings in byte order
/// (as MLflow's SQLite store sorts them) on both back ends. Only attributes sort these
/// searches (MLflow's rule for experiments and the registry); metric ordering of logged
/// models is built where it is used.
pub(super) fn order_column(
    o: &OrderBy,
    alias: &str,
    backend: Backend,
) -> Result<(String, &'static str)> {
    match &o.field {
        Field::Column(c) => Ok((
            format!(
                "{alias}.{}{} {}",
                c.name,
                if c.numeric {
                    ""
                } else {
                    super::search::byte_collation(backend)
                },
                if o.descending { "DESC" } else { "ASC" }
            ),
            c.name,
        )),
        _ => Err(Error::Invalid(
            "only attributes can order this search (e.g. name, creation_time)".into(),
        )),
    }
}

/// Parses `order_by` strings for `entity`, refusing a field named twice as MLflow does.
pub(super) fn parse_orders(
    order_by: &[String],
    entity: crate::filter::Entity,
) -> Result<Vec<OrderBy>> {
    let mut out: Vec<OrderBy> = Vec::with_capacity(order_by.len());
    for o in order_by {
        let parsed = OrderBy::parse_for(o, entity)?;
        if out.iter().any(|p| p.field == parsed.field) {
            return Err(Error::Invalid(format!(
                "order_by names the same field twice: {}",
                order_by.join(", ")
            )));
        }
        out.push(parsed);
    }
    Ok(out)
}

/// The tag MLflow marks prompts with: they are registered models (and versions) too.
pub(super) const IS_PROMPT_TAG: &str = "mlflow.prompt.is_prompt";

/// MLflow's registry searches list models, not prompts, unless the filter asks for prompts
/// (`tags.`mlflow.prompt.is_prompt` = 'true'` or `!= 'false'`, any case). Otherwise every
/// condition on that tag is dropped (its clients always append `!= 'true'`, which models
/// without the tag must pass) and rows of a model tagged as a prompt are left out. Returns
/// the conditions to apply and whether to leave prompts out.
pub(super) fn prompt_filter(conditions: Vec<Condition>) -> (Vec<Condition>, bool) {
    let asks_for_prompts = conditions
        .iter()
        .find(|c| matches!(&c.field, Field::Tag(k) if k == IS_PROMPT_TAG))
        .is_some_and(|c| match (&c.op, &c.value) {
            (Op::Eq, Value::Text(v)) => v.eq_ignore_ascii_case("true"),
            (Op::Ne, Value::Text(v)) => v.eq_ignore_ascii_case("false"),
            _ => false,
        });
    if asks_for_prompts {
        return (conditions, false);
    }
    let kept = conditions
        .into_iter()
        .filter(|c| !matches!(&c.field, Field::Tag(k) if k == IS_PROMPT_TAG))
        .collect();
    (kept, true)
}

/// `NOT EXISTS` a prompt tag on the model named `name_column`, in `tag_table`.
pub(super) fn not_a_prompt(sql: &mut Sql, tag_table: &str, name_column: &str) -> String {
    let key = sql.arg(Arg::S(IS_PROMPT_TAG.to_string()));
    format!(
        "NOT EXISTS (SELECT 1 FROM {tag_table} p WHERE p.name = {name_column} AND p.key = {key} AND p.value = 'true')"
    )
}

/// `WHERE a AND b …`, or nothing.
pub(super) fn where_clause(wheres: &[String]) -> String {
    if wheres.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", wheres.join(" AND "))
    }
}
