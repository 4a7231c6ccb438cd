//! How many measured repetitions a cell gets: a fixed count, or `"auto"` until precise.

use super::tree::{Entry, Node, Value};
use super::values::Checker;

/// More repetitions than anyone will wait for; a bound that keeps counts from wrapping.
pub const MAX_REPETITIONS: u64 = 100_000;
const DEFAULT_PRECISION: f64 = 0.05;
const DEFAULT_MIN: u32 = 3;
const DEFAULT_MAX: u32 = 20;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Repetitions {
    Fixed(u32),
    /// Repeat until the median's interval is within `precision` of it (half-width over
    /// median), at least `min` and at most `max` times.
    Auto {
        precision: f64,
        min: u32,
        max: u32,
    },
}

impl Default for Repetitions {
    fn default() -> Self {
        Repetitions::Fixed(DEFAULT_MIN)
    }
}

impl Repetitions {
    /// The fewest repetitions a cell gets: what `plan` estimates with.
    pub fn min(&self) -> u32 {
        match *self {
            Repetitions::Fixed(n) => n,
            Repetitions::Auto { min, .. } => min,
        }
    }

    pub fn max(&self) -> u32 {
        match *self {
            Repetitions::Fixed(n) => n,
            Repetitions::Auto { max, .. } => max,
        }
    }

    /// `3`, or `auto (5%, 3-20)`.
    pub fn describe(&self) -> String {
        match *self {
            Repetitions::Fixed(n) => n.to_string(),
            Repetitions::Auto {
                precision,
                min,
                max,
            } => format!("auto ({}, {min}-{max})", percent(precision)),
        }
    }
}

/// `0.05` as `"5%"`.
pub(super) fn percent(fraction: f64) -> String {
    let p = format!("{:.4}", fraction * 100.0);
    format!("{}%", p.trim_end_matches('0').trim_end_matches('.'))
}

/// `"5%"` as 0.05.
fn parse_precision(text: &str) -> Result<f64, String> {
    let bad = || format!("must be a percentage between 0% and 100% such as \"5%\", got \"{text}\"");
    let number = text.trim().strip_suffix('%').ok_or_else(bad)?;
    match number.trim().parse::<f64>() {
        Ok(p) if p > 0.0 && p < 100.0 => Ok(p / 100.0),
        _ => Err(bad()),
    }
}

impl Checker {
    /// Reads `repetitions`, `precision`, `min_repetitions` and `max_repetitions` from the
    /// top-level entries; the last three only go with `repetitions = "auto"`.
    pub(super) fn repetitions(&mut self, top: &[Entry]) -> Repetitions {
        let find = |key: &str| top.iter().find(|e| e.key == key);
        let count = |c: &mut Checker, node: &Node, key: &str| -> Option<u32> {
            c.count(node, key, 1, MAX_REPETITIONS).map(|n| n as u32)
        };
        let auto = match find("repetitions").map(|e| &e.node) {
            None => false,
            Some(n) if matches!(&n.value, Value::Str(s) if s == "auto") => true,
            Some(n) if matches!(n.value, Value::Int(_)) => {
                let fixed = count(self, n, "repetitions").unwrap_or(DEFAULT_MIN);
                for key in ["precision", "min_repetitions", "max_repetitions"] {
                    if let Some(e) = find(key) {
                        self.at_key(e, key, format!("{key} goes with repetitions = \"auto\"; with a fixed count ({fixed}) it has no meaning"));
                    }
                }
                return Repetitions::Fixed(fixed);
            }
            Some(n) => {
                self.at_node(
                    n,
                    "repetitions",
                    format!(
                        "must be a whole number from 1 to {MAX_REPETITIONS} or \"auto\", got {}",
                        super::values::show(&n.value)
                    ),
                );
                return Repetitions::default();
            }
        };
        if !auto {
            for key in ["precision", "min_repetitions", "max_repetitions"] {
                if let Some(e) = find(key) {
                    self.at_key(
                        e,
                        key,
                        format!("{key} goes with repetitions = \"auto\", which is not set"),
                    );
                }
            }
            return Repetitions::default();
        }
        let precision = find("precision")
            .and_then(|e| {
                let text = self.string(&e.node, "precision")?;
                parse_precision(text)
                    .map_err(|m| self.at_node(&e.node, "precision", m))
                    .ok()
            })
            .unwrap_or(DEFAULT_PRECISION);
        let min = find("min_repetitions")
            .and_then(|e| count(self, &e.node, "min_repetitions"))
            .unwrap_or(DEFAULT_MIN);
        let max_entry = find("max_repetitions");
        let max = max_entry
            .and_then(|e| count(self, &e.node, "max_repetitions"))
            .unwrap_or(DEFAULT_MAX.max(min));
        if max < min {
            let e = max_entry.expect("the default is never below min");
            self.at_node(
                &e.node,
                "max_repetitions",
                format!("must be at least min_repetitions ({min}), got {max}"),
            );
        }
        Repetitions::Auto {
            precision,
            min,
            max: max.max(min),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_is_a_percentage() {
        assert_eq!(parse_precision("5%"), Ok(0.05));
        assert_eq!(parse_precision(" 0.5 %"), Ok(0.005));
        assert!(parse_precision("5").is_err());
        assert!(parse_precision("0%").is_err());
        assert!(parse_precision("100%").is_err());
        assert_eq!(percent(0.05), "5%");
        assert_eq!(percent(0.025), "2.5%");
    }
}
