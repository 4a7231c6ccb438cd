//! The models of a cell: conclab's own ([`ModelKind`]), CPython's ([`CpythonModel`]), and
//! the user's ([`CustomModel`]), all three a [`Model`] that answers for itself from its
//! model's [`Descriptor`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;

use super::ModelKind;
use super::cpython::{self, BASE_KEY, CpythonModel, CpythonVariant, DEFAULT_PYTHON, PYTHON_KEY};
use super::descriptor::{
    Descriptor, Family, Needs, ReadValue, Rgb, SettingsRead, Unavailable, Workers,
};
use super::settings::ModelSettings;

impl ModelKind {
    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|m| m.name()).collect()
    }

    pub fn from_name(name: &str) -> Option<ModelKind> {
        ModelKind::from_str(name).ok()
    }

    pub fn about(self) -> &'static Descriptor {
        &self.model().about
    }

    /// The concurrency actually used when the model does not take `workers` from the file.
    pub fn fixed_workers(self, tasks: usize) -> Option<usize> {
        self.about().fixed_workers(tasks)
    }

    /// Whether the model's waits go through the event loop (its HTTP client is async), not
    /// through a blocking call.
    pub fn waits_async(self) -> bool {
        self.about().waits_async
    }

    /// How many tasks may wait at the same time, and how many may compute at the same time,
    /// with `workers` as recorded for the cell. Cores are applied by the ideal formula.
    pub fn concurrency(self, workers: usize, tasks: usize) -> Concurrency {
        (self.about().concurrency)(workers, tasks)
    }
}

impl Descriptor {
    pub fn fixed_workers(&self, tasks: usize) -> Option<usize> {
        match self.workers {
            Workers::Taken => None,
            Workers::Fixed(used) => Some(used(tasks)),
        }
    }
}

impl Family {
    /// The model every other model of the family is measured against.
    pub fn baseline(self) -> &'static str {
        match self {
            Family::Conclab => ModelKind::Sequential.name(),
            Family::Cpython => CpythonModel::Sequential.name(),
        }
    }
}

/// The model a speedup is measured against: each runtime against its own sequential run;
/// a model of the user's own against conclab's.
pub fn baseline_of(model: &str) -> &'static str {
    Model::builtin(model)
        .and_then(|m| m.about())
        .map_or(Family::Conclab, |a| a.family)
        .baseline()
}

/// Whether `model` is a baseline of speedups itself.
pub fn is_baseline(model: &str) -> bool {
    baseline_of(model) == model
}

/// The model each model of one experiment is measured against: [`baseline_of`] for the
/// models known by name; for a variant under an interpreter of its own, the sequential
/// variant of that interpreter, or none (see [`CpythonVariant::baseline`]); for a model
/// of the user's own, the `baseline` it declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baselines {
    /// The models whose baseline is not [`baseline_of`] their name, and theirs.
    own: Vec<(String, Option<String>)>,
}

impl Baselines {
    pub fn of(models: &[Model], settings: &ModelSettings) -> Baselines {
        let all: Vec<&CpythonVariant> = models
            .iter()
            .filter_map(|m| match m {
                Model::Variant(v) => Some(v.as_ref()),
                _ => None,
            })
            .collect();
        let declared = models.iter().filter_map(|m| match m {
            Model::Custom(c) => c.baseline.clone().map(|b| (c.name.clone(), Some(b))),
            _ => None,
        });
        let own = all
            .iter()
            .map(|v| {
                let base = v.baseline(all.iter().copied(), &settings.python);
                (v.name.clone(), base.map(str::to_string))
            })
            .chain(declared)
            .collect();
        Baselines { own }
    }

    /// The model `model`'s speedups are measured against, if any.
    pub fn of_model<'a>(&'a self, model: &'a str) -> Option<&'a str> {
        match self.own.iter().find(|(v, _)| v == model) {
            Some((_, base)) => base.as_deref(),
            None => Some(baseline_of(model)),
        }
    }

    /// Whether `model` is a baseline of speedups itself.
    pub fn is_baseline(&self, model: &str) -> bool {
        self.of_model(model) == Some(model)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    pub waits: usize,
    pub cpu: usize,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model of the user's own: a program that speaks the external-model protocol
/// (docs/external-models.md), defined by `[models.NAME] command = [...]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomModel {
    pub name: String,
    /// The command as written in the file: part of the cell's definition.
    pub command: Vec<String>,
    /// The program to start: the command's first word, resolved against `dir` when it is
    /// a relative path (a bare name is looked up on PATH).
    pub program: PathBuf,
    /// The experiment file's folder: the program's working directory, so that relative
    /// arguments name files beside the experiment.
    pub dir: PathBuf,
    /// `baseline = "..."`: the model its speedups are over, when not conclab's `sequential`
    /// (e.g. `cpython_sequential` for a Python program, or the model itself).
    pub baseline: Option<String>,
}

/// The key of `[models.NAME]` that names a model of the user's own's baseline.
pub const BASELINE_KEY: &str = "baseline";

/// The model of a cell: one of conclab's own, a built-in CPython model, or the user's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Model {
    Rust(ModelKind),
    Cpython(CpythonModel),
    /// A built-in cpython model under an interpreter of its own.
    Variant(Arc<CpythonVariant>),
    Custom(Arc<CustomModel>),
}

