//! MLflow's filter syntax: `metrics.auc > 0.9 and params.learner = 'gbdt'`.
//!
//! A hand-written tokenizer and recursive-descent parser produce a list of conditions joined
//! by AND (MLflow has no OR). Values are never spliced into SQL: `search` turns each condition
//! into a fragment with bind parameters.
//!
//! One grammar serves every search; the [`Entity`] searched decides which names it accepts:
//! runs have metrics, params, tags and the attributes of [`Attribute`]; experiments, registered
//! models and model versions have tags and a few attributes ([`Field::Column`]); logged models
//! have metrics, params, tags and attributes. Runs can also be filtered on their dataset inputs
//! (`dataset.name`, `dataset.digest`, `dataset.context`, [`Field::Dataset`]).
//!
//! MLflow's type rules are kept: metrics and times compare with numbers; params, tags and
//! string attributes with strings; `IN`/`NOT IN` lists only for `attributes.run_id`, dataset
//! fields and the registry's name and id columns. [`parse`] and [`OrderBy::parse`] are the runs'
//! grammar, as before; [`parse_for`] and [`OrderBy::parse_for`] take the entity.

use std::fmt;

mod entities;

pub use entities::{Column, Entity};

/// What a condition is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Metric(String),
    Param(String),
    Tag(String),
    /// A run attribute (searches over runs).
    Attribute(Attribute),
    /// An attribute of another entity: a column of the table searched.
    Column(Column),
    /// A field of the runs' dataset inputs: matches runs having such an input.
    Dataset(DatasetField),
}

/// What a `dataset.<key>` condition of a runs filter looks at (MLflow's dataset search keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetField {
    Name,
    Digest,
    /// The input's `mlflow.data.context` tag, e.g. "training".
    Context,
}

impl DatasetField {
    pub fn parse(name: &str) -> Option<DatasetField> {
        Some(match name {
            "name" => DatasetField::Name,
            "digest" => DatasetField::Digest,
            "context" => DatasetField::Context,
            _ => return None,
        })
    }
}

/// Run attributes that can be filtered and ordered on. Names follow MLflow's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    RunId,
    RunName,
    Status,
    StartTime,
    EndTime,
    UserId,
    ArtifactUri,
    ParentRunId,
    DataFingerprint,
    SourceCommand,
}

impl Attribute {
    pub fn parse(name: &str) -> Option<Attribute> {
        Some(match name {
            "run_id" | "run_uuid" => Attribute::RunId,
            "run_name" | "name" | "run name" | "Run name" | "Run Name" => Attribute::RunName,
            "status" => Attribute::Status,
            "start_time" | "created" | "Created" => Attribute::StartTime,
            "end_time" => Attribute::EndTime,
            "user_id" | "user" => Attribute::UserId,
            "artifact_uri" => Attribute::ArtifactUri,
            "parent_run_id" => Attribute::ParentRunId,
            "data_fingerprint" => Attribute::DataFingerprint,
            "source_command" => Attribute::SourceCommand,
            _ => return None,
        })
    }

    /// The column in table `runs`.
    pub fn column(self) -> &'static str {
        match self {
            Attribute::RunId => "run_uuid",
            Attribute::RunName => "name",
            Attribute::Status => "status",
            Attribute::StartTime => "start_time",
            Attribute::EndTime => "end_time",
            Attribute::UserId => "user_id",
            Attribute::ArtifactUri => "artifact_uri",
            Attribute::ParentRunId => "parent_run_uuid",
            Attribute::DataFingerprint => "data_fingerprint",
            Attribute::SourceCommand => "source_command",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, Attribute::StartTime | Attribute::EndTime)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

impl Op {
    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Like => "LIKE",
            Op::ILike => "LIKE",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::IsNull => "IS NULL",
            Op::IsNotNull => "IS NOT NULL",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    List(Vec<String>),
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: Field,
    pub op: Op,
    pub value: Value,
}

/// A filter that could not be parsed: what was wrong and where (a character offset).
#[derive(Debug, Clone, PartialEq)]
pub struct FilterError {
    pub message: String,
    pub position: usize,
    pub input: String,
    /// What valid conditions look like for the search this filter was for.
    pub hint: &'static str,
    /// What was being parsed: "filter", or "sort order" for an `order_by` entry.
    pub what: &'static str,
}

impl FilterError {
    fn in_order_by(mut self) -> FilterError {
        self.what = "sort order";
        self.hint = "give one field, then ASC (the default) or DESC, e.g. metrics.auc DESC or attributes.start_time";
        self
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid {} at position {}: {}",
            self.what, self.position, self.message
        )?;
        writeln!(f, "  {}", self.input)?;
        write!(f, "  {}^", " ".repeat(self.position))?;
        write!(f, "\n  hint: {}", self.hint)
    }
}

