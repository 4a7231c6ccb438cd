//! Problems found in experiment files, each pinned to a file, line, column and key.

use std::fmt;
use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The dotted key the problem is about (`matrix.model`), empty for syntax errors.
    pub key: String,
    pub message: String,
    /// The line the problem is on, when there is text to show (not for a missing table).
    pub excerpt: Option<Excerpt>,
}

/// One source line and the byte range within it that a diagnostic points at.
#[derive(Debug, Clone, PartialEq)]
pub struct Excerpt {
    /// The line without its line ending.
    pub text: String,
    /// Bytes of `text`; a span running past the line is cut at its end.
    pub span: Range<usize>,
}

impl Diagnostic {
    /// The one-line form, then the source line with a caret under the span and the hints
    /// below, rustc-style; ANSI colours only when `colour` is set.
    pub fn render(&self, colour: bool) -> String {
        let first = format!("error: {self}");
        let Some(excerpt) = &self.excerpt else {
            return first;
        };
        let (label, hints) = label_and_hints(&self.message);
        // Without hints the label would repeat the first line word for word.
        let caret = AnnotationKind::Primary.span(excerpt.span.clone());
        let caret = if hints.is_empty() {
            caret
        } else {
            caret.label(label)
        };
        let snippet = Snippet::source(excerpt.text.as_str())
            .line_start(self.line)
            .annotation(caret);
        let group = Group::with_level(Level::ERROR)
            .element(snippet)
            .elements(hints.into_iter().map(|h| Level::HELP.message(h)));
        let renderer = if colour {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        format!("{first}\n{}", renderer.render(&[group]))
    }
}

/// Splits a message at its top-level "; " into the label shown under the caret and the
/// hints shown below it. A "; " inside a quoted value given by the user does not split.
fn label_and_hints(message: &str) -> (&str, Vec<&str>) {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in message.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted && message[i + 1..].starts_with(' ') => {
                parts.push(&message[start..i]);
                start = i + 2;
            }
            _ => {}
        }
    }
    parts.push(&message[start..]);
    let label = parts.remove(0);
    (label, parts)
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

impl SpecError {
    /// Every diagnostic with its source line and caret, each ending in a newline; a blank line
    /// follows each source line shown.
    pub fn render(&self, colour: bool) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&d.render(colour));
            out.push('\n');
            if d.excerpt.is_some() {
                out.push('\n');
            }
        }
        out
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
    use crate::experiment::tree::Source;

    #[test]
    fn suggests_near_names_only() {
        let models = ["sequential", "threads", "thread_pool", "rayon"];
        assert_eq!(did_you_mean("thred_pool", models), Some("thread_pool"));
        assert_eq!(did_you_mean("sequental", models), Some("sequential"));
        assert_eq!(did_you_mean("banana", models), None);
    }

    fn pointing_at(text: &str, word: &str, message: &str) -> Diagnostic {
        let source = Source {
            name: "u.toml".into(),
            text: text.into(),
        };
        let start = text.find(word).unwrap();
        let (line, column) = source.line_column(start);
        Diagnostic {
            file: source.name.clone(),
            line,
            column,
            key: "matrix.model".into(),
            message: message.into(),
            excerpt: Some(source.excerpt(start..start + word.len())),
        }
    }

    #[test]
    fn the_caret_lands_under_the_character_after_multi_byte_ones() {
        let text = "[matrix]\nmodel = [\"café→☕\", \"thréd\"]\n";
        let d = pointing_at(
            text,
            "\"thréd\"",
            "\"thréd\" is not allowed; did you mean \"thread\"?",
        );
        // 19 characters (24 bytes) stand before the value on its line.
        assert_eq!((d.line, d.column), (2, 20));
        let out = d.render(false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "error: u.toml:2:20: matrix.model: \"thréd\" is not allowed; did you mean \"thread\"?"
        );
        assert_eq!(lines[2], "2 | model = [\"café→☕\", \"thréd\"]");
        let gutter = "2 | ".len();
        let caret_at = lines[3].chars().position(|c| c == '^').unwrap();
        // The caret goes by what a terminal shows: ☕ is one character two columns wide.
        assert_eq!(caret_at, gutter + d.column - 1 + 1, "{out}");
        // One caret per character of "thréd" with its quotes: 7, not its 8 bytes.
        assert_eq!(
            lines[3].chars().skip(caret_at).collect::<String>(),
            "^^^^^^^ \"thréd\" is not allowed"
        );
        assert_eq!(lines[5], "  = help: did you mean \"thread\"?");
        assert!(!out.contains('\x1b'));
        assert!(d.render(true).contains('\x1b'));
    }

    #[test]
    fn a_span_past_its_line_is_cut_at_the_line_end() {
        let text = "a = 1\r\nt = [\r\n  1,\r\n]\r\n";
        let d = pointing_at(text, "[\r\n  1,\r\n]", "must be a table");
        let excerpt = d.excerpt.unwrap();
        assert_eq!(excerpt.text, "t = [");
        assert_eq!(excerpt.span, 4..5);
    }

    #[test]
    fn hints_split_at_semicolons_outside_quotes() {
        assert_eq!(
            label_and_hints("\"a; b\" is not allowed; allowed: x, y; did you mean \"x\"?"),
            (
                "\"a; b\" is not allowed",
                vec!["allowed: x, y", "did you mean \"x\"?"]
            )
        );
        assert_eq!(
            label_and_hints("must be a string"),
            ("must be a string", vec![])
        );
    }
}
