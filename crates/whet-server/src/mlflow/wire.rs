//! MLflow's JSON on the wire: how requests are read and responses written.
//!
//! MLflow's messages are protobuf rendered as JSON: numbers may arrive as JSON numbers or as
//! strings (int64 fields, and doubles that are NaN or infinite: `"NaN"`, `"Infinity"`,
//! `"-Infinity"`), ids are strings, times are milliseconds since the epoch, and fields holding
//! their default value (empty lists, empty strings) may be left out. Readers here accept every
//! form the client sends; writers emit the form MLflow's server emits.

use std::fmt;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorCode};

/// A request body, or the query string of a GET: MLflow's client sends GET parameters in the
/// query and everything else as JSON. Malformed input is a 400 naming the problem.
pub struct Input<T>(pub T);

impl<S, T> FromRequest<S> for Input<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let method = req.method().clone();
        if method == axum::http::Method::GET || method == axum::http::Method::DELETE {
            // DELETE carries a JSON body in MLflow's client, GET a query string; accept
            // either for both.
            let query = req.uri().query().unwrap_or("").to_string();
            let bytes = Bytes::from_request(req, state)
                .await
                .map_err(|e| body_error(&e.body_text()))?;
            if !bytes.iter().all(u8::is_ascii_whitespace) {
                return parse_json(&bytes).map(Input);
            }
            return parse_query(&query).map(Input);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(&e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return parse_json(b"{}").map(Input);
        }
        parse_json(&bytes).map(Input)
    }
}

/// The query string alone, for handlers that also take a raw body.
pub struct QueryInput<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryInput<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(QueryInput)
    }
}

fn body_error(text: &str) -> ApiError {
    if text.contains("length limit") || text.contains("too large") {
        ApiError::new(
            ErrorCode::RequestLimitExceeded,
            format!("request body too large: {text}"),
        )
        .with_status(axum::http::StatusCode::PAYLOAD_TOO_LARGE)
    } else {
        ApiError::bad_request(format!("cannot read the request body: {text}"))
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Straight into the message: a 1,000-metric log-batch as a JSON tree, copied once more
    // for the error message, cost a quarter of the request. Anything that fails here is read
    // again the slow way, which names the bad field (or accepts what only a tree accepts,
    // such as a repeated key).
    if let Ok(message) = serde_json::from_slice::<T>(bytes) {
        return Ok(message);
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON in the request body: {e}")))?;
    from_value_named(value)
}

/// Reads a message from parsed JSON. A value of the wrong type is INVALID_PARAMETER_VALUE in
/// MLflow's words, naming the field and the value as sent (`Invalid value 31 for parameter
/// 'run_id' supplied: ...`), which is what clients and MLflow's own tests match on.
fn from_value_named<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    let original = value.clone();
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = e.path().to_string();
        let mut reason = e.inner().to_string();
        let mut bad = lookup(&original, e.path()).filter(|_| path != ".");
        // A flattened part of a message loses the field's name: find the field that fails
        // on its own.
        if bad.is_none()
            && let Value::Object(fields) = &original
        {
            for (key, v) in fields {
                let alone = Value::Object([(key.clone(), v.clone())].into_iter().collect());
                if let Err(e) = serde_path_to_error::deserialize::<_, T>(alone) {
                    path = key.clone();
                    reason = e.inner().to_string();
                    bad = Some(v);
                    break;
                }
            }
        }
        match bad {
            Some(bad) => ApiError::invalid(format!(
                "Invalid value {bad} for parameter '{path}' supplied: {reason}. See the API docs for more information about request parameters."
            )),
            None => ApiError::invalid(format!("invalid value in the request: {reason}")),
        }
    })
}

/// The JSON value at a deserializer path, if the path leads to one.
fn lookup<'a>(root: &'a Value, path: &serde_path_to_error::Path) -> Option<&'a Value> {
    let mut at = root;
    for segment in path.iter() {
        at = match segment {
            serde_path_to_error::Segment::Map { key } => at.get(key.as_str())?,
            serde_path_to_error::Segment::Seq { index } => at.get(*index)?,
            _ => return None,
        };
    }
    Some(at)
}

