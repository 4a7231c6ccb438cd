//! A TOML document as a tree whose every key and value remembers where it was written.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::Excerpt;

/// Where a piece of text came from: the experiment file, or one `--set` override.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    /// 1-based line and column of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// The line holding byte `span.start`, and the span within it, cut at the line's end.
    pub fn excerpt(&self, span: Range<usize>) -> Excerpt {
        let start = span.start.min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let text = self.text[line_start..line_end].trim_end_matches('\r');
        let from = (start - line_start).min(text.len());
        let to = span.end.saturating_sub(line_start).clamp(from, text.len());
        Excerpt {
            text: text.to_string(),
            span: from..to,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub span: Range<usize>,
    /// Index into the list of sources the document was assembled from.
    pub origin: usize,
}

#[derive(Debug, Clone)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub node: Node,
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

impl Node {
    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Table(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    /// Replaces or appends a key of a table node.
    pub fn set(&mut self, entry: Entry) {
        if let Value::Table(entries) = &mut self.value {
            match entries.iter_mut().find(|e| e.key == entry.key) {
                Some(old) => *old = entry,
                None => entries.push(entry),
            }
        }
    }

    pub fn remove(&mut self, key: &str) {
        if let Value::Table(entries) = &mut self.value {
            entries.retain(|e| e.key != key);
        }
    }
}

/// Parses TOML text into a [`Node`] tree, or the parser's message and byte offset.
pub fn parse(text: &str, origin: usize) -> Result<Node, (String, usize)> {
    let table = DeTable::parse(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        (e.message().trim().to_string(), at)
    })?;
    let span = table.span();
    Ok(Node {
        value: Value::Table(convert_table(table.get_ref(), origin)),
        span,
        origin,
    })
}

/// Parses one TOML value written on its own, as `--set key=VALUE` gives it.
pub fn parse_value(text: &str, origin: usize) -> Result<Node, (String, usize)> {
    let value = DeValue::parse(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        (e.message().trim().to_string(), at)
    })?;
    Ok(convert(&value, origin))
}

fn convert_table(table: &DeTable<'_>, origin: usize) -> Vec<Entry> {
    table
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_span: k.span(),
            node: convert(v, origin),
        })
        .collect()
}

fn convert(value: &Spanned<DeValue<'_>>, origin: usize) -> Node {
    let v = match value.get_ref() {
        DeValue::String(s) => Value::Str(s.to_string()),
        DeValue::Integer(i) => {
            let digits: String = i.as_str().chars().filter(|c| *c != '_').collect();
            let digits = digits
                .trim_start_matches("0x")
                .trim_start_matches("0o")
                .trim_start_matches("0b");
            match i64::from_str_radix(digits, i.radix()) {
                Ok(n) => Value::Int(n),
                Err(_) => Value::Str(i.as_str().to_string()),
            }
        }
        DeValue::Float(f) => {
            let digits: String = f.as_str().chars().filter(|c| *c != '_').collect();
            Value::Float(match digits.trim_start_matches('+') {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" | "-nan" => f64::NAN,
                other => other.parse().unwrap_or(f64::NAN),
            })
        }
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(items) => Value::Array(items.iter().map(|i| convert(i, origin)).collect()),
        DeValue::Table(t) => Value::Table(convert_table(t, origin)),
    };
    Node {
        value: v,
        span: value.span(),
        origin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_and_numbers() {
        let text = "a = 1_000_000\n[t]\nb = \"x\"\nc = [1.5, 2]\n";
        let root = parse(text, 0).unwrap();
        let a = root.get("a").unwrap();
        assert!(matches!(a.node.value, Value::Int(1_000_000)));
        let t = &root.get("t").unwrap().node;
        let b = t.get("b").unwrap();
        let src = Source {
            name: "f".into(),
            text: text.into(),
        };
        assert_eq!(src.line_column(b.key_span.start), (3, 1));
        assert_eq!(src.line_column(b.node.span.start), (3, 5));
    }

    #[test]
    fn reports_syntax_errors_with_offset() {
        let (msg, at) = parse("a = \n", 0).unwrap_err();
        assert!(!msg.is_empty());
        assert!(at <= 5);
    }
}
