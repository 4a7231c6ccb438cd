//! The experiment file: reading, strict checking, and the resolved [`Experiment`].

pub mod claims;
pub mod duration;
pub mod error;
pub mod matrix;
pub mod models;
pub mod params;
pub mod repetitions;
pub mod schema;
mod steps;
pub mod tree;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::model::{CustomModel, Model};
use duration::{format_duration, parse_duration};
use error::allowed_hint;
pub use error::{Diagnostic, SpecError};
pub use matrix::Cell;
pub use models::ModelSettings;
use params::{KindDef, ParamType, ParamValue, Params};
pub use repetitions::Repetitions;
use tree::{Entry, Node, Source, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Interleaved,
    Grouped,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChartSettings {
    pub timeline_workers: Option<usize>,
}

/// One extra matrix axis: a workload parameter with several values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub name: String,
    pub values: Vec<ParamValue>,
}

/// An experiment file, checked and with every default filled in.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub name: String,
    pub description: String,
    pub path: PathBuf,
    pub repetitions: Repetitions,
    pub warmup: u32,
    pub timeout: Duration,
    pub order: Order,
    pub kind: &'static KindDef,
    /// `[workload]` parameters as written (defaults are filled per cell).
    pub workload: Params,
    pub models: Vec<Model>,
    pub workers: Vec<usize>,
    pub axes: Vec<Axis>,
    pub settings: ModelSettings,
    /// `[models.NAME] workers = [...]`: worker counts of one model instead of the matrix's.
    pub model_workers: Vec<(String, Vec<usize>)>,
    pub chart: ChartSettings,
    /// `[[claims]]`: the lesson as expectations on the summary.
    pub claims: Vec<claims::Claim>,
}

impl Experiment {
    /// The worker counts model `m` runs at: its own list, or the matrix's.
    pub fn workers_of(&self, m: &Model) -> &[usize] {
        self.model_workers
            .iter()
            .find(|(k, _)| k == m.name())
            .map_or(&self.workers, |(_, w)| w)
    }
}

/// A `--set KEY=VALUE` override.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: String,
}

impl std::str::FromStr for Override {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("\"{s}\" is not KEY=VALUE"))?;
        Ok(Override {
            key: k.trim().to_string(),
            value: v.trim().to_string(),
        })
    }
}

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "repetitions",
    "precision",
    "min_repetitions",
    "max_repetitions",
    "warmup",
    "timeout",
    "order",
    "workload",
    "matrix",
    "models",
    "chart",
    "claims",
];
const ORDERS: &[&str] = &["interleaved", "grouped"];

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
    let mut checker = Checker {
        sources: Vec::new(),
        diagnostics: Vec::new(),
        overridden: !overrides.is_empty(),
    };
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

struct Checker {
    sources: Vec<Source>,
    diagnostics: Vec<Diagnostic>,
    /// `--set` changed the file: a claim about cells it took away is left out, not an error.
    overridden: bool,
}

impl Checker {
    fn report(&mut self, origin: usize, span: Range<usize>, key: &str, message: String) {
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

    fn at_node(&mut self, node: &Node, key: &str, message: String) {
        self.report(node.origin, node.span.clone(), key, message);
    }

    fn at_key(&mut self, entry: &Entry, key: &str, message: String) {
        let origin = entry.node.origin;
        // A key given by `--set` was never written in a file: point at its value instead.
        let span = if entry.key_span == (0..0) {
            entry.node.span.clone()
        } else {
            entry.key_span.clone()
        };
        self.report(origin, span, key, message);
    }

    fn table<'n>(&mut self, entry: &'n Entry, key: &str) -> Option<&'n [Entry]> {
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

