//! `[[claims]]`: the lesson stated as expectations on the summary, checked and written back.

use super::Axis;
use super::error::allowed_hint;
use super::expand::Cell;
use super::tree::{Entry, Node, Value};
use super::values::Checker;
use crate::model::Model;
use crate::workload::Check;
use crate::workload::params::ParamValue;

/// What a claim measures: a column of the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Speedup,
    VsIdeal,
    MedianS,
    Parallelism,
    CoreSpeed,
    Check,
}

pub const METRICS: &[&str] = &[
    "speedup",
    "vs_ideal",
    "median_s",
    "parallelism",
    "core_speed",
    "check",
];

impl Metric {
    pub fn parse(s: &str) -> Option<Metric> {
        Some(match s {
            "speedup" => Metric::Speedup,
            "vs_ideal" => Metric::VsIdeal,
            "median_s" => Metric::MedianS,
            "parallelism" => Metric::Parallelism,
            "core_speed" => Metric::CoreSpeed,
            "check" => Metric::Check,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        METRICS[self as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ge,
    Le,
    Gt,
    Lt,
    Eq,
}

/// Longest first, so `>=` is never read as `>`.
const OPS: &[(&str, Op)] = &[
    (">=", Op::Ge),
    ("<=", Op::Le),
    ("==", Op::Eq),
    (">", Op::Gt),
    ("<", Op::Lt),
];

impl Op {
    pub fn as_str(self) -> &'static str {
        OPS.iter().find(|(_, o)| *o == self).expect("every op").0
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Number(f64),
    Check(Check),
}

/// One key of `cell = { ... }`: the column it selects on and the value, as CSV writes
/// it (to match cells) and as checked (to write the claim back).
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub key: String,
    pub text: String,
    pub value: ParamValue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub say: String,
    pub cell: Vec<Selector>,
    pub metric: Metric,
    pub op: Op,
    pub target: Target,
}

impl Claim {
    /// `model=process_pool workers=2`
    pub fn cell_text(&self) -> String {
        let parts: Vec<String> = self
            .cell
            .iter()
            .map(|s| format!("{}={}", s.key, s.text))
            .collect();
        parts.join(" ")
    }

    /// `speedup >= 1.6`
    pub fn expect_text(&self) -> String {
        let value = match self.target {
            Target::Number(v) => format!("{v}"),
            Target::Check(c) => c.as_str().to_string(),
        };
        format!("{} {} {value}", self.metric.as_str(), self.op.as_str())
    }

    /// Whether a row with these columns is one of the claim's cells.
    pub fn selects(&self, column: impl Fn(&str) -> Option<String>) -> bool {
        self.cell
            .iter()
            .all(|s| column(&s.key).as_deref() == Some(s.text.as_str()))
    }
}

/// `METRIC OP VALUE` read into its parts; an error carries the byte offset in `text` it
/// is about.
pub fn parse_expect(text: &str) -> Result<(Metric, Op, Target), (usize, String)> {
    let example = "e.g. \"speedup >= 1.6\" or \"check == race\"";
    let start = text.len() - text.trim_start().len();
    let rest = &text[start..];
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let name = &rest[..name_len];
    if name.is_empty() {
        return Err((
            start,
            format!("must be \"METRIC OP VALUE\", {example}; got \"{text}\""),
        ));
    }
    let Some(metric) = Metric::parse(name) else {
        return Err((
            start,
            format!("unknown metric \"{name}\"; {}", allowed_hint(name, METRICS)),
        ));
    };
    let after = &rest[name_len..];
    let op_at = start + name_len + (after.len() - after.trim_start().len());
    let after = after.trim_start();
    let op_len = after
        .find(|c: char| c.is_whitespace() || c.is_ascii_alphanumeric() || c == '.' || c == '-')
        .unwrap_or(after.len());
    let op_text = &after[..op_len];
    let allowed_ops: Vec<&str> = OPS.iter().map(|(s, _)| *s).collect();
    let Some(&(_, op)) = OPS.iter().find(|(s, _)| *s == op_text) else {
        let what = if op_text.is_empty() {
            "an operator is missing after the metric".to_string()
        } else {
            format!("\"{op_text}\" is not an operator")
        };
        return Err((
            op_at,
            format!("{what}; allowed: {}; {example}", allowed_ops.join(", ")),
        ));
    };
    let value_part = &after[op_len..];
    let value_at = op_at + op_len + (value_part.len() - value_part.trim_start().len());
    let value = value_part.trim();
    if metric == Metric::Check {
        if op != Op::Eq {
            return Err((
                op_at,
                format!(
                    "check compares with == only: \"check == pass\", \"check == race\" or \"check == fail\"; got \"{}\"",
                    op.as_str()
                ),
            ));
        }
        return match Check::parse(value) {
            Some(c) => Ok((metric, op, Target::Check(c))),
            None => Err((
                value_at,
                format!(
                    "\"{value}\" is not a check result; {}",
                    allowed_hint(value, &["pass", "race", "fail"])
                ),
            )),
        };
    }
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok((metric, op, Target::Number(v))),
        _ => Err((
            value_at,
            format!(
                "{} compares with a number, got \"{value}\"; {example}",
                metric.as_str()
            ),
        )),
    }
}

const CLAIM_KEYS: &[&str] = &["say", "cell", "expect"];

impl Checker {
    /// `[[claims]]`: every claim's keys checked, and its cell selecting at least one of
    /// the experiment's `cells`.
    pub(super) fn claims(
        &mut self,
        entry: &Entry,
        models: &[Model],
        axes: &[Axis],
        cells: &[Cell],
    ) -> Vec<Claim> {
        let Value::Array(items) = &entry.node.value else {
            self.at_node(
                &entry.node,
                "claims",
                format!(
                    "must be an array of tables ([[claims]]), got {}",
                    entry.node.value.type_name()
                ),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(c) = self.claim(item, &format!("claims[{}]", i + 1), models, axes, cells) {
                out.push(c);
            }
        }
        out
    }

    fn claim(
        &mut self,
        node: &Node,
        key: &str,
        models: &[Model],
        axes: &[Axis],
        cells: &[Cell],
    ) -> Option<Claim> {
        let Some(entries) = node.entries() else {
            self.at_node(
                node,
                key,
                format!(
                    "must be a table with say, cell and expect, got {}",
                    node.value.type_name()
                ),
            );
            return None;
        };
        let (mut say, mut cell, mut expect) = (None, None, None);
        let mut complete = true;
        for e in entries {
            let k = format!("{key}.{}", e.key);
            match e.key.as_str() {
                "say" => say = self.string(&e.node, &k).map(str::to_string),
                "cell" => {
                    cell = self.selectors(e, &k, models, axes, cells);
                    complete &= cell.is_some();
                }
                "expect" => {
                    expect = self.expect(&e.node, &k);
                    complete &= expect.is_some();
                }
                _ => self.unknown_key(e, &k, CLAIM_KEYS, "a claim"),
            }
        }
        for (name, given) in [
            ("say", entries.iter().any(|e| e.key == "say")),
            ("cell", entries.iter().any(|e| e.key == "cell")),
            ("expect", entries.iter().any(|e| e.key == "expect")),
        ] {
            if !given {
                self.at_node(node, key, format!("missing key \"{name}\"; a claim has say = \"...\", cell = {{ model = ..., workers = ... }} and expect = \"METRIC OP VALUE\""));
                complete = false;
            }
        }
        let (metric, op, target) = expect?;
        complete.then(|| Claim {
            say: say.unwrap_or_default(),
            cell: cell.unwrap_or_default(),
            metric,
            op,
            target,
        })
    }

    fn expect(&mut self, node: &Node, key: &str) -> Option<(Metric, Op, Target)> {
        let text = self.string(node, key)?;
        match parse_expect(text) {
            Ok(e) => Some(e),
            Err((offset, message)) => {
                // Point into the string when it is written plainly ("..."), else at it.
                let source = &self.sources[node.origin.min(self.sources.len() - 1)].text;
                let plain = source.get(node.span.clone()) == Some(format!("\"{text}\"").as_str());
                let at = if plain {
                    let start = node.span.start + 1 + offset;
                    start..node.span.end.saturating_sub(1).max(start + 1)
                } else {
                    node.span.clone()
                };
                self.report(node.origin, at, key, message);
                None
            }
        }
    }

    fn selectors(
        &mut self,
        entry: &Entry,
        key: &str,
        models: &[Model],
        axes: &[Axis],
        cells: &[Cell],
    ) -> Option<Vec<Selector>> {
        let Some(entries) = entry.node.entries() else {
            self.at_node(
                &entry.node,
                key,
                format!(
                    "must be a table such as {{ model = \"thread_pool\", workers = 2 }}, got {}",
                    entry.node.value.type_name()
                ),
            );
            return None;
        };
        let mut allowed = vec!["model", "workers"];
        allowed.extend(axes.iter().map(|a| a.name.as_str()));
        let model_names: Vec<&str> = models.iter().map(|m| m.name()).collect();
        let mut out = Vec::new();
        let mut ok = true;
        for e in entries {
            let k = format!("{key}.{}", e.key);
            let selector = match e.key.as_str() {
                "model" => self.choice(&e.node, &k, &model_names).map(|m| Selector {
                    value: ParamValue::Str(m.clone()),
                    key: e.key.clone(),
                    text: m,
                }),
                "workers" => self
                    .count(&e.node, &k, 1, crate::workload::params::MAX_WORKERS)
                    .map(|w| Selector {
                        key: e.key.clone(),
                        text: w.to_string(),
                        value: ParamValue::Int(w),
                    }),
                name => match axes.iter().find(|a| a.name == name) {
                    Some(axis) => self.axis_value(&e.node, &k, axis).map(|v| Selector {
                        key: e.key.clone(),
                        text: v.render(),
                        value: v,
                    }),
                    None => {
                        self.unknown_key(
                            e,
                            &k,
                            &allowed,
                            "a claim's cell (it selects on model, workers and the matrix's axes)",
                        );
                        None
                    }
                },
            };
            match selector {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let picked = |c: &Cell| {
            out.iter()
                .all(|s| c.column(&s.key).as_deref() == Some(s.text.as_str()))
        };
        if !cells.iter().any(picked) {
            if self.overridden {
                return None;
            }
            let shown: Vec<String> = out
                .iter()
                .map(|s| format!("{}={}", s.key, s.text))
                .collect();
            let mut workers: Vec<usize> = cells
                .iter()
                .filter(|c| {
                    out.iter()
                        .find(|s| s.key == "model")
                        .is_none_or(|s| c.model.name() == s.text)
                })
                .map(|c| c.workers)
                .collect();
            workers.sort_unstable();
            workers.dedup();
            let listed: Vec<String> = workers.iter().map(|w| w.to_string()).collect();
            self.at_node(
                &entry.node,
                key,
                format!(
                    "selects no cell of the matrix ({}); the cells of {} have workers {}",
                    shown.join(" "),
                    out.iter()
                        .find(|s| s.key == "model")
                        .map_or("the matrix".to_string(), |s| s.text.clone()),
                    listed.join(", ")
                ),
            );
            return None;
        }
        Some(out)
    }

    /// One value of an axis, checked as the axis's own values are.
    fn axis_value(&mut self, node: &Node, key: &str, axis: &Axis) -> Option<ParamValue> {
        let text = match &node.value {
            Value::Str(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Float(f) => f.to_string(),
            other => other.type_name().to_string(),
        };
        let hit = axis.values.iter().find(|v| {
            v.render() == text
                || matches!((&node.value, v), (Value::Str(s), ParamValue::Dur(d))
                    if crate::duration::parse_duration(s).ok() == Some(*d))
        });
        match hit {
            Some(v) => Some(v.clone()),
            None => {
                let values: Vec<String> = axis.values.iter().map(|v| v.render()).collect();
                let allowed: Vec<&str> = values.iter().map(String::as_str).collect();
                self.at_node(
                    node,
                    key,
                    format!(
                        "\"{text}\" is not a value of the axis {}; {}",
                        axis.name,
                        allowed_hint(&text, &allowed)
                    ),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expect_reads_metric_op_and_value() {
        assert_eq!(
            parse_expect("speedup >= 1.6"),
            Ok((Metric::Speedup, Op::Ge, Target::Number(1.6)))
        );
        assert_eq!(
            parse_expect("vs_ideal<1.2"),
            Ok((Metric::VsIdeal, Op::Lt, Target::Number(1.2)))
        );
        assert_eq!(
            parse_expect("check == race"),
            Ok((Metric::Check, Op::Eq, Target::Check(Check::Race)))
        );
        let (at, m) = parse_expect("speedp >= 2").unwrap_err();
        assert_eq!(at, 0);
        assert!(m.contains("did you mean \"speedup\""), "{m}");
        let (at, m) = parse_expect("speedup => 2").unwrap_err();
        assert_eq!(at, 8);
        assert!(m.contains("\"=>\" is not an operator"), "{m}");
        let (at, m) = parse_expect("check >= pass").unwrap_err();
        assert_eq!(at, 6);
        assert!(m.contains("== only"), "{m}");
        assert!(parse_expect("check == ok").is_err());
        assert!(parse_expect("median_s <= fast").is_err());
        assert!(parse_expect("speedup").is_err());
    }

    #[test]
    fn expect_text_round_trips() {
        for t in ["speedup >= 1.6", "check == pass", "median_s < 0.25"] {
            let (metric, op, target) = parse_expect(t).unwrap();
            let c = Claim {
                say: String::new(),
                cell: vec![],
                metric,
                op,
                target,
            };
            assert_eq!(c.expect_text(), t);
        }
    }
}
