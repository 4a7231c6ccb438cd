//! Problems found in experiment files, each pinned to a file, line, column and key.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The dotted key the problem is about (`matrix.model`), empty for syntax errors.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.message)
    }
}

/// Every problem of one or more files; nothing is run while any exists.
#[derive(Debug, thiserror::Error)]
pub struct SpecError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {d}")?;
        }
        Ok(())
    }
}

/// The closest allowed name, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    given: &str,
    allowed: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    allowed
        .into_iter()
        .map(|a| (strsim::jaro_winkler(given, a), a))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, a)| a)
}

/// "allowed: a, b, c; did you mean b?"
pub fn allowed_hint(given: &str, allowed: &[&str]) -> String {
    let mut s = format!("allowed: {}", allowed.join(", "));
    if let Some(m) = did_you_mean(given, allowed.iter().copied()) {
        s.push_str(&format!("; did you mean \"{m}\"?"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        let models = ["sequential", "threads", "thread_pool", "rayon"];
        assert_eq!(did_you_mean("thred_pool", models), Some("thread_pool"));
        assert_eq!(did_you_mean("sequental", models), Some("sequential"));
        assert_eq!(did_you_mean("banana", models), None);
    }
}