impl Model {
    /// Every model that needs no definition in the file, in the order tables and charts
    /// list them.
    pub fn builtin_names() -> Vec<&'static str> {
        let mut names = ModelKind::names();
        names.extend(CpythonModel::all().map(CpythonModel::name));
        names
    }

    pub fn builtin(name: &str) -> Option<Model> {
        ModelKind::from_name(name).map(Model::Rust).or_else(|| {
            CpythonModel::all()
                .find(|m| m.name() == name)
                .map(Model::Cpython)
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Model::Rust(k) => k.name(),
            Model::Cpython(c) => c.name(),
            Model::Variant(v) => &v.name,
            Model::Custom(c) => &c.name,
        }
    }

    /// What the model's own file says about it; a model of the user's own says nothing
    /// conclab could rely on.
    pub fn about(&self) -> Option<&'static Descriptor> {
        match self {
            Model::Rust(k) => Some(k.about()),
            Model::Cpython(c) => Some(c.about()),
            Model::Variant(v) => Some(v.about()),
            Model::Custom(_) => None,
        }
    }

    /// The concurrency actually used when the model does not take `workers` from the
    /// file. A model of the user's own takes it as given.
    pub fn fixed_workers(&self, tasks: usize) -> Option<usize> {
        self.about().and_then(|a| a.fixed_workers(tasks))
    }

    /// How many tasks may wait and compute at once; None for a model of the user's own,
    /// whose scheduling conclab cannot know (its cells have no ideal bound).
    pub fn concurrency(&self, workers: usize, tasks: usize) -> Option<Concurrency> {
        self.about().map(|a| (a.concurrency)(workers, tasks))
    }

    /// Whether the model's HTTP client is conclab's async one (which speaks HTTP/2).
    pub fn waits_async(&self) -> bool {
        self.about().is_some_and(|a| a.waits_async)
    }

    /// Whether another program runs the tasks (docs/external-models.md).
    pub fn is_external(&self) -> bool {
        self.needs() != Needs::Nothing
    }

    pub fn needs(&self) -> Needs {
        self.about().map_or(Needs::Program, |a| a.needs)
    }

    /// The model its speedup is measured against.
    pub fn baseline(&self) -> &'static str {
        self.about()
            .map_or(Family::Conclab, |a| a.family)
            .baseline()
    }

    /// Its colour in every chart; None draws it in the colour of unknown models.
    pub fn colour(&self) -> Option<Rgb> {
        self.about().map(|a| a.colour)
    }

    /// Whether its phases say more about its cells than their task spans do.
    pub fn records_phases(&self) -> bool {
        self.about().is_some_and(|a| a.records_phases)
    }

    /// Why its cells cannot run on this machine, if they cannot.
    pub fn unavailable(&self, settings: &ModelSettings) -> Option<Unavailable> {
        if let Model::Variant(v) = self {
            return cpython::missing_variant_interpreter(v);
        }
        match self.needs() {
            Needs::Interpreter => cpython::missing_interpreter(settings),
            Needs::Nothing | Needs::Program => None,
        }
    }

    /// The settings the model reads, which define its cells; settings that other models
    /// read never change its cells.
    pub fn settings_read<'a>(&'a self, settings: &'a ModelSettings) -> Option<SettingsRead<'a>> {
        let read: Vec<_> = match self {
            Model::Rust(k) => settings
                .of(*k)
                .map(|(key, v)| (key, ReadValue::Setting(v)))
                .collect(),
            Model::Cpython(_) if settings.python == DEFAULT_PYTHON => Vec::new(),
            Model::Cpython(_) => vec![(PYTHON_KEY, ReadValue::Text(&settings.python))],
            Model::Variant(v) => vec![
                (BASE_KEY, ReadValue::Text(v.base.name())),
                (PYTHON_KEY, ReadValue::Text(&v.python)),
            ],
            Model::Custom(c) => vec![("command", ReadValue::Words(&c.command))],
        };
        (!read.is_empty()).then_some(SettingsRead(read))
    }
}

impl From<ModelKind> for Model {
    fn from(kind: ModelKind) -> Model {
        Model::Rust(kind)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model is written as its name (the cell's canonical form, format 1).
impl Serialize for Model {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names_are_unique_and_found_again() {
        let names = Model::builtin_names();
        assert_eq!(
            names.len(),
            ModelKind::ALL.len() + 7,
            "the Rust models and seven cpython_*"
        );
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        for n in names {
            assert_eq!(
                Model::builtin(n).map(|m| m.name().to_string()).as_deref(),
                Some(n)
            );
        }
        assert_eq!(Model::builtin("cpython"), None);
    }

    #[test]
    fn a_model_serialises_as_its_name() {
        let m = Model::from(ModelKind::GilThreads);
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            serde_json::to_string(&ModelKind::GilThreads).unwrap()
        );
        assert_eq!(
            serde_json::to_string(&Model::Cpython(CpythonModel::ToThread)).unwrap(),
            "\"cpython_to_thread\""
        );
    }
}