impl std::error::Error for FilterError {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A key in backticks or double quotes after `metrics.` etc.
    Quoted(String),
    Str(String),
    Num(f64),
    Dot,
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    input: &'a str,
    entity: Entity,
}

impl<'a> Lexer<'a> {
    fn err(&self, position: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            message: message.into(),
            position,
            input: self.input.to_string(),
            hint: self.entity.hint(),
            what: "filter",
        }
    }

    fn tokens(mut self) -> Result<Vec<(usize, Tok)>, FilterError> {
        let mut out = Vec::new();
        while self.pos < self.chars.len() {
            let c = self.chars[self.pos];
            let start = self.pos;
            if c.is_whitespace() {
                self.pos += 1;
                continue;
            }
            let tok = match c {
                '(' => {
                    self.pos += 1;
                    Tok::LParen
                }
                ')' => {
                    self.pos += 1;
                    Tok::RParen
                }
                ',' => {
                    self.pos += 1;
                    Tok::Comma
                }
                '.' if !self.peek_is_digit(1) => {
                    self.pos += 1;
                    Tok::Dot
                }
                '\'' | '"' | '`' => {
                    let s = self.quoted(c)?;
                    if c == '`' {
                        Tok::Quoted(s)
                    } else if c == '"' && matches!(out.last(), Some((_, Tok::Dot))) {
                        // MLflow accepts metrics."my key" as well as backticks.
                        Tok::Quoted(s)
                    } else {
                        Tok::Str(s)
                    }
                }
                '=' => {
                    self.pos += 1;
                    if self.peek(0) == Some('=') {
                        self.pos += 1;
                    }
                    Tok::Op("=")
                }
                '!' => {
                    if self.peek(1) == Some('=') {
                        self.pos += 2;
                        Tok::Op("!=")
                    } else {
                        return Err(self.err(start, "expected '!='"));
                    }
                }
                '<' => {
                    self.pos += 1;
                    match self.peek(0) {
                        Some('=') => {
                            self.pos += 1;
                            Tok::Op("<=")
                        }
                        Some('>') => {
                            self.pos += 1;
                            Tok::Op("!=")
                        }
                        _ => Tok::Op("<"),
                    }
                }
                '>' => {
                    self.pos += 1;
                    if self.peek(0) == Some('=') {
                        self.pos += 1;
                        Tok::Op(">=")
                    } else {
                        Tok::Op(">")
                    }
                }
                c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => self.number()?,
                c if c.is_alphanumeric() || c == '_' => {
                    while let Some(c) = self.peek(0) {
                        if c.is_alphanumeric() || c == '_' || c == '-' || c == '/' || c == ':' {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                    Tok::Ident(self.chars[start..self.pos].iter().collect())
                }
                other => return Err(self.err(start, format!("unexpected character '{other}'"))),
            };
            out.push((start, tok));
        }
        Ok(out)
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn peek_is_digit(&self, ahead: usize) -> bool {
        self.peek(ahead).is_some_and(|c| c.is_ascii_digit())
    }

    fn quoted(&mut self, quote: char) -> Result<String, FilterError> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek(0) {
                None => return Err(self.err(start, format!("unclosed {quote} quote"))),
                Some('\\') if quote != '`' && self.peek(1).is_some() => {
                    s.push(self.chars[self.pos + 1]);
                    self.pos += 2;
                }
                Some(c) if c == quote => {
                    // SQL style: a doubled quote stands for itself.
                    if self.peek(1) == Some(quote) {
                        s.push(quote);
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                        return Ok(s);
                    }
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn number(&mut self) -> Result<Tok, FilterError> {
        let start = self.pos;
        if matches!(self.peek(0), Some('-') | Some('+')) {
            self.pos += 1;
        }
        while let Some(c) = self.peek(0) {
            let exp_sign = (c == '-' || c == '+')
                && matches!(
                    self.chars.get(self.pos.wrapping_sub(1)),
                    Some('e') | Some('E')
                );
            if c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || exp_sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse::<f64>()
            .map(Tok::Num)
            .map_err(|_| self.err(start, format!("'{text}' is not a number")))
    }
}

impl<'a> Parser<'a> {
    /// A parser over the tokens of `text`, a part of `input` (which error messages quote).
    fn over(text: &str, input: &'a str, entity: Entity) -> Result<Parser<'a>, FilterError> {
        let lexer = Lexer {
            chars: text.chars().collect(),
            pos: 0,
            input,
            entity,
        };
        let end = lexer.chars.len();
        let tokens = lexer.tokens()?;
        Ok(Parser {
            tokens,
            i: 0,
            input,
            end,
            entity,
        })
    }
}

/// Parses a runs filter; an empty or blank string means "no conditions".
pub fn parse(input: &str) -> Result<Vec<Condition>, FilterError> {
    parse_for(input, Entity::Runs)
}

/// Parses a filter for a search over `entity`; an empty or blank string means "no
/// conditions".
pub fn parse_for(input: &str, entity: Entity) -> Result<Vec<Condition>, FilterError> {
    let mut p = Parser::over(input, input, entity)?;
    let mut out = Vec::new();
    if p.tokens.is_empty() {
        return Ok(out);
    }
    loop {
        out.push(p.condition()?);
        match p.next() {
            None => break,
            Some((_, Tok::Ident(w))) if w.eq_ignore_ascii_case("and") => continue,
            Some((pos, Tok::Ident(w))) if w.eq_ignore_ascii_case("or") => {
                return Err(p.err(pos, "OR is not supported; join conditions with AND"));
            }
            Some((pos, _)) => return Err(p.err(pos, "expected AND or the end of the filter")),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<(usize, Tok)>,
    i: usize,
    input: &'a str,
    end: usize,
    entity: Entity,
}

impl Parser<'_> {
    fn err(&self, position: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            message: message.into(),
            position,
            input: self.input.to_string(),
            hint: self.entity.hint(),
            what: "filter",
        }
    }

    /// An attribute name of the entity searched.
    fn attribute(&self, name: &str) -> Option<Field> {
        match self.entity {
            Entity::Runs => Attribute::parse(name).map(Field::Attribute),
            e => e.column(name).map(Field::Column),
        }
    }

    fn next(&mut self) -> Option<(usize, Tok)> {
        let t = self.tokens.get(self.i).cloned();
        if t.is_some() {
            self.i += 1;
        }
        t
    }

    fn here(&self) -> usize {
        self.tokens.get(self.i).map(|t| t.0).unwrap_or(self.end)
    }

    fn condition(&mut self) -> Result<Condition, FilterError> {
        let (field_pos, field) = self.field()?;
        let op_pos = self.here();
        let op = match self.next() {
            Some((_, Tok::Op(o))) => match o {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            Some((_, Tok::Ident(w))) => match w.to_ascii_uppercase().as_str() {
                "LIKE" => Op::Like,
                "ILIKE" => Op::ILike,
                "IN" => Op::In,
                "NOT" => match self.next() {
                    Some((_, Tok::Ident(w))) if w.eq_ignore_ascii_case("in") => Op::NotIn,
                    _ => return Err(self.err(op_pos, "expected NOT IN")),
                },
                "IS" => match self.next() {
                    Some((_, Tok::Ident(w))) if w.eq_ignore_ascii_case("null") => Op::IsNull,
                    Some((_, Tok::Ident(w))) if w.eq_ignore_ascii_case("not") => {
                        match self.next() {
                            Some((_, Tok::Ident(w))) if w.eq_ignore_ascii_case("null") => {
                                Op::IsNotNull
                            }
                            _ => return Err(self.err(op_pos, "expected IS NOT NULL")),
                        }
                    }
                    _ => return Err(self.err(op_pos, "expected IS NULL or IS NOT NULL")),
                },
                _ => return Err(self.err(op_pos, format!("unknown comparator '{w}'"))),
            },
            _ => {
                return Err(self.err(
                    op_pos,
                    "expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL)",
                ));
            }
        };
        let value_pos = self.here();
        let value = match op {
            Op::IsNull | Op::IsNotNull => Value::None,
            Op::In | Op::NotIn => self.list()?,
            _ => match self.next() {
                Some((_, Tok::Num(n))) => Value::Number(n),
                Some((_, Tok::Str(s))) => Value::Text(s),
                _ => return Err(self.err(value_pos, "expected a number or a quoted string")),
            },
        };
        check(&field, op, &value).map_err(|m| {
            let pos = if m.starts_with("comparator") {
                op_pos
            } else if m.starts_with("value") {
                value_pos
            } else {
                field_pos
            };
            self.err(pos, m)
        })?;
        Ok(Condition { field, op, value })
    }

    fn field(&mut self) -> Result<(usize, Field), FilterError> {
        let pos = self.here();
        let kind = match self.next() {
            Some((_, Tok::Ident(w))) => w,
            _ => {
                return Err(self.err(
                    pos,
                    "expected metrics.<key>, params.<key>, tags.<key> or attributes.<name>",
                ));
            }
        };
        if !matches!(self.tokens.get(self.i), Some((_, Tok::Dot))) {
            // MLflow accepts bare attribute names such as `status` in order_by only; accept
            // them in filters too since there is no ambiguity.
            if let Some(f) = self.attribute(&kind) {
                return Ok((pos, f));
            }
            let message = if self.entity.has_metrics_and_params() {
                format!(
                    "'{kind}' is not a field; write metrics.{kind}, params.{kind}, tags.{kind} or attributes.<name>"
                )
            } else {
                format!(
                    "'{kind}' is not a field; write tags.{kind} or one of the attributes {}",
                    self.entity.attribute_names()
                )
            };
            return Err(self.err(pos, message));
        }
        self.i += 1;
        let key_pos = self.here();
        let mut key = match self.next() {
            Some((_, Tok::Ident(k))) | Some((_, Tok::Quoted(k))) => k,
            Some((_, Tok::Num(n))) => n.to_string(),
            _ => return Err(self.err(key_pos, "expected a key after the dot")),
        };
        // Unquoted keys may contain dots (metrics.val.loss): join the pieces back.
        while matches!(self.tokens.get(self.i), Some((_, Tok::Dot))) {
            self.i += 1;
            match self.next() {
                Some((_, Tok::Ident(k))) => {
                    key.push('.');
                    key.push_str(&k);
                }
                _ => return Err(self.err(self.here(), "expected a key part after the dot")),
            }
        }
        let lower = kind.to_ascii_lowercase();
        let field = match lower.as_str() {
            "metrics" | "metric" | "m" | "params" | "param" | "parameters" | "parameter" | "p"
                if !self.entity.has_metrics_and_params() =>
            {
                return Err(self.err(
                    pos,
                    format!(
                        "'{kind}' cannot be searched here; use tags.<key> or one of the attributes {}",
                        self.entity.attribute_names()
                    ),
                ));
            }
            "metrics" | "metric" | "m" => Field::Metric(key),
            "params" | "param" | "parameters" | "parameter" | "p" => Field::Param(key),
            "tags" | "tag" | "t" => Field::Tag(key),
            "dataset" | "datasets" if self.entity == Entity::Runs => {
                match DatasetField::parse(&key) {
                    Some(d) => Field::Dataset(d),
                    None => {
                        return Err(self.err(
                            key_pos,
                            format!("unknown dataset key '{key}'; known: name, digest, context"),
                        ));
                    }
                }
            }
            "attributes" | "attribute" | "attr" | "run" => match self.attribute(&key) {
                Some(f) => f,
                None => {
                    return Err(self.err(
                        key_pos,
                        format!(
                            "unknown attribute '{key}'; known: {}",
                            self.entity.attribute_names()
                        ),
                    ));
                }
            },
            _ => {
                let entities = if self.entity == Entity::Runs {
                    "metrics, params, tags, attributes or dataset"
                } else if self.entity.has_metrics_and_params() {
                    "metrics, params, tags or attributes"
                } else {
                    "tags or attributes"
                };
                return Err(self.err(pos, format!("unknown entity '{kind}'; use {entities}")));
            }
        };
        Ok((pos, field))
    }

    fn list(&mut self) -> Result<Value, FilterError> {
        let pos = self.here();
        if !matches!(self.next(), Some((_, Tok::LParen))) {
            return Err(self.err(pos, "expected '(' to start a list of values"));
        }
        let mut items = Vec::new();
        loop {
            let p = self.here();
            match self.next() {
                Some((_, Tok::Str(s))) => items.push(s),
                Some((_, Tok::Num(_))) => {
                    return Err(self.err(p, "IN lists hold quoted strings"));
                }
                _ => return Err(self.err(p, "expected a quoted string")),
            }
            let p = self.here();
            match self.next() {
                Some((_, Tok::Comma)) => continue,
                Some((_, Tok::RParen)) => break,
                _ => return Err(self.err(p, "expected ',' or ')'")),
            }
        }
        Ok(Value::List(items))
    }
}

/// Type rules, as MLflow has them: metrics compare with numbers, params and tags with strings;
/// lists (`IN`, `NOT IN`) only for a run's id, dataset fields and the registry's string
/// columns; datasets have no `IS NULL`.
/// The values `attributes.status` can take, as MLflow spells them.
const RUN_STATUSES: [&str; 5] = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];

fn check(field: &Field, op: Op, value: &Value) -> Result<(), String> {
    let numeric = match field {
        Field::Metric(_) => true,
        Field::Attribute(a) => a.is_numeric(),
        Field::Column(c) => c.numeric,
        _ => false,
    };
    match (numeric, op, value) {
        (_, Op::IsNull | Op::IsNotNull, _) => match field {
            Field::Metric(_) => {
                Err("comparator IS NULL is only for params, tags and attributes".into())
            }
            Field::Dataset(_) => Err(
                "comparator IS NULL is not supported for dataset fields; use =, !=, LIKE, ILIKE, IN or NOT IN"
                    .into(),
            ),
            _ => Ok(()),
        },
        (true, Op::Like | Op::ILike | Op::In | Op::NotIn, _) => Err(format!(
            "comparator {} needs a string field; metrics and times compare with =, !=, <, <=, >, >=",
            op_name(op)
        )),
        (true, _, Value::Number(_)) => Ok(()),
        (true, _, _) => Err("value must be a number for metrics and times".into()),
        (false, Op::Lt | Op::Le | Op::Gt | Op::Ge, _) => Err(format!(
            "comparator {} is not supported for strings; use =, !=, LIKE or ILIKE",
            op_name(op)
        )),
        (false, Op::In | Op::NotIn, _)
            if matches!(field, Field::Param(_) | Field::Tag(_))
                || matches!(field, Field::Attribute(a) if *a != Attribute::RunId) =>
        {
            Err(format!(
                "comparator {} takes a list, which only attributes.run_id and dataset fields accept; use =, !=, LIKE or ILIKE",
                op_name(op)
            ))
        }
        (false, Op::In | Op::NotIn, Value::List(_)) => Ok(()),
        (false, Op::Eq | Op::Ne, Value::Text(t))
            if *field == Field::Attribute(Attribute::Status)
                && !RUN_STATUSES.contains(&t.as_str()) =>
        {
            // A misspelt status would silently match nothing (or everything, with !=).
            Err(format!(
                "value '{t}' is not a run status; statuses are {}",
                RUN_STATUSES.join(", ")
            ))
        }
        (false, _, Value::Text(_)) => Ok(()),
        (false, _, _) => {
            Err("value must be a quoted string for params, tags and attributes".into())
        }
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::ILike => "ILIKE",
        Op::Ne => "!=",
        o => o.sql(),
    }
}

/// One `order_by` entry: `metrics.auc DESC`, `attributes.start_time`, `params.x ASC`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub field: Field,
    pub descending: bool,
}

impl OrderBy {
    /// A runs `order_by` entry.
    pub fn parse(input: &str) -> Result<OrderBy, FilterError> {
        OrderBy::parse_for(input, Entity::Runs)
    }

    /// An `order_by` entry for a search over `entity`.
    pub fn parse_for(input: &str, entity: Entity) -> Result<OrderBy, FilterError> {
        OrderBy::parse_entry(input, entity).map_err(FilterError::in_order_by)
    }

    fn parse_entry(input: &str, entity: Entity) -> Result<OrderBy, FilterError> {
        let trimmed = input.trim_end();
        let (body, descending) = if let Some(b) = strip_suffix_ci(trimmed, " desc") {
            (b, true)
        } else if let Some(b) = strip_suffix_ci(trimmed, " asc") {
            (b, false)
        } else {
            (trimmed, false)
        };
        let mut p = Parser::over(body, input, entity)?;
        let (pos, field) = p.field()?;
        if matches!(field, Field::Dataset(_)) {
            return Err(p.err(pos, "runs cannot be ordered by a dataset field"));
        }
        if p.i != p.tokens.len() {
            return Err(p.err(p.here(), "expected ASC or DESC after the field"));
        }
        Ok(OrderBy { field, descending })
    }
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    if s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    {
        Some(&s[..s.len() - suffix.len()])
    } else {
        None
    }
}
