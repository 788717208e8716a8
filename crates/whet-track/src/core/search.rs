//! `search_runs`: MLflow filter conditions and `order_by` strings translated to SQL with
//! bind parameters only, and page tokens that carry an offset and a fingerprint of the query
//! they belong to.

use super::query::{self, decode_token, encode_token, page_size};
use super::runs::{RUN_COLUMNS, run_info_from_row};
use super::{Arg, AsyncStore, Sql};
use crate::error::Result;
use crate::filter::{self, Attribute, Field, Op, OrderBy, Value};
use crate::model::*;

/// MLflow's SEARCH_MAX_RESULTS_DEFAULT and SEARCH_MAX_RESULTS_THRESHOLD, which it applies to
/// runs and experiments alike.
pub(super) const MAX_RESULTS_DEFAULT: usize = 1000;
pub(super) const MAX_RESULTS_LIMIT: usize = 50_000;

impl AsyncStore {
    pub async fn search_runs(&self, s: &SearchRuns) -> Result<Page<Run>> {
        self.maybe_reap().await?;
        let conditions = filter::parse(&s.filter)?;
        let orders = s
            .order_by
            .iter()
            .map(|o| OrderBy::parse(o))
            .collect::<Result<Vec<_>, _>>()?;
        let limit = page_size(s.max_results, MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT)?;
        let fingerprint = query_fingerprint(s);
        let offset = decode_token(s.page_token.as_deref(), fingerprint)?;

        let mut sql = Sql::new(self.backend);
        let mut joins = String::new();
        let mut order_sql = Vec::new();
        // Metrics the filter compares: every result has them, and not NaN.
        let filtered: Vec<&String> = conditions
            .iter()
            .filter_map(|c| match &c.field {
                Field::Metric(k) => Some(k),
                _ => None,
            })
            .collect();
        for (i, o) in orders.iter().enumerate() {
            let dir = if o.descending { "DESC" } else { "ASC" };
            let expr = match &o.field {
                Field::Metric(k) if filtered.contains(&k) => {
                    // An inner join on a plain column lets the planner walk the (key, value)
                    // index in order and stop at the page: 30 ms -> 0.2 ms at 20,000 runs.
                    // Repeating the filter's bounds here gives it the range to start from.
                    let p = sql.arg(Arg::S(k.clone()));
                    let mut on =
                        format!("o{i}.run_key = r.run_key AND o{i}.key = {p} AND o{i}.is_nan = 0");
                    for c in &conditions {
                        if let (Field::Metric(ck), Value::Number(n)) = (&c.field, &c.value)
                            && ck == k
                        {
                            let a = sql.arg(Arg::F(*n));
                            on.push_str(&format!(" AND o{i}.value {} {a}", c.op.sql()));
                        }
                    }
                    joins.push_str(&format!(" JOIN latest_metrics o{i} ON {on}"));
                    format!("o{i}.value")
                }
                Field::Metric(k) => {
                    let p = sql.arg(Arg::S(k.clone()));
                    joins.push_str(&format!(
                        " LEFT JOIN latest_metrics o{i} ON o{i}.run_key = r.run_key AND o{i}.key = {p}"
                    ));
                    format!("CASE WHEN o{i}.is_nan = 1 THEN NULL ELSE o{i}.value END")
                }
                Field::Param(k) | Field::Tag(k) => {
                    let table = if matches!(o.field, Field::Param(_)) {
                        "params"
                    } else {
                        "tags"
                    };
                    let p = sql.arg(Arg::S(k.clone()));
                    joins.push_str(&format!(
                        " LEFT JOIN {table} o{i} ON o{i}.run_key = r.run_key AND o{i}.key = {p}"
                    ));
                    format!("o{i}.value")
                }
                Field::Attribute(a) => format!("r.{}", a.column()),
                // The runs grammar never yields a column; kept total for the type's sake.
                Field::Column(c) => format!("r.{}", c.name),
            };
            order_sql.push(format!("{expr} {dir} NULLS LAST"));
        }
        if orders.is_empty() {
            order_sql.push("r.start_time DESC".to_string());
        }
        order_sql.push("r.run_uuid ASC".to_string());

        let mut wheres = Vec::new();
        match s.view {
            ViewType::ActiveOnly => wheres.push("r.lifecycle_stage = 'active'".to_string()),
            ViewType::DeletedOnly => wheres.push("r.lifecycle_stage = 'deleted'".to_string()),
            ViewType::All => {}
        }
        if !s.experiments.is_empty() {
            let list = s
                .experiments
                .iter()
                .map(|e| sql.arg(Arg::I(*e)))
                .collect::<Vec<_>>()
                .join(", ");
            wheres.push(format!("r.experiment_id IN ({list})"));
        }
        for c in &conditions {
            wheres.push(condition_sql(&mut sql, c));
        }
        let lim = sql.arg(Arg::I(limit as i64 + 1));
        let off = sql.arg(Arg::I(offset as i64));
        sql.text = format!(
            "SELECT {RUN_COLUMNS} FROM runs r{joins}{} ORDER BY {} LIMIT {lim} OFFSET {off}",
            if wheres.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", wheres.join(" AND "))
            },
            order_sql.join(", ")
        );
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("search runs"))?;
        let more = rows.len() > limit;
        let infos = rows
            .iter()
            .take(limit)
            .map(run_info_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("search runs"))?;
        let items = self.attach_data(infos).await?;
        let next_page_token = more.then(|| encode_token(offset + limit, fingerprint));
        Ok(Page {
            items,
            next_page_token,
        })
    }
}

