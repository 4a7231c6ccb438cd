//! `[models.NAME]` of a model the file defines: a program of the user's own
//! (`command`, `baseline`) or a built-in cpython model under an interpreter of its own
//! (`base`, `python`).

use std::path::Path;

use super::models::{Own, OwnKey, resolve_program};
use super::tree::{Entry, Value};
use super::{Checker, valid_name};
use crate::model::CustomModel;
use crate::model::cpython::{self, BASE_KEY, CpythonModel, CpythonVariant, PYTHON_KEY};
use crate::model::kind::BASELINE_KEY;

impl Checker {
    /// `[models.NAME] base = "cpython_..."`, `python = "..."`: a built-in cpython model
    /// under an interpreter of its own.
    pub(super) fn variant(
        &mut self,
        e: &Entry,
        settings: &[Entry],
        key: &str,
        dir: &Path,
    ) -> Option<CpythonVariant> {
        let name = &e.key;
        if !self.own_model_name(e, key) {
            return None;
        }
        let (mut base, mut python) = (None, None);
        let bases: Vec<&str> = CpythonModel::all().map(CpythonModel::name).collect();
        for se in settings {
            let k = format!("{key}.{}", se.key);
            match se.key.as_str() {
                BASE_KEY => {
                    base = self
                        .choice(&se.node, &k, &bases)
                        .and_then(|b| CpythonModel::all().find(|m| m.name() == b));
                }
                PYTHON_KEY => match self.string(&se.node, &k) {
                    Some("") | None => self.at_node(
                        &se.node,
                        &k,
                        "must name a Python interpreter, e.g. \"python3.13t\" or \".python-ft/bin/python3.13t\"".into(),
                    ),
                    Some(p) => python = Some(p.to_string()),
                },
                _ => self.unknown_model_key(
                    se,
                    &k,
                    &[BASE_KEY, PYTHON_KEY],
                    &format!("[models.{name}]"),
                ),
            }
        }
        let base = base?;
        let Some(python) = python else {
            self.at_key(
                e,
                key,
                format!("a variant of {base} needs its interpreter: python = \"python3.13t\" (a name on PATH or a path)", base = base.name()),
            );
            return None;
        };
        Some(CpythonVariant {
            name: name.clone(),
            base,
            program: resolve_program(&python, dir),
            python,
        })
    }

    /// Whether `NAME` of `[models.NAME]` may name a model of the user's own.
    fn own_model_name(&mut self, e: &Entry, key: &str) -> bool {
        let name = &e.key;
        if !valid_name(name) {
            self.at_key(e, key, format!("\"{name}\" is not a valid model name: use lowercase letters, digits, '_' and '-', starting with a letter or digit"));
            return false;
        }
        if name.starts_with(cpython::PREFIX) {
            self.at_key(
                e,
                key,
                format!("\"{name}\": names starting with cpython are kept for the built-in models; name your model otherwise"),
            );
            return false;
        }
        true
    }

