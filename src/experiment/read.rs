//! Reading experiment files: finding them, parsing with spans, applying `--set` overrides.

use std::path::{Path, PathBuf};

use super::check::TOP_KEYS;
use super::error::{Diagnostic, SpecError};
use super::tree::{self, Entry, Node, Source, Value};
use super::values::Checker;
use super::{Experiment, Override};

/// The `.toml` files named by `paths`, folders expanded (sorted), in the order given.
pub fn discover(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| anyhow::anyhow!("cannot read folder {}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml") && f.is_file())
                .collect();
            found.sort();
            if found.is_empty() {
                anyhow::bail!("{} holds no .toml experiment files", p.display());
            }
            files.extend(found);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            anyhow::bail!("{}: no such file or folder", p.display());
        }
    }
    Ok(files)
}

/// Loads every file; all problems of all files are returned together.
pub fn load_all(files: &[PathBuf], overrides: &[Override]) -> Result<Vec<Experiment>, SpecError> {
    let mut experiments = Vec::new();
    let mut diagnostics = Vec::new();
    for f in files {
        match load(f, overrides) {
            Ok(e) => experiments.push(e),
            Err(e) => diagnostics.extend(e.diagnostics),
        }
    }
    for (i, e) in experiments.iter().enumerate() {
        if let Some(first) = experiments[..i].iter().find(|o| o.name == e.name) {
            diagnostics.push(Diagnostic {
                file: e.path.display().to_string(),
                line: 1,
                column: 1,
                key: "name".into(),
                message: format!("experiment name \"{}\" is also used by {}; names pick the results folder, so they must differ", e.name, first.path.display()),
                excerpt: None,
            });
        }
    }
    if diagnostics.is_empty() {
        Ok(experiments)
    } else {
        Err(SpecError { diagnostics })
    }
}

pub fn load(path: &Path, overrides: &[Override]) -> Result<Experiment, SpecError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SpecError {
        diagnostics: vec![Diagnostic {
            file: name.clone(),
            line: 1,
            column: 1,
            key: String::new(),
            message: format!("cannot read: {e}"),
            excerpt: None,
        }],
    })?;
    parse_experiment(&name, &text, path, overrides)
}

/// Checks an experiment given as text (`file` names it in messages).
pub fn parse_experiment(
    file: &str,
    text: &str,
    path: &Path,
    overrides: &[Override],
) -> Result<Experiment, SpecError> {
    let mut sources = vec![Source {
        name: file.to_string(),
        text: text.to_string(),
    }];
    let mut root = match tree::parse(text, 0) {
        Ok(root) => root,
        Err((message, at)) => {
            let (line, column) = sources[0].line_column(at);
            return Err(SpecError {
                diagnostics: vec![Diagnostic {
                    file: file.into(),
                    line,
                    column,
                    key: String::new(),
                    message: format!("TOML syntax: {message}"),
                    excerpt: Some(sources[0].excerpt(at..at)),
                }],
            });
        }
    };
    let mut checker = Checker::new(!overrides.is_empty());
    for o in overrides {
        apply_override(&mut root, o, &mut sources, &mut checker.diagnostics);
    }
    checker.sources = sources;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "experiment".into());
    let exp = checker.experiment(&root, &stem, path);
    match exp {
        Some(e) if checker.diagnostics.is_empty() => Ok(e),
        _ => {
            if checker.diagnostics.is_empty() {
                checker.diagnostics.push(Diagnostic {
                    file: file.into(),
                    line: 1,
                    column: 1,
                    key: String::new(),
                    message: "invalid experiment".into(),
                    excerpt: None,
                });
            }
            Err(SpecError {
                diagnostics: checker.diagnostics,
            })
        }
    }
}

