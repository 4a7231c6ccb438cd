//! The Checker and its value rules: each key's type and range, placed and explained.

use std::ops::Range;
use std::time::Duration;

use super::error::{Diagnostic, allowed_hint};
use super::tree::{Entry, Node, Source, Value};
use crate::duration::parse_duration;
use crate::workload::params::{self, ParamType, ParamValue};

/// One file (with its `--set` overrides) being checked: every problem is collected, none
/// stops the reading, so all of them are reported at once.
pub(super) struct Checker {
    pub(super) sources: Vec<Source>,
    pub(super) diagnostics: Vec<Diagnostic>,
    /// `--set` changed the file: a claim about cells it took away is left out, not an error.
    pub(super) overridden: bool,
}

impl Checker {
    pub(super) fn new(overridden: bool) -> Checker {
        Checker {
            sources: Vec::new(),
            diagnostics: Vec::new(),
            overridden,
        }
    }

    pub(super) fn report(&mut self, origin: usize, span: Range<usize>, key: &str, message: String) {
        let source = &self.sources[origin.min(self.sources.len() - 1)];
        let (line, column) = source.line_column(span.start);
        self.diagnostics.push(Diagnostic {
            file: source.name.clone(),
            line,
            column,
            key: key.to_string(),
            message,
            excerpt: Some(source.excerpt(span)),
        });
    }

    pub(super) fn at_node(&mut self, node: &Node, key: &str, message: String) {
        self.report(node.origin, node.span.clone(), key, message);
    }

    pub(super) fn at_key(&mut self, entry: &Entry, key: &str, message: String) {
        let origin = entry.node.origin;
        // A key given by `--set` was never written in a file: point at its value instead.
        let span = if entry.key_span == (0..0) {
            entry.node.span.clone()
        } else {
            entry.key_span.clone()
        };
        self.report(origin, span, key, message);
    }