fn condition_sql(sql: &mut Sql, c: &filter::Condition) -> String {
    let rhs = |sql: &mut Sql, value: &Value| -> String {
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
    };
    let compare = |sql: &mut Sql, col: &str| -> String {
        match c.op {
            Op::IsNull | Op::IsNotNull => format!("{col} {}", c.op.sql()),
            Op::ILike => format!("LOWER({col}) LIKE LOWER({})", rhs(sql, &c.value)),
            op => format!("{col} {} {}", op.sql(), rhs(sql, &c.value)),
        }
    };
    match &c.field {
        Field::Metric(k) => {
            let key = sql.arg(Arg::S(k.clone()));
            let cmp = compare(sql, "m.value");
            format!(
                "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_key = r.run_key AND m.key = {key} AND m.is_nan = 0 AND {cmp})"
            )
        }
        Field::Param(k) | Field::Tag(k) => {
            let table = if matches!(c.field, Field::Param(_)) {
                "params"
            } else {
                "tags"
            };
            let key = sql.arg(Arg::S(k.clone()));
            match c.op {
                Op::IsNull => format!(
                    "NOT EXISTS (SELECT 1 FROM {table} x WHERE x.run_key = r.run_key AND x.key = {key})"
                ),
                Op::IsNotNull => format!(
                    "EXISTS (SELECT 1 FROM {table} x WHERE x.run_key = r.run_key AND x.key = {key})"
                ),
                _ => {
                    let cmp = compare(sql, "x.value");
                    format!(
                        "EXISTS (SELECT 1 FROM {table} x WHERE x.run_key = r.run_key AND x.key = {key} AND {cmp})"
                    )
                }
            }
        }
        Field::Attribute(a) => compare(sql, &format!("r.{}", attribute_column(*a))),
        Field::Column(col) => compare(sql, &format!("r.{}", col.name)),
    }
}

fn attribute_column(a: Attribute) -> &'static str {
    a.column()
}

fn query_fingerprint(s: &SearchRuns) -> u64 {
    let experiments: Vec<[u8; 8]> = s.experiments.iter().map(|e| e.to_le_bytes()).collect();
    let tail = [s.view as u8, (s.max_results % 251) as u8];
    query::fingerprint(
        experiments
            .iter()
            .map(|e| e.as_slice())
            .chain([s.filter.as_bytes()])
            .chain(s.order_by.iter().map(|o| o.as_bytes()))
            .chain([tail.as_slice()]),
    )
}
