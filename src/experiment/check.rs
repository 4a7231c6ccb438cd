//! The experiment file checked table by table (top level, [workload], [matrix], [chart]).

use std::path::Path;
use std::time::Duration;

use super::error::Diagnostic;
use super::expand;
use super::tree::{Entry, Node};
use super::values::{Checker, valid_name};
use super::{Axis, ChartSettings, Experiment, Order, models, repetitions};
use crate::model::Model;
use crate::workload::params::{self, KindDef, ParamValue, Params};

/// The top-level keys: what `--set` may replace as a whole, and what the top level allows.
pub(super) const TOP_KEYS: &[&str] = &[
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

impl Checker {
    pub(super) fn experiment(
        &mut self,
        root: &Node,
        stem: &str,
        path: &Path,
    ) -> Option<Experiment> {
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
            let cells = expand::expand(&exp);
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

    fn matrix(
        &mut self,
        matrix: &[Entry],
        kind: Option<&KindDef>,
        workload: &[Entry],
        defined: &[Model],
    ) -> (Option<Vec<Model>>, Vec<usize>, Vec<Axis>) {
        let mut models = None;
        let mut workers = vec![1];
        let mut axes = Vec::new();
        let mut model_names = Model::builtin_names();
        model_names.extend(defined.iter().map(|m| m.name()));
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
                            Model::builtin(&m)
                                .or_else(|| defined.iter().find(|d| d.name() == m).cloned())
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
    pub(super) fn http2_models(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::parse_experiment;

    fn parse(text: &str) -> Experiment {
        parse_experiment("t.toml", text, Path::new("t.toml"), &[]).unwrap()
    }

    #[test]
    fn a_model_may_have_worker_counts_of_its_own() {
        let e = parse(
            "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thread_pool\", \"async\"]\nworkers = [3]\n[models.async]\nworkers = [1, 5]\n",
        );
        let cells: Vec<(String, usize)> = expand::expand(&e)
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
}