    fn int(&mut self, node: &Node, key: &str, min: i64) -> Option<u64> {
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
    fn count(&mut self, node: &Node, key: &str, min: u64, max: u64) -> Option<u64> {
        let n = self.int(node, key, min as i64)?;
        if n > max {
            self.at_node(node, key, format!("must be at most {max}, got {n}"));
            return None;
        }
        Some(n)
    }

    fn string<'n>(&mut self, node: &'n Node, key: &str) -> Option<&'n str> {
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

    fn duration(&mut self, node: &Node, key: &str, positive: bool) -> Option<Duration> {
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

    fn choice(&mut self, node: &Node, key: &str, allowed: &[&str]) -> Option<String> {
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

    fn unknown_key(&mut self, entry: &Entry, key: &str, allowed: &[&str], what: &str) {
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

    fn param(&mut self, node: &Node, key: &str, ty: ParamType) -> Option<ParamValue> {
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

    fn experiment(&mut self, root: &Node, stem: &str, path: &Path) -> Option<Experiment> {
        let mut name = None;
        let mut description = String::new();
        let repetitions = self.repetitions(root.entries().unwrap_or_default());
        let mut warmup = 0;
        let mut timeout = Duration::from_secs(600);
        let mut order = Order::Interleaved;
        let (mut workload, mut matrix, mut models, mut chart) = (None, None, None, None);
        let mut claims = None;
        for e in root.entries().unwrap_or_default() {
            let n = &e.node;
            match e.key.as_str() {
                "name" => {
                    if let Some(s) = self.string(n, "name") {
                        if valid_name(s) {
                            name = Some(s.to_string());
                        } else {
                            self.at_node(n, "name", format!("\"{s}\" is not a valid name: use lowercase letters, digits, '_' and '-', starting with a letter or digit"));
                        }
                    }
                }
                "description" => {
                    description = self
                        .string(n, "description")
                        .unwrap_or_default()
                        .to_string()
                }
                "repetitions" | "precision" | "min_repetitions" | "max_repetitions" => {}
                "warmup" => {
                    warmup = match self.int(n, "warmup", 0) {
                        Some(w) if w > repetitions::MAX_REPETITIONS => {
                            self.at_node(
                                n,
                                "warmup",
                                format!(
                                    "must be at most {}, got {w}",
                                    repetitions::MAX_REPETITIONS
                                ),
                            );
                            0
                        }
                        w => w.unwrap_or(0) as u32,
                    }
                }
                "timeout" => timeout = self.duration(n, "timeout", true).unwrap_or(timeout),
                "order" => {
                    order = match self.choice(n, "order", ORDERS).as_deref() {
                        Some("grouped") => Order::Grouped,
                        _ => Order::Interleaved,
                    }
                }
                "workload" => workload = self.table(e, "workload"),
                "matrix" => matrix = self.table(e, "matrix"),
                "models" => models = self.table(e, "models"),
                "chart" => chart = self.table(e, "chart"),
                "claims" => claims = Some(e),
                _ => self.unknown_key(e, &e.key, TOP_KEYS, "the top level"),
            }
        }
        let file = &self.sources[0].name.clone();
        let Some(workload) = workload else {
            self.diagnostics.push(Diagnostic {
                file: file.clone(),
                line: 1,
                column: 1,
                key: "workload".into(),
                message: format!(
                    "missing [workload] table: add [workload] with kind = one of {}",
                    crate::workload::kind_names().join(", ")
                ),
                excerpt: None,
            });
            return None;
        };
        let kind = self.kind(root, workload);
        let params = kind
            .map(|k| self.workload_params(k, workload))
            .unwrap_or_default();
        let Some(matrix) = matrix else {
            self.diagnostics.push(Diagnostic {
                file: file.clone(),
                line: 1,
                column: 1,
                key: "matrix".into(),
                message: format!(
                    "missing [matrix] table: add [matrix] with model = [...] (allowed: {})",
                    Model::builtin_names().join(", ")
                ),
                excerpt: None,
            });
            return None;
        };
        let (settings, custom, own_workers) = models
            .map(|m| self.models(m, &models::folder_of(path)))
            .unwrap_or_default();
        let (model_list, workers, axes) = self.matrix(matrix, kind, workload, &custom);
        let model_workers = self.own_workers_in_matrix(own_workers, model_list.as_deref());
        let listed = model_list.as_deref();
        self.kind_rules(kind, root, listed, &params, &axes, workload, matrix);
        let chart = chart.map(|c| self.chart(c)).unwrap_or_default();
        let mut exp = Experiment {
            name: name.unwrap_or_else(|| sanitize_name(stem)),
            description,
            path: path.to_path_buf(),
            repetitions,
            warmup,
            timeout,
            order,
            kind: kind?,
            workload: params,
            models: model_list?,
            workers,
            axes,
            settings,
            model_workers,
            chart,
            claims: Vec::new(),
        };
        if let Some(e) = claims {
            let cells = matrix::expand(&exp);
            exp.claims = self.claims(e, &exp.models, &exp.axes, &cells);
        }
        Some(exp)
    }

    fn kind(&mut self, root: &Node, workload: &[Entry]) -> Option<&'static KindDef> {
        let names = crate::workload::kind_names();
        let Some(e) = workload.iter().find(|e| e.key == "kind") else {
            let w = root.get("workload").expect("checked above");
            self.at_key(
                w,
                "workload.kind",
                format!("missing key \"kind\"; allowed: {}", names.join(", ")),
            );
            return None;
        };
        let kind = self.choice(&e.node, "workload.kind", &names)?;
        crate::workload::kind(&kind)
    }

    fn workload_params(&mut self, kind: &KindDef, workload: &[Entry]) -> Params {
        let mut out = Params::new();
        let mut allowed = kind.param_names();
        allowed.insert(0, "kind");
        for e in workload.iter().filter(|e| e.key != "kind") {
            let key = format!("workload.{}", e.key);
            match kind.param(&e.key) {
                Some(def) => {
                    if let Some(v) = self.param(&e.node, &key, def.ty) {
                        out.insert(e.key.clone(), v);
                    }
                }
                None => self.unknown_key(
                    e,
                    &key,
                    &allowed,
                    &format!("[workload] of kind {}", kind.name),
                ),
            }
        }
        out
    }

    fn array<'n>(&mut self, entry: &'n Entry, key: &str, example: &str) -> Option<&'n [Node]> {
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

    fn matrix(
        &mut self,
        matrix: &[Entry],
        kind: Option<&KindDef>,
        workload: &[Entry],
        custom: &[Arc<CustomModel>],
    ) -> (Option<Vec<Model>>, Vec<usize>, Vec<Axis>) {
        let mut models = None;
        let mut workers = vec![1];
        let mut axes = Vec::new();
        let mut model_names = Model::builtin_names();
        model_names.extend(custom.iter().map(|c| c.name.as_str()));
        for e in matrix {
            let key = format!("matrix.{}", e.key);
            match e.key.as_str() {
                "model" => {
                    let Some(items) =
                        self.array(e, &key, "model = [\"sequential\", \"thread_pool\"]")
                    else {
                        continue;
                    };
                    let mut list: Vec<Model> = Vec::new();
                    for item in items {
                        if let Some(m) = self.choice(item, &key, &model_names).and_then(|m| {
                            Model::builtin(&m).or_else(|| {
                                custom
                                    .iter()
                                    .find(|c| c.name == m)
                                    .map(|c| Model::Custom(c.clone()))
                            })
                        }) {
                            if list.contains(&m) {
                                self.at_node(item, &key, format!("\"{m}\" is listed twice"));
                            }
                            list.push(m);
                        }
                    }
                    if list.len() == items.len() {
                        models = Some(list);
                    }
                }
                "workers" => {
                    if let Some(list) = self.worker_list(e, &key) {
                        workers = list;
                    }
                }
                _ => {
                    let Some(kind) = kind else { continue };
                    let Some(def) = kind.param(&e.key) else {
                        let mut allowed = vec!["model", "workers"];
                        allowed.extend(kind.param_names());
                        self.unknown_key(
                            e,
                            &key,
                            &allowed,
                            &format!(
                                "[matrix] (axes are model, workers and the parameters of kind {})",
                                kind.name
                            ),
                        );
                        continue;
                    };
                    if workload.iter().any(|w| w.key == e.key) {
                        self.at_key(e, &key, "is set in [workload] too; keep it in one place ([matrix] to vary it, [workload] to fix it)".to_string());
                        continue;
                    }
                    let Some(items) = self.array(e, &key, &format!("{} = [...]", e.key)) else {
                        continue;
                    };
                    let values: Vec<ParamValue> = items
                        .iter()
                        .filter_map(|i| self.param(i, &key, def.ty))
                        .collect();
                    if values.len() == items.len() {
                        axes.push(Axis {
                            name: e.key.clone(),
                            values,
                        });
                    }
                }
            }
        }
        if models.is_none() && !matrix.iter().any(|e| e.key == "model") {
            let file = self.sources[0].name.clone();
            self.diagnostics.push(Diagnostic {
                file,
                line: 1,
                column: 1,
                key: "matrix.model".into(),
                message: format!(
                    "missing key \"model\" in [matrix]; allowed models: {}",
                    model_names.join(", ")
                ),
                excerpt: None,
            });
        }
        (models, workers, axes)
    }

    /// HTTP/2 is spoken by the async client only: ureq, the blocking models' client, has
    /// HTTP/1.1 and nothing else, so a cell of a blocking model at "2" would lie; external
    /// models are held to the same until their HTTP/2 is checked. Decided from the checked
    /// values (`http_version = 2`, `2.0` and `"2"` alike); the entries only place the message.
    fn http2_models(
        &mut self,
        models: &[Model],
        params: &Params,
        axes: &[Axis],
        workload: &[Entry],
        matrix: &[Entry],
    ) {
        let blocking: Vec<&str> = models
            .iter()
            .filter(|m| !m.waits_async() && !m.is_external())
            .map(|m| m.name())
            .collect();
        let external: Vec<&str> = models
            .iter()
            .filter(|m| m.is_external())
            .map(|m| m.name())
            .collect();
        if blocking.is_empty() && external.is_empty() {
            return;
        }
        let mut why = Vec::new();
        if !blocking.is_empty() {
            why.push(format!(
                "{} use ureq, which speaks HTTP/1.1",
                blocking.join(", ")
            ));
        }
        if !external.is_empty() {
            why.push(format!(
                "{} run in another program, which is handed HTTP/1.1 URLs only",
                external.join(", ")
            ));
        }
        let http2 = ParamValue::Str("2".into());
        let asked = [
            (
                "workload",
                workload,
                params.get("http_version") == Some(&http2),
            ),
            (
                "matrix",
                matrix,
                axes.iter()
                    .any(|a| a.name == "http_version" && a.values.contains(&http2)),
            ),
        ];
        for (table, entries, asks) in asked {
            let Some(e) = entries.iter().find(|e| asks && e.key == "http_version") else {
                continue;
            };
            self.at_node(
                &e.node,
                &format!("{table}.http_version"),
                format!(
                    "http_version \"2\" is spoken by the async models only (async, async_pool); {}: list them in an experiment of their own, or keep http_version = \"1.1\"",
                    why.join("; ")
                ),
            );
        }
    }

    /// A list of worker counts, `[1, 2, 4]`; None (with the errors reported) otherwise.
    fn worker_list(&mut self, entry: &Entry, key: &str) -> Option<Vec<usize>> {
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

    fn chart(&mut self, chart: &[Entry]) -> ChartSettings {
        let mut c = ChartSettings::default();
        for e in chart {
            match e.key.as_str() {
                "timeline_workers" => {
                    c.timeline_workers = self
                        .count(&e.node, "chart.timeline_workers", 1, params::MAX_WORKERS)
                        .map(|n| n as usize)
                }
                _ => self.unknown_key(
                    e,
                    &format!("chart.{}", e.key),
                    &["timeline_workers"],
                    "[chart]",
                ),
            }
        }
        c
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Int(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => format!("\"{s}\""),
        other => other.type_name().to_string(),
    }
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn sanitize_name(stem: &str) -> String {
    let s: String = stem
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_start_matches(['-', '_']).to_string();
    if s.is_empty() { "experiment".into() } else { s }
}

impl Experiment {
    /// The resolved experiment as TOML: every default written out, for `experiment.toml`.
    pub fn resolved_toml(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let q = |t: &str| toml::Value::String(t.to_string()).to_string();
        let _ = writeln!(
            s,
            "# The resolved experiment that produced these results (defaults filled in)."
        );
        let _ = writeln!(s, "# source = {}", q(&self.path.display().to_string()));
        let _ = writeln!(s, "name = {}", q(&self.name));
        let _ = writeln!(s, "description = {}", q(&self.description));
        s.push_str(&self.repetitions.toml());
        let _ = writeln!(s, "warmup = {}", self.warmup);
        let _ = writeln!(s, "timeout = {}", q(&format_duration(self.timeout)));
        let _ = writeln!(
            s,
            "order = {}",
            q(if self.order == Order::Grouped {
                "grouped"
            } else {
                "interleaved"
            })
        );
        let _ = writeln!(s, "\n[workload]\nkind = {}", q(self.kind.name));
        let mut base = self.workload.clone();
        let axis_names: Vec<&str> = self.axes.iter().map(|a| a.name.as_str()).collect();
        params::fill_defaults(self.kind, &mut base);
        for (k, v) in &base {
            // A length taken from an axis (tasks = len(inputs)) is derived again per cell.
            let derived_from_axis = matches!(self.kind.param(k).map(|p| p.default), Some(params::Default::LenOf(src, _)) if axis_names.contains(&src))
                && !self.workload.contains_key(k);
            if axis_names.contains(&k.as_str()) || derived_from_axis {
                continue;
            }
            let _ = writeln!(s, "{k} = {}", toml_value(v));
        }
        let _ = writeln!(s, "\n[matrix]");
        let models: Vec<String> = self.models.iter().map(|m| q(m.name())).collect();
        let _ = writeln!(s, "model = [{}]", models.join(", "));
        let workers: Vec<String> = self.workers.iter().map(|w| w.to_string()).collect();
        let _ = writeln!(s, "workers = [{}]", workers.join(", "));
        for a in &self.axes {
            let values: Vec<String> = a.values.iter().map(toml_value).collect();
            let _ = writeln!(s, "{} = [{}]", a.name, values.join(", "));
        }
        // A model's own worker counts go into its table, whether or not it has settings.
        let own = |name: &str| {
            self.model_workers
                .iter()
                .find(|(m, _)| m == name)
                .map(|(_, w)| {
                    let w: Vec<String> = w.iter().map(|n| n.to_string()).collect();
                    format!("workers = [{}]\n", w.join(", "))
                })
                .unwrap_or_default()
        };
        let _ = write!(
            s,
            "\n[models.gil_threads]\nswitch_interval = {}\n{}",
            q(&format_duration(self.settings.switch_interval)),
            own("gil_threads")
        );
        let _ = writeln!(
            s,
            "\n[models.cpython]\npython = {}",
            q(&self.settings.python)
        );
        for m in &self.models {
            if let Model::Custom(c) = m {
                let words: Vec<String> = c.command.iter().map(|w| q(w)).collect();
                let _ = write!(
                    s,
                    "\n[models.{}]   # run in {}\ncommand = [{}]\n{}",
                    c.name,
                    q(&c.dir.display().to_string()),
                    words.join(", "),
                    own(&c.name)
                );
            }
        }
        for m in &self.models {
            if !matches!(m, Model::Custom(_)) && m.name() != "gil_threads" {
                let w = own(m.name());
                if !w.is_empty() {
                    let _ = write!(s, "\n[models.{}]\n{w}", m.name());
                }
            }
        }
        if let Some(w) = self.chart.timeline_workers {
            let _ = writeln!(s, "\n[chart]\ntimeline_workers = {w}");
        }
        for c in &self.claims {
            s.push_str(&c.toml());
        }
        s
    }
}

fn toml_value(v: &ParamValue) -> String {
    let q = |t: &str| toml::Value::String(t.to_string()).to_string();
    match v {
        ParamValue::Int(n) => n.to_string(),
        ParamValue::Float(f) => format!("{f:?}"),
        ParamValue::Dur(d) => q(&format_duration(*d)),
        ParamValue::Str(t) => q(t),
        ParamValue::Strs(list) => format!(
            "[{}]",
            list.iter().map(|t| q(t)).collect::<Vec<_>>().join(", ")
        ),
        ParamValue::Table(t) => format!(
            "{{ {} }}",
            t.iter()
                .map(|(k, v)| format!("{} = {}", q(k), q(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ParamValue::Steps(list) => steps::steps_toml(list, toml_value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Experiment {
        parse_experiment("t.toml", text, Path::new("t.toml"), &[]).unwrap()
    }

    #[test]
    fn a_model_may_have_worker_counts_of_its_own() {
        let e = parse(
            "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thread_pool\", \"async\"]\nworkers = [3]\n[models.async]\nworkers = [1, 5]\n",
        );
        let cells: Vec<(String, usize)> = matrix::expand(&e)
            .into_iter()
            .map(|c| (c.model.name().to_string(), c.workers))
            .collect();
        assert_eq!(
            cells,
            [
                ("thread_pool".into(), 3),
                ("async".into(), 1),
                ("async".into(), 5)
            ]
        );
        let err = parse_experiment("f.toml", "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"async\"]\n[models.rayon]\nworkers = [2]\n", Path::new("f.toml"), &[]).unwrap_err();
        assert_eq!(err.diagnostics[0].key, "models.rayon.workers");
        assert!(
            err.diagnostics[0]
                .message
                .contains("rayon is not in [matrix] model")
        );
    }

    #[test]
    fn the_resolved_file_defines_the_same_cells() {
        for text in [
            "[workload]\nkind = \"hash_chain\"\niterations = 10\n[matrix]\nmodel = [\"sequential\", \"threads\"]\ninputs = [[\"a\"], [\"b\", \"c\"]]\n",
            "name = \"x\"\n[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"async\", \"gil_threads\"]\nworkers = [1, 8]\nduration = [\"1ms\", \"1.5s\"]\n[models.gil_threads]\nswitch_interval = \"1ms\"\n",
            "[workload]\nkind = \"hash_chain\"\nexpect = { pass = \"795551a1c6923576e0335d47fafc233b63573c919a989a052f93bf2ab4d314818fbc515831a25c59ddbef2c3b259c6c3df7250fffb2b5ed9c482d9a8e28ed7fa\" }\n[matrix]\nmodel = [\"rayon\"]\n",
            "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thread_pool\", \"async\", \"gil_threads\"]\nworkers = [1, 2]\n[models.async]\nworkers = [1, 5]\n[models.gil_threads]\nworkers = [3]\n",
        ] {
            let original = parse(text);
            let resolved = parse(&original.resolved_toml());
            let ids = |e: &Experiment| {
                matrix::expand(e)
                    .into_iter()
                    .map(|c| c.id)
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                ids(&original),
                ids(&resolved),
                "{}",
                original.resolved_toml()
            );
        }
    }

    #[test]
    fn claims_round_trip_through_the_resolved_file() {
        let original = parse(
            "[workload]\nkind = \"counter\"\n[matrix]\nmodel = [\"sequential\", \"thread_pool\"]\nworkers = [2, 5]\nsync = [\"none\", \"mutex\"]\nwait = [\"1ms\", \"1.5s\"]\n\n[[claims]]\nsay = \"a \\\"lock\\\" fixes it\"\ncell = { model = \"thread_pool\", workers = 5, sync = \"mutex\", wait = \"1500ms\" }\nexpect = \"check == pass\"\n\n[[claims]]\nsay = \"faster\"\ncell = { model = \"thread_pool\" }\nexpect = \"speedup>1.5\"\n",
        );
        assert_eq!(original.claims.len(), 2);
        assert_eq!(
            original.claims[0].cell_text(),
            "model=thread_pool workers=5 sync=mutex wait=1500ms"
        );
        let resolved = parse(&original.resolved_toml());
        assert_eq!(
            resolved.claims,
            original.claims,
            "{}",
            original.resolved_toml()
        );
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
    fn http2_is_refused_for_models_whose_client_speaks_only_http1() {
        let errors = |text: &str| match parse_experiment("h.toml", text, Path::new("h.toml"), &[]) {
            Ok(_) => vec![],
            Err(e) => e
                .diagnostics
                .into_iter()
                .map(|d| (d.key, d.message))
                .collect(),
        };
        let head = "[workload]\nkind = \"http\"\n";
        let refused = errors(&format!(
            "{head}http_version = \"2\"\n[matrix]\nmodel = [\"async\", \"thread_pool\"]\n"
        ));
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].0, "workload.http_version");
        assert!(
            refused[0].1.contains("thread_pool use ureq"),
            "{}",
            refused[0].1
        );
        let axis = errors(&format!(
            "{head}[matrix]\nmodel = [\"threads\"]\nhttp_version = [\"1.1\", 2]\n"
        ));
        assert_eq!(axis.len(), 1, "{axis:?}");
        assert_eq!(axis[0].0, "matrix.http_version");
        let float = errors(&format!(
            "{head}http_version = 2.0\n[matrix]\nmodel = [\"threads\"]\n"
        ));
        assert_eq!(float.len(), 1, "2.0 is \"2\" too: {float:?}");
        for fine in [
            format!("{head}http_version = 2\n[matrix]\nmodel = [\"async\", \"async_pool\"]\n"),
            format!("{head}http_version = \"1.1\"\n[matrix]\nmodel = [\"threads\", \"async\"]\n"),
            format!("{head}http_version = 1.1\n[matrix]\nmodel = [\"threads\"]\n"),
        ] {
            assert_eq!(errors(&fine), vec![], "{fine}");
        }
        let bad = errors(&format!(
            "{head}http_version = \"3\"\n[matrix]\nmodel = [\"async\"]\n"
        ));
        assert!(bad[0].1.contains("1.1, 2"), "{bad:?}");
        // Another kind has no http_version: one error, the unknown key, not two.
        let other = errors(
            "[workload]\nkind = \"sleep\"\nhttp_version = \"2\"\n[matrix]\nmodel = [\"threads\"]\n",
        );
        assert_eq!(other.len(), 1, "{other:?}");
        assert!(other[0].1.contains("unknown key"), "{other:?}");
    }

    #[test]
    fn every_error_of_a_file_is_reported_at_once() {
        let err = parse_experiment("f.toml", "warmup = -1\norder = \"random\"\n[workload]\nkind = \"sleep\"\nduration = \"0s\"\n[matrix]\nmodel = []\n", Path::new("f.toml"), &[]).unwrap_err();
        let keys: Vec<&str> = err.diagnostics.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(
            keys,
            ["warmup", "order", "workload.duration", "matrix.model"]
        );
        assert!(err.diagnostics[1].message.contains("interleaved, grouped"));
        assert!(err.diagnostics[3].message.contains("empty axis"));
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
