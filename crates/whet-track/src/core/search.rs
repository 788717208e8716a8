//! `search_runs`: MLflow filter conditions and `order_by` strings translated to SQL with
//! bind parameters only, and page tokens that carry an offset and a fingerprint of the query
//! they belong to.

use super::runs::{RUN_COLUMNS, run_info_from_row};
use super::{Arg, Core, Sql};
use crate::error::{Error, Result};
use crate::filter::{self, Attribute, Field, Op, OrderBy, Value};
use crate::model::*;

const MAX_RESULTS_DEFAULT: usize = 1000;
const MAX_RESULTS_LIMIT: usize = 50_000;

impl Core {
    pub async fn search_runs(&self, s: &SearchRuns) -> Result<Page<Run>> {
        self.maybe_reap().await?;
        let conditions = filter::parse(&s.filter)?;
        let orders = s
            .order_by
            .iter()
            .map(|o| OrderBy::parse(o))
            .collect::<Result<Vec<_>, _>>()?;
        let limit = match s.max_results {
            0 => MAX_RESULTS_DEFAULT,
            n if n > MAX_RESULTS_LIMIT => {
                return Err(Error::Invalid(format!(
                    "max_results {n} is more than {MAX_RESULTS_LIMIT}\n  hint: page through the results with the page token"
                )));
            }
            n => n,
        };
        let fingerprint = query_fingerprint(s);
        let offset = match &s.page_token {
            Some(t) => decode_token(t, fingerprint)?,
            None => 0,
        };

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
            };
            order_sql.push(format!("{expr} {dir} NULLS LAST"));
        }
        if orders.is_empty() {
            order_sql.push("r.start_time DESC".to_string());
        }
        order_sql.push("r.run_uuid ASC".to_string());

        let mut wheres = Vec::new();
        if !s.include_deleted {
            wheres.push("r.lifecycle_stage = 'active'".to_string());
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
    }
}

fn attribute_column(a: Attribute) -> &'static str {
    a.column()
}

fn query_fingerprint(s: &SearchRuns) -> u64 {
    // FNV-1a: a token from one query must not silently page through another.
    let mut h: u64 = 0xcbf29ce484222325;
    let mut feed = |b: &[u8]| {
        for x in b {
            h ^= *x as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x100000001b3);
    };
    for e in &s.experiments {
        feed(&e.to_le_bytes());
    }
    feed(s.filter.as_bytes());
    for o in &s.order_by {
        feed(o.as_bytes());
    }
    feed(&[s.include_deleted as u8, (s.max_results % 251) as u8]);
    h
}

fn encode_token(offset: usize, fingerprint: u64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{offset}:{fingerprint:x}"))
}

fn decode_token(token: &str, fingerprint: u64) -> Result<usize> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| Error::PageToken("not a token this store issued".into()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::PageToken("not a token this store issued".into()))?;
    let mut parts = text.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(off), Some(fp)) => {
            if u64::from_str_radix(fp, 16).ok() != Some(fingerprint) {
                return Err(Error::PageToken(
                    "it belongs to a search with another filter, order or experiment list".into(),
                ));
            }
            off.parse()
                .map_err(|_| Error::PageToken("not a token this store issued".into()))
        }
        _ => Err(Error::PageToken("not a token this store issued".into())),
    }
}
