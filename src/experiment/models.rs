//! `[models.NAME]`: the settings of built-in models, and the models of the user's own.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Checker;
use super::error::allowed_hint;
use super::tree::Entry;
use crate::model::cpython::{self, BASE_KEY, PYTHON_KEY};
use crate::model::{Model, SettingValue};

pub use crate::model::ModelSettings;
pub use crate::model::cpython::DEFAULT_PYTHON;

/// A program named in an experiment file: a relative path (`./model`, `bin/model`) is
/// relative to the file's folder `dir`; a bare name is looked up on PATH when started, as
/// a shell would.
pub fn resolve_program(written: &str, dir: &Path) -> PathBuf {
    let path = Path::new(written);
    if path.is_relative() && path.components().count() > 1 {
        dir.join(path)
    } else {
        path.to_path_buf()
    }
}

/// The folder relative paths in the experiment file `path` are relative to, absolute.
pub fn folder_of(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// A key of `[models.NAME]` that must agree with `[matrix] model`, with where it was written.
#[derive(Debug, Clone)]
pub(super) struct OwnKey {
    pub(super) model: String,
    pub(super) what: Own,
    /// Origin and span of the key.
    pub(super) at: (usize, Range<usize>),
}

#[derive(Debug, Clone)]
pub(super) enum Own {
    /// `workers = [...]`: the model's own worker counts.
    Workers(Vec<usize>),
    /// `baseline = "..."` of a model of the user's own: the model its speedups are over.
    Baseline(String),
}

/// The key every model's table takes, besides its own settings.
const WORKERS_KEY: &str = "workers";

/// The table that sets the interpreter of every `cpython_*` model.
const CPYTHON_TABLE: &str = cpython::TABLE;

impl Checker {
    /// Checks `[models]`: settings of the built-in models, the interpreter of the cpython
    /// models, and `[models.NAME] command = [...]` for a model of the user's own. Relative
    /// paths are resolved against `dir`.
    pub(super) fn models(
        &mut self,
        models: &[Entry],
        dir: &Path,
    ) -> (ModelSettings, Vec<Model>, Vec<OwnKey>) {
        let mut s = ModelSettings::default();
        let mut custom = Vec::new();
        let mut own_workers = Vec::new();
        for e in models {
            let key = format!("models.{}", e.key);
            let builtin = Model::builtin(&e.key);
            let defines_command = e.node.get("command").is_some();
            let defines_variant = e.node.get(BASE_KEY).is_some();
            if builtin.is_none() && e.key != CPYTHON_TABLE && !defines_command && !defines_variant {
                let mut names = Model::builtin_names();
                names.push(CPYTHON_TABLE);
                self.at_key(
                    e,
                    &key,
                    format!(
                        "unknown model \"{}\"; {}; a model of your own needs command = [\"program\", ...], a variant of a cpython model base = \"cpython_...\" and python = \"...\"",
                        e.key,
                        allowed_hint(&e.key, &names)
                    ),
                );
                continue;
            }
            let Some(settings) = self.table(e, &key) else {
                continue;
            };
            // Any model may run at worker counts of its own; the rest are its settings.
            let (workers, settings): (Vec<&Entry>, Vec<&Entry>) =
                settings.iter().partition(|se| se.key == WORKERS_KEY);
            let settings: Vec<Entry> = settings.into_iter().cloned().collect();
            let settings = settings.as_slice();
            for w in workers {
                let k = format!("{key}.workers");
                if e.key == CPYTHON_TABLE {
                    self.unknown_key(w, &k, &[PYTHON_KEY], &format!("[models.{CPYTHON_TABLE}]"));
                } else if let Some(list) = self.worker_list(w, &k) {
                    own_workers.push(OwnKey {
                        model: e.key.clone(),
                        what: Own::Workers(list),
                        at: (w.node.origin, w.key_span.clone()),
                    });
                }
            }
            match builtin {
                Some(m) => self.builtin_settings(&m, settings, &key, &mut s),
                None if e.key == CPYTHON_TABLE => {
                    for se in settings {
                        let k = format!("{key}.{}", se.key);
                        if se.key != PYTHON_KEY {
                            self.unknown_key(
                                se,
                                &k,
                                &[PYTHON_KEY],
                                &format!("[models.{CPYTHON_TABLE}]"),
                            );
                            continue;
                        }
                        match self.string(&se.node, &k) {
                            Some("") => self.at_node(
                                &se.node,
                                &k,
                                "must name a Python interpreter, e.g. \"python3\" or \"/usr/bin/python3.12\"".into(),
                            ),
                            Some(p) => {
                                s.python = p.to_string();
                                s.python_program = resolve_program(p, dir);
                            }
                            None => {}
                        }
                    }
                }
                None if defines_variant => {
                    if let Some(v) = self.variant(e, settings, &key, dir) {
                        custom.push(Model::Variant(Arc::new(v)));
                    }
                }
                None => {
                    if let Some((m, baseline)) = self.custom_model(e, settings, &key, dir) {
                        own_workers.extend(baseline);
                        custom.push(Model::Custom(Arc::new(m)));
                    }
                }
            }
        }
        (s, custom, own_workers)
    }

    /// Keeps the models' own worker counts whose model is in the matrix; the others are
    /// errors at their key, as is a declared baseline that is not in the matrix.
    pub(super) fn own_workers_in_matrix(
        &mut self,
        own: Vec<OwnKey>,
        matrix: Option<&[Model]>,
    ) -> Vec<(String, Vec<usize>)> {
        let mut kept = Vec::new();
        let listed = |name: &str| matrix.is_none_or(|list| list.iter().any(|m| m.name() == name));
        for o in own {
            match o.what {
                Own::Workers(_) if !listed(&o.model) => {
                    let key = format!("models.{}.workers", o.model);
                    let message = format!(
                        "{} is not in [matrix] model: add it there, or remove its workers",
                        o.model
                    );
                    self.report(o.at.0, o.at.1, &key, message);
                }
                Own::Workers(list) => kept.push((o.model, list)),
                Own::Baseline(b) if listed(&o.model) && !listed(&b) => {
                    let key = format!("models.{}.baseline", o.model);
                    let names: Vec<&str> = matrix.into_iter().flatten().map(|m| m.name()).collect();
                    let message = format!(
                        "\"{b}\" is not in [matrix] model: a baseline must be measured beside its model; {}",
                        allowed_hint(&b, &names)
                    );
                    self.report(o.at.0, o.at.1, &key, message);
                }
                Own::Baseline(_) => {}
            }
        }
        kept
    }

    /// An unknown key in a model's table: allowed are the model's own keys and `workers`.
    pub(super) fn unknown_model_key(&mut self, entry: &Entry, key: &str, own: &[&str], what: &str) {
        let mut allowed = own.to_vec();
        allowed.push(WORKERS_KEY);
        self.unknown_key(entry, key, &allowed, what);
    }

    fn builtin_settings(
        &mut self,
        m: &Model,
        settings: &[Entry],
        key: &str,
        s: &mut ModelSettings,
    ) {
        for se in settings {
            let k = format!("{key}.{}", se.key);
            let Model::Rust(kind) = m else {
                let what =
                    format!("[models.{m}] (the interpreter is set in [models.{CPYTHON_TABLE}])");
                self.unknown_model_key(se, &k, &[], &what);
                continue;
            };
            let declared = kind.about().settings;
            let Some(setting) = declared.iter().find(|d| d.key == se.key) else {
                let keys: Vec<&str> = declared.iter().map(|d| d.key).collect();
                self.unknown_model_key(se, &k, &keys, &format!("[models.{m}]"));
                continue;
            };
            match setting.default {
                SettingValue::Duration(_) => {
                    if let Some(d) = self.duration(&se.node, &k, true) {
                        s.set(*kind, setting.key, SettingValue::Duration(d));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::experiment::expand::expand;
    use crate::experiment::{Experiment, parse_experiment};

    /// The head of an experiment file the tests of `[models]` complete.
    pub const HEAD: &str = "[workload]\nkind = \"sleep\"\n";

    /// Parses a file of `/lab`, or gives its errors as printed.
    pub fn parse(text: &str) -> Result<Experiment, Vec<String>> {
        parse_experiment("/lab/m.toml", text, Path::new("/lab/m.toml"), &[])
            .map_err(|e| e.diagnostics.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn every_models_table_offers_workers_and_a_bare_number_is_no_duration() {
        let errors = parse(&format!(
            "{HEAD}duration = 10\n[matrix]\nmodel = [\"async\", \"cpython_threads\"]\n\
             [models.async]\nworker = [1, 8]\n[models.cpython_threads]\nwokers = [2]\n"
        ))
        .unwrap_err();
        let find = |key: &str| {
            errors
                .iter()
                .find(|e| e.contains(key))
                .unwrap_or_else(|| panic!("no error at {key}: {errors:?}"))
        };
        assert!(
            find("models.async.worker").contains("allowed: workers; did you mean \"workers\"?"),
            "{errors:?}"
        );
        assert!(find("models.cpython_threads.wokers").contains("did you mean \"workers\"?"));
        assert!(
            find("workload.duration").contains("e.g. \"10ms\" or \"10s\"; got the number 10"),
            "{errors:?}"
        );
    }

    #[test]
    fn the_interpreter_defines_the_cpython_cells_only_when_it_is_not_the_default() {
        let id = |models: &str| {
            let e = parse(&format!(
                "{HEAD}[matrix]\nmodel = [\"cpython_thread_pool\"]\nworkers = [2]\n{models}"
            ))
            .unwrap();
            (expand(&e)[0].id.clone(), e.settings.python_program)
        };
        let (default, program) = id("");
        assert_eq!(program, Path::new("python3"));
        assert_eq!(default, id("[models.cpython]\npython = \"python3\"\n").0);
        let (other, program) = id("[models.cpython]\npython = \"venv/bin/python\"\n");
        assert_ne!(default, other);
        assert_eq!(program, Path::new("/lab/venv/bin/python"));
        let e = parse(&format!(
            "{HEAD}[matrix]\nmodel = [\"cpython_threads\", \"cpython_sequential\"]\nworkers = [4]\n"
        ))
        .unwrap();
        let workers: Vec<usize> = expand(&e).iter().map(|c| c.workers).collect();
        assert_eq!(workers, [10, 1], "threads: one per task; sequential: one");
    }

    #[test]
    fn models_tables_are_checked_like_every_other_key() {
        let errors = |models: &str| {
            parse(&format!(
                "{HEAD}[matrix]\nmodel = [\"sequential\"]\n{models}"
            ))
            .unwrap_err()
        };
        let typo = errors("[models.cpython_thread]\n");
        assert_eq!(typo.len(), 1, "{typo:?}");
        assert!(
            typo[0].starts_with(
                "/lab/m.toml:5:9: models.cpython_thread: unknown model \"cpython_thread\""
            ) && typo[0].contains("did you mean \"cpython_threads\"?")
                && typo[0].contains("a model of your own needs command"),
            "{typo:?}"
        );
        let empty = errors("[models.mine]\ncommand = []\n");
        assert!(
            empty[0]
                .starts_with("/lab/m.toml:6:11: models.mine.command: must be a non-empty array"),
            "{empty:?}"
        );
        let text = errors("[models.mine]\ncommand = \"prog --fast\"\n");
        assert!(text[0].contains("got a string"), "{text:?}");
        let extra = errors("[models.mine]\ncommand = [\"p\"]\nargs = [\"x\"]\n");
        assert!(
            extra[0].contains("unknown key \"args\" in [models.mine]; allowed: command"),
            "{extra:?}"
        );
        let python = errors("[models.cpython]\npyton = \"python3.12\"\n");
        assert!(python[0].contains("did you mean \"python\"?"), "{python:?}");
        let reserved = errors("[models.cpython_fast]\ncommand = [\"p\"]\n");
        assert!(
            reserved[0].contains("kept for the built-in models"),
            "{reserved:?}"
        );
        let setting = errors("[models.cpython_threads]\npython = \"python3\"\n");
        assert!(
            setting[0].contains("the interpreter is set in [models.cpython]"),
            "{setting:?}"
        );
        // A model used in the matrix but defined nowhere.
        let undefined = parse(&format!("{HEAD}[matrix]\nmodel = [\"mine\"]\n")).unwrap_err();
        assert!(
            undefined[0].contains("\"mine\" is not allowed"),
            "{undefined:?}"
        );
    }

    #[test]
    fn http2_is_refused_for_external_models() {
        let err = parse(
            "[workload]\nkind = \"http\"\nhttp_version = \"2\"\n[matrix]\nmodel = [\"async\", \"cpython_asyncio\", \"mine\"]\n[models.mine]\ncommand = [\"p\"]\n",
        )
        .unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(
            err[0].contains(
                "cpython_asyncio, mine run in another program, which is handed HTTP/1.1 URLs only"
            ),
            "{err:?}"
        );
    }

    #[test]
    fn the_resolved_file_keeps_external_cells() {
        let e = parse(&format!(
            "{HEAD}[matrix]\nmodel = [\"cpython_asyncio\", \"mine\"]\nworkers = [3]\n[models.cpython]\npython = \"python3.12\"\n[models.mine]\ncommand = [\"./m\", \"a b\"]\n"
        ))
        .unwrap();
        let again = parse(&e.resolved_toml()).unwrap();
        let ids = |e: &Experiment| expand(e).into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(&e), ids(&again), "{}", e.resolved_toml());
    }

    #[test]
    fn relative_paths_are_relative_to_the_file_and_bare_names_stay_for_path() {
        let dir = Path::new("/exp");
        assert_eq!(resolve_program("python3", dir), Path::new("python3"));
        assert_eq!(resolve_program("./m.py", dir), Path::new("/exp/./m.py"));
        assert_eq!(resolve_program("bin/m", dir), Path::new("/exp/bin/m"));
        assert_eq!(
            resolve_program("/usr/bin/python3", dir),
            Path::new("/usr/bin/python3")
        );
        assert!(folder_of(Path::new("e.toml")).is_absolute());
        assert_eq!(folder_of(Path::new("/a/b/e.toml")), Path::new("/a/b"));
    }
}