/// `--set` changes a top-level key, replaces a matrix axis by one value, or sets a workload key.
fn apply_override(
    root: &mut Node,
    o: &Override,
    sources: &mut Vec<Source>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let origin = sources.len();
    let label = format!("--set {}", o.key);
    sources.push(Source {
        name: label.clone(),
        text: o.value.clone(),
    });
    // A bare word is taken as a string, so `--set order=grouped` works unquoted.
    let node = tree::parse_value(&o.value, origin).unwrap_or_else(|_| Node {
        value: Value::Str(o.value.clone()),
        span: 0..o.value.len(),
        origin,
    });
    let entry = |key: &str, node: Node| Entry {
        key: key.to_string(),
        key_span: 0..0,
        node,
    };
    let (table, key) = match o.key.split_once('.') {
        Some((t, k)) => (Some(t.to_string()), k.to_string()),
        None => (None, o.key.clone()),
    };
    let in_matrix = root
        .get("matrix")
        .is_some_and(|m| m.node.get(&key).is_some());
    match table.as_deref() {
        None if TOP_KEYS.contains(&key.as_str()) => root.set(entry(&key, node)),
        None | Some("matrix") if in_matrix || key == "model" || key == "workers" => {
            let values = match node.value {
                Value::Array(_) => node,
                _ => Node { span: node.span.clone(), origin, value: Value::Array(vec![node]) },
            };
            if let Some(m) = root_table_mut(root, "matrix") {
                m.set(entry(&key, values));
            }
        }
        None | Some("workload") => {
            if let Some(w) = root_table_mut(root, "workload") {
                w.set(entry(&key, node));
            }
        }
        Some(other) => diagnostics.push(Diagnostic {
            file: label,
            line: 1,
            column: 1,
            key: o.key.clone(),
            message: format!("--set takes a top-level key, a workload key or a matrix axis; \"{other}.\" is not one of those"),
            excerpt: None,
        }),
    }
}

fn root_table_mut<'a>(root: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    if root.get(key).is_none() {
        root.set(Entry {
            key: key.into(),
            key_span: 0..0,
            node: Node {
                value: Value::Table(Vec::new()),
                span: 0..0,
                origin: 0,
            },
        });
    }
    match &mut root.value {
        Value::Table(entries) => entries
            .iter_mut()
            .find(|e| e.key == key)
            .map(|e| &mut e.node),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::experiment::Repetitions;
    use crate::workload::params::ParamValue;

    fn parse(text: &str) -> Experiment {
        parse_experiment("t.toml", text, Path::new("t.toml"), &[]).unwrap()
    }

    #[test]
    fn a_claim_about_cells_that_set_took_away_is_left_out() {
        let text = "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thread_pool\"]\nworkers = [2, 4]\n[[claims]]\nsay = \"s\"\ncell = { workers = 4 }\nexpect = \"median_s < 1\"\n";
        let e = parse_experiment(
            "t.toml",
            text,
            Path::new("t.toml"),
            &["workers=2".parse().unwrap()],
        )
        .unwrap();
        assert!(e.claims.is_empty());
        assert_eq!(parse(text).claims.len(), 1);
    }

    #[test]
    fn overrides_replace_keys_and_axes_and_are_checked() {
        let o = |s: &str| s.parse::<Override>().unwrap();
        let text = "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"async\"]\nworkers = [1, 2]\ntasks = [1, 2]\n";
        let e = parse_experiment(
            "t.toml",
            text,
            Path::new("t.toml"),
            &[
                o("repetitions=1"),
                o("workers=4"),
                o("duration=5ms"),
                o("tasks=7"),
            ],
        )
        .unwrap();
        assert_eq!(e.repetitions, Repetitions::Fixed(1));
        assert_eq!(e.workers, vec![4]);
        assert_eq!(
            e.workload.get("duration"),
            Some(&ParamValue::Dur(Duration::from_millis(5)))
        );
        assert_eq!(e.axes[0].values, vec![ParamValue::Int(7)]);
        let err = parse_experiment(
            "t.toml",
            text,
            Path::new("t.toml"),
            &[o("repetitions=zero")],
        )
        .unwrap_err();
        assert_eq!(err.diagnostics[0].file, "--set repetitions");
    }
}