    pub(super) fn table<'n>(&mut self, entry: &'n Entry, key: &str) -> Option<&'n [Entry]> {
        match entry.node.entries() {
            Some(e) => Some(e),
            None => {
                self.at_node(
                    &entry.node,
                    key,
                    format!(
                        "must be a table ([{key}]), got {}",
                        entry.node.value.type_name()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn int(&mut self, node: &Node, key: &str, min: i64) -> Option<u64> {
        match node.value {
            Value::Int(n) if n >= min => Some(n as u64),
            Value::Int(n) => {
                self.at_node(
                    node,
                    key,
                    format!("must be a whole number >= {min}, got {n}"),
                );
                None
            }
            ref v => {
                self.at_node(
                    node,
                    key,
                    format!("must be a whole number >= {min}, got {}", v.type_name()),
                );
                None
            }
        }
    }

    /// A whole number from `min` to `max`.
    pub(super) fn count(&mut self, node: &Node, key: &str, min: u64, max: u64) -> Option<u64> {
        let n = self.int(node, key, min as i64)?;
        if n > max {
            self.at_node(node, key, format!("must be at most {max}, got {n}"));
            return None;
        }
        Some(n)
    }

    pub(super) fn string<'n>(&mut self, node: &'n Node, key: &str) -> Option<&'n str> {
        match &node.value {
            Value::Str(s) => Some(s),
            v => {
                self.at_node(
                    node,
                    key,
                    format!("must be a string, got {}", v.type_name()),
                );
                None
            }
        }
    }

    pub(super) fn duration(&mut self, node: &Node, key: &str, positive: bool) -> Option<Duration> {
        // A bare number is the likeliest slip: say which strings it could have meant.
        let number = match node.value {
            Value::Int(n) => Some(n.to_string()),
            Value::Float(f) => Some(f.to_string()),
            _ => None,
        };
        if let Some(n) = number {
            let message = format!(
                "must be a string: a duration with its unit, e.g. \"{n}ms\" or \"{n}s\"; got the number {n}"
            );
            self.at_node(node, key, message);
            return None;
        }
        let text = self.string(node, key)?;
        match parse_duration(text) {
            Ok(d) if positive && d.is_zero() => {
                self.at_node(node, key, format!("must be a duration > 0, got \"{text}\""));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.at_node(node, key, e);
                None
            }
        }
    }

    pub(super) fn choice(&mut self, node: &Node, key: &str, allowed: &[&str]) -> Option<String> {
        // A number is taken as its text when that is one of the choices (http_version = 2).
        let number = match &node.value {
            Value::Int(n) => Some(n.to_string()),
            Value::Float(f) => Some(f.to_string()),
            _ => None,
        };
        if let Some(n) = number.filter(|n| allowed.contains(&n.as_str())) {
            return Some(n);
        }
        let s = self.string(node, key)?;
        if allowed.contains(&s) {
            return Some(s.to_string());
        }
        self.at_node(
            node,
            key,
            format!("\"{s}\" is not allowed; {}", allowed_hint(s, allowed)),
        );
        None
    }

    pub(super) fn unknown_key(&mut self, entry: &Entry, key: &str, allowed: &[&str], what: &str) {
        let message = if allowed.is_empty() {
            format!("unknown key \"{}\": {what} takes no keys", entry.key)
        } else {
            format!(
                "unknown key \"{}\" in {what}; {}",
                entry.key,
                allowed_hint(&entry.key, allowed)
            )
        };
        self.at_key(entry, key, message);
    }

    pub(super) fn param(&mut self, node: &Node, key: &str, ty: ParamType) -> Option<ParamValue> {
        match ty {
            ParamType::Count { min, max } => self.count(node, key, min, max).map(ParamValue::Int),
            ParamType::Duration { positive } => {
                self.duration(node, key, positive).map(ParamValue::Dur)
            }
            ParamType::Choice(allowed) => self.choice(node, key, allowed).map(ParamValue::Str),
            ParamType::Fraction => {
                let f = match node.value {
                    Value::Float(f) => f,
                    Value::Int(n) => n as f64,
                    _ => f64::NAN,
                };
                if (0.0..=1.0).contains(&f) {
                    Some(ParamValue::Float(f))
                } else {
                    self.at_node(
                        node,
                        key,
                        format!("must be {}, got {}", ty.describe(), show(&node.value)),
                    );
                    None
                }
            }
            ParamType::Strings | ParamType::Urls => {
                let Value::Array(items) = &node.value else {
                    self.at_node(
                        node,
                        key,
                        format!("must be {}, got {}", ty.describe(), node.value.type_name()),
                    );
                    return None;
                };
                if items.is_empty() {
                    self.at_node(
                        node,
                        key,
                        format!("must be {}, got an empty array", ty.describe()),
                    );
                    return None;
                }
                let mut out = Vec::new();
                for item in items {
                    let s = self.string(item, key)?;
                    if ty == ParamType::Urls
                        && !(s.starts_with("http://") || s.starts_with("https://"))
                    {
                        self.at_node(
                            item,
                            key,
                            format!("\"{s}\" is not an http:// or https:// URL"),
                        );
                        return None;
                    }
                    out.push(s.to_string());
                }
                Some(ParamValue::Strs(out))
            }
            ParamType::DigestTable => {
                let Some(entries) = node.entries() else {
                    self.at_node(
                        node,
                        key,
                        format!("must be {}, got {}", ty.describe(), node.value.type_name()),
                    );
                    return None;
                };
                let mut out = std::collections::BTreeMap::new();
                for e in entries {
                    let k = format!("{key}.{}", e.key);
                    let d = self.string(&e.node, &k)?;
                    if d.len() != 128
                        || !d
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    {
                        self.at_node(
                            &e.node,
                            &k,
                            "must be a SHA-512 digest: 128 lowercase hex digits".into(),
                        );
                        return None;
                    }
                    out.insert(e.key.clone(), d.to_string());
                }
                Some(ParamValue::Table(out))
            }
            ParamType::Steps { .. } => self.steps(node, key).map(ParamValue::Steps),
        }
    }

    pub(super) fn array<'n>(
        &mut self,
        entry: &'n Entry,
        key: &str,
        example: &str,
    ) -> Option<&'n [Node]> {
        match &entry.node.value {
            Value::Array(items) if items.is_empty() => {
                self.at_node(
                    &entry.node,
                    key,
                    format!("is an empty axis; give at least one value, e.g. {example}"),
                );
                None
            }
            Value::Array(items) => Some(items),
            v => {
                self.at_node(
                    &entry.node,
                    key,
                    format!(
                        "must be an array (a matrix axis), got {}; e.g. {example}",
                        v.type_name()
                    ),
                );
                None
            }
        }
    }

    /// A list of worker counts, `[1, 2, 4]`; None (with the errors reported) otherwise.
    pub(super) fn worker_list(&mut self, entry: &Entry, key: &str) -> Option<Vec<usize>> {
        let items = self.array(entry, key, "workers = [1, 2, 4]")?;
        let list: Vec<usize> = items
            .iter()
            .filter_map(|i| self.count(i, key, 1, params::MAX_WORKERS))
            .map(|n| n as usize)
            .collect();
        (list.len() == items.len()).then(|| {
            let mut list = list;
            list.dedup();
            list
        })
    }
}

pub(super) fn show(v: &Value) -> String {
    match v {
        Value::Int(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => format!("\"{s}\""),
        other => other.type_name().to_string(),
    }
}

pub(super) fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}