/// Query strings: repeated keys become arrays (`experiment_ids=1&experiment_ids=2`), values
/// stay strings (the lenient readers below turn them into numbers).
fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let mut map = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(k)?;
        let value = Value::String(percent_decode(v)?);
        if QUERY_LISTS.contains(&key.as_str()) && !map.contains_key(&key) {
            map.insert(key, Value::Array(vec![value]));
            continue;
        }
        match map.get_mut(&key) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                map.insert(key, value);
            }
        }
    }
    from_value_named(Value::Object(map))
}

pub fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| ApiError::bad_request(format!("bad %-escape in '{s}'")))?;
                out.push(hex);
                i += 2;
            }
            b'%' => return Err(ApiError::bad_request(format!("bad %-escape in '{s}'"))),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request(format!("'{s}' is not UTF-8")))
}

/// An int64 given as a JSON number or a numeric string.
pub fn int_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom("integer out of range"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.fract() == 0.0 && v.abs() < 9.2e18 {
                Ok(Some(v as i64))
            } else {
                Err(E::custom(format!("{v} is not an integer")))
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.is_empty() {
                return Ok(None);
            }
            v.trim()
                .parse()
                .map(Some)
                .map_err(|_| E::custom(format!("'{v}' is not an integer")))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// A double given as a JSON number or a string (`"NaN"`, `"Infinity"`, `"-Infinity"`, or a
/// number in text).
pub fn float_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match v.trim() {
                "NaN" | "nan" => Ok(Some(f64::NAN)),
                "Infinity" | "inf" | "+Infinity" => Ok(Some(f64::INFINITY)),
                "-Infinity" | "-inf" => Ok(Some(f64::NEG_INFINITY)),
                t => t
                    .parse()
                    .map(Some)
                    .map_err(|_| E::custom(format!("'{v}' is not a number"))),
            }
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// A string field. Like MLflow's server, a number or any other JSON type where a string
/// belongs is INVALID_PARAMETER_VALUE rather than silently converted.
pub fn string_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(expected("a string", "a boolean"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(expected("a string", "a number"))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(expected("a string", "a number"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(expected("a string", "a number"))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(expected("a string", "a list"))
        }
        fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(expected("a string", "an object"))
        }
    }
    d.deserialize_option(V)
}

/// MLflow-style wording for a value of the wrong JSON type.
fn expected<E: de::Error>(want: &str, got: &str) -> E {
    E::custom(format!("expected {want}, got {got}"))
}

/// A repeated field: a JSON list (a query string's list fields arrive as lists too, see
/// [`QUERY_LISTS`]). A single value where a list belongs is INVALID_PARAMETER_VALUE, as in
/// MLflow.
pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    // A visitor rather than a JSON tree first: a 1,000-metric log-batch read through a tree
    // allocated a map per metric.
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(item) = seq.next_element::<T>()? {
                items.push(item);
            }
            Ok(items)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(expected("a list", "a string"))
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(expected("a list", "a boolean"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(expected("a list", "a number"))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(expected("a list", "a number"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(expected("a list", "a number"))
        }
        fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(expected("a list", "an object"))
        }
    }
    d.deserialize_option(V(std::marker::PhantomData))
}

/// The repeated fields of MLflow's GET requests: in a query string they are lists even when
/// the key appears once.
const QUERY_LISTS: &[&str] = &[
    "experiment_ids",
    "order_by",
    "run_ids",
    "stages",
    "run_id_list",
];

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct KeyValue {
    #[serde(default, deserialize_with = "string_opt")]
    pub key: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    pub value: Option<String>,
}

/// A double as MLflow writes it: a JSON number, or a string for NaN and the infinities.
pub fn float_json(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v == f64::INFINITY {
        json!("Infinity")
    } else if v == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(v)
    }
}

/// `[{key, value}]` from pairs, the way MLflow lists tags and params.
pub fn pairs_json<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    Value::Array(
        pairs
            .into_iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

/// A required string field, or INVALID_PARAMETER_VALUE naming it the way MLflow does.
pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    match value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::invalid(format!(
            "Missing value for required parameter '{name}'. See the API docs for more information about request parameters."
        ))),
    }
}

/// An experiment id as MLflow sends it (a string of digits).
pub fn experiment_id(value: &Option<String>, name: &str) -> Result<i64, ApiError> {
    let v = required(value, name)?;
    v.parse().map_err(|_| {
        ApiError::invalid(format!(
            "Invalid value '{v}' for parameter '{name}': experiment ids are whole numbers"
        ))
    })
}