    pub(super) fn custom_model(
        &mut self,
        e: &Entry,
        settings: &[Entry],
        key: &str,
        dir: &Path,
    ) -> Option<(CustomModel, Option<OwnKey>)> {
        let name = &e.key;
        if !self.own_model_name(e, key) {
            return None;
        }
        let mut command = None;
        let mut baseline = None;
        for se in settings {
            let k = format!("{key}.{}", se.key);
            if se.key == BASELINE_KEY {
                if let Some(b) = self.string(&se.node, &k) {
                    baseline = Some((b.to_string(), (se.node.origin, se.key_span.clone())));
                }
                continue;
            }
            if se.key != "command" {
                self.unknown_model_key(
                    se,
                    &k,
                    &["command", BASELINE_KEY],
                    &format!("[models.{name}]"),
                );
                continue;
            }
            let example = "command = [\"python3\", \"my_model.py\"]";
            let items = match &se.node.value {
                Value::Array(items) if !items.is_empty() => items,
                v => {
                    self.at_node(&se.node, &k, format!("must be a non-empty array of strings (the program and its arguments), got {}; e.g. {example}", match v { Value::Array(_) => "an empty array", v => v.type_name() }));
                    continue;
                }
            };
            let words: Vec<String> = items
                .iter()
                .filter_map(|i| self.string(i, &k).map(str::to_string))
                .collect();
            if words.len() != items.len() {
                continue;
            }
            if words[0].is_empty() {
                self.at_node(
                    &items[0],
                    &k,
                    format!("the program must not be empty; e.g. {example}"),
                );
                continue;
            }
            command = Some(words);
        }
        let command = command?;
        let model = CustomModel {
            name: name.clone(),
            program: resolve_program(&command[0], dir),
            command,
            dir: dir.to_path_buf(),
            baseline: baseline.as_ref().map(|(b, _)| b.clone()),
        };
        let declared = baseline.map(|(b, at)| OwnKey {
            model: name.clone(),
            what: Own::Baseline(b),
            at,
        });
        Some((model, declared))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::experiment::expand::expand;
    use crate::experiment::models::tests::{HEAD, parse};
    use crate::model::{CpythonModel, Model};

    #[test]
    fn a_model_of_ones_own_is_defined_by_its_command_and_run_from_the_files_folder() {
        let e = parse(&format!(
            "{HEAD}[matrix]\nmodel = [\"sequential\", \"mine\"]\nworkers = [2]\n[models.mine]\ncommand = [\"./bin/model\", \"--fast\"]\n"
        ))
        .unwrap();
        let Model::Custom(m) = &e.models[1] else {
            panic!("{:?}", e.models)
        };
        assert_eq!(m.name, "mine");
        assert_eq!(m.command, ["./bin/model", "--fast"]);
        assert_eq!(m.program, Path::new("/lab/./bin/model"));
        assert_eq!(m.dir, Path::new("/lab"));
        let cells = expand(&e);
        assert_eq!(cells[1].label(), "mine w=2");
        let other = parse(&format!(
            "{HEAD}[matrix]\nmodel = [\"sequential\", \"mine\"]\nworkers = [2]\n[models.mine]\ncommand = [\"./bin/model\"]\n"
        ))
        .unwrap();
        assert_ne!(
            cells[1].id,
            expand(&other)[1].id,
            "the command defines the cell"
        );
        assert_eq!(cells[0].id, expand(&other)[0].id);
    }

    #[test]
    fn a_model_of_ones_own_may_declare_its_baseline_among_the_matrix_models() {
        let file = |baseline: &str, models: &str| {
            parse(&format!(
                "{HEAD}[matrix]\nmodel = [{models}]\nworkers = [2]\n[models.mine]\ncommand = [\"./m\"]\nbaseline = {baseline}\n"
            ))
        };
        let e = file("\"cpython_sequential\"", "\"cpython_sequential\", \"mine\"").unwrap();
        let b = e.baselines();
        assert_eq!(b.of_model("mine"), Some("cpython_sequential"));
        let e = file("\"mine\"", "\"mine\"").unwrap();
        let b = e.baselines();
        assert!(b.is_baseline("mine"), "a model may be its own baseline");
        let undeclared = parse(&format!(
            "{HEAD}[matrix]\nmodel = [\"sequential\", \"mine\"]\n[models.mine]\ncommand = [\"./m\"]\n"
        ))
        .unwrap();
        let b = undeclared.baselines();
        assert_eq!(b.of_model("mine"), Some("sequential"));

        let absent = file("\"cpython_sequential\"", "\"sequential\", \"mine\"").unwrap_err();
        assert!(
            absent[0].contains("models.mine.baseline")
                && absent[0].contains("\"cpython_sequential\" is not in [matrix] model"),
            "{absent:?}"
        );
        let misspelt = file("\"sequentail\"", "\"sequential\", \"mine\"").unwrap_err();
        assert!(
            misspelt[0].contains("did you mean \"sequential\""),
            "{misspelt:?}"
        );
        let wrong_type = file("3", "\"sequential\", \"mine\"").unwrap_err();
        assert!(
            wrong_type[0].contains("models.mine.baseline"),
            "{wrong_type:?}"
        );
    }

    #[test]
    fn a_variant_runs_a_cpython_model_under_its_own_interpreter_baselined_on_its_own_sequential() {
        let text = format!(
            "{HEAD}[matrix]\nmodel = [\"cpython_sequential\", \"cpython_thread_pool\", \"ft_seq\", \"ft_pool\", \"other_pool\"]\nworkers = [2]\n\
             [models.ft_seq]\nbase = \"cpython_sequential\"\npython = \"ft/bin/python3.13t\"\n\
             [models.ft_pool]\nbase = \"cpython_thread_pool\"\npython = \"ft/bin/python3.13t\"\n\
             [models.other_pool]\nbase = \"cpython_thread_pool\"\npython = \"python3.12\"\n"
        );
        let e = parse(&text).unwrap();
        let Model::Variant(v) = &e.models[3] else {
            panic!("{:?}", e.models)
        };
        assert_eq!(v.base, CpythonModel::ThreadPool);
        assert_eq!(v.program, Path::new("/lab/ft/bin/python3.13t"));
        let cells = expand(&e);
        let ids: std::collections::HashSet<_> = cells.iter().map(|c| &c.id).collect();
        assert_eq!(ids.len(), cells.len(), "every variant is a cell of its own");
        assert_eq!(cells[2].workers, 1, "a sequential variant ignores workers");
        let b = e.baselines();
        assert_eq!(b.of_model("ft_pool"), Some("ft_seq"));
        assert_eq!(b.of_model("ft_seq"), Some("ft_seq"));
        assert_eq!(
            b.of_model("cpython_thread_pool"),
            Some("cpython_sequential")
        );
        assert_eq!(
            b.of_model("other_pool"),
            None,
            "no sequential of its interpreter"
        );
        let again = parse(&e.resolved_toml()).unwrap();
        let ids_again: Vec<_> = expand(&again).into_iter().map(|c| c.id).collect();
        let ids: Vec<_> = cells.into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ids_again, "{}", e.resolved_toml());

        let errors = |models: &str| {
            parse(&format!(
                "{HEAD}[matrix]\nmodel = [\"sequential\"]\n{models}"
            ))
            .unwrap_err()
        };
        let base = errors("[models.ft]\nbase = \"thread_pool\"\npython = \"p\"\n");
        assert!(base[0].contains("models.ft.base"), "{base:?}");
        let python = errors("[models.ft]\nbase = \"cpython_threads\"\n");
        assert!(python[0].contains("needs its interpreter"), "{python:?}");
        let extra = errors("[models.ft]\nbase = \"cpython_threads\"\npython = \"p\"\nswitch = 1\n");
        assert!(extra[0].contains("allowed: base, python"), "{extra:?}");
    }
}
