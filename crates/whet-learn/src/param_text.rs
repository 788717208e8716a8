//! Learner parameters from text (`KEY=VALUE`, as typed on a command line or stored in a run):
//! the value parsers every learner's `set` uses, and the unknown-key error with the closest
//! known name, so every learner answers a typo the same way.

use std::str::FromStr;

use crate::error::{LearnError, Result};

/// A type a parameter value parses into, and how an error describes what was expected.
pub trait ParamValue: FromStr {
    /// "a number", "a whole number", ...
    const EXPECTED: &'static str;
    /// An example value for hints.
    const EXAMPLE: &'static str;
}

impl ParamValue for f64 {
    const EXPECTED: &'static str = "a number";
    const EXAMPLE: &'static str = "0.1";
}

macro_rules! whole_numbers {
    ($($t:ty),*) => {$(
        impl ParamValue for $t {
            const EXPECTED: &'static str = "a whole number";
            const EXAMPLE: &'static str = "10";
        }
    )*};
}
whole_numbers!(usize, u32, u64, i64);

/// A parameter value of type `T`; the error names the key, the value and what was expected.
pub fn value<T: ParamValue>(key: &str, value: &str) -> Result<T> {
    value.trim().parse::<T>().map_err(|_| {
        LearnError::param(
            key,
            value,
            format!("not {}", T::EXPECTED),
            format!("give {}, e.g. {key}={}", T::EXPECTED, T::EXAMPLE),
        )
    })
}

pub fn boolean(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(LearnError::param(
            key,
            value,
            "expected true or false",
            format!("e.g. {key}=true"),
        )),
    }
}

/// `KEY=VALUE` split at the first `=`, both trimmed.
pub fn split_pair(pair: &str) -> Result<(&str, &str)> {
    pair.split_once('=')
        .map(|(k, v)| (k.trim(), v.trim()))
        .ok_or_else(|| {
            LearnError::param(
                pair,
                "",
                "not KEY=VALUE",
                "write each parameter as KEY=VALUE, e.g. num_leaves=63",
            )
        })
}

/// The error for a key no parameter of `learner` answers to, naming the closest of `known`
/// when it is a likely typo, and listing them all.
pub fn unknown_key(learner: &str, key: &str, known: &[&str]) -> LearnError {
    let suggestion = closest(key, known)
        .map(|k| format!("; did you mean '{k}'?"))
        .unwrap_or_default();
    LearnError::UnknownParam {
        learner: learner.to_string(),
        key: key.to_string(),
        suggestion,
        known: known.join(", "),
    }
}

/// The known name nearest to `key` by edit distance, if near enough to be a typo: at most a
/// third of the key's length, and at least 1, apart (case ignored).
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    let limit = (key.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| (edit_distance(&key, k), *k))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_known_answers() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("num_leaves", "num_leaves"), 0);
        assert_eq!(edit_distance("num_leavs", "num_leaves"), 1);
    }

    #[test]
    fn typos_get_the_nearest_name_and_strangers_get_the_list() {
        let known = ["num_leaves", "learning_rate", "max_depth"];
        let e = unknown_key("gbdt", "num_leavs", &known).to_string();
        assert!(e.contains("did you mean 'num_leaves'"), "{e}");
        assert!(e.contains("learning_rate, max_depth"), "{e}");
        let e = unknown_key("gbdt", "colour", &known).to_string();
        assert!(!e.contains("did you mean"), "{e}");
        assert_eq!(closest("LEARNING_RATE", &known), Some("learning_rate"));
    }

    #[test]
    fn values_say_what_was_expected() {
        assert_eq!(value::<f64>("alpha", " 0.5 ").unwrap(), 0.5);
        let e = value::<f64>("alpha", "half").unwrap_err().to_string();
        assert!(e.contains("not a number"), "{e}");
        assert_eq!(value::<usize>("k", "7").unwrap(), 7);
        let e = value::<usize>("k", "-1").unwrap_err().to_string();
        assert!(
            e.contains("not a whole number") && e.contains("k=10"),
            "{e}"
        );
        assert_eq!(value::<i64>("max_depth", "-1").unwrap(), -1);
        assert!(boolean("extra_trees", "YES").unwrap());
        assert!(boolean("extra_trees", "maybe").is_err());
        assert_eq!(split_pair(" a = 1 ").unwrap(), ("a", "1"));
        assert!(split_pair("noequals").is_err());
    }
}
