//! The models' settings of one experiment: each built-in model's own, as its file declares
//! them (`[models.NAME] key = value`), and the interpreter of the cpython models.

use std::path::PathBuf;
use std::time::Duration;

use super::ModelKind;
use super::descriptor::SettingValue;

/// The interpreter of the `cpython_*` models unless `[models.cpython] python` says otherwise.
pub const DEFAULT_PYTHON: &str = "python3";

#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    /// Every setting of every registered model: its default until the file sets it.
    own: Vec<(ModelKind, &'static str, SettingValue)>,
    /// `[models.cpython] python`, as written: it defines the cpython cells.
    pub python: String,
    /// The interpreter the cpython models start: `python`, resolved like a custom
    /// model's program.
    pub python_program: PathBuf,
}

impl Default for ModelSettings {
    fn default() -> Self {
        let own = ModelKind::ALL
            .into_iter()
            .flat_map(|kind| {
                let settings = kind.model().about.settings;
                settings.iter().map(move |s| (kind, s.key, s.default))
            })
            .collect();
        ModelSettings {
            own,
            python: DEFAULT_PYTHON.into(),
            python_program: DEFAULT_PYTHON.into(),
        }
    }
}

impl ModelSettings {
    fn slot(&mut self, model: ModelKind, key: &str) -> &mut SettingValue {
        self.own
            .iter_mut()
            .find(|(m, k, _)| *m == model && *k == key)
            .map(|(.., v)| v)
            .unwrap_or_else(|| panic!("{model} declares no setting {key}"))
    }

    /// The value of a setting `model` declares in its file.
    pub fn get(&self, model: ModelKind, key: &str) -> SettingValue {
        self.own
            .iter()
            .find(|(m, k, _)| *m == model && *k == key)
            .map(|(.., v)| *v)
            .unwrap_or_else(|| panic!("{model} declares no setting {key}"))
    }

    /// A duration setting `model` declares in its file.
    pub fn duration(&self, model: ModelKind, key: &str) -> Duration {
        self.get(model, key)
            .as_duration()
            .unwrap_or_else(|| panic!("{model}.{key} is not a duration"))
    }

    pub fn set(&mut self, model: ModelKind, key: &str, value: SettingValue) {
        *self.slot(model, key) = value;
    }

    /// The settings of `model`, in the order its file declares them, with their values.
    pub fn of(&self, model: ModelKind) -> impl Iterator<Item = (&'static str, &SettingValue)> {
        self.own
            .iter()
            .filter(move |(m, ..)| *m == model)
            .map(|(_, k, v)| (*k, v))
    }

    /// The models that have settings, in registry order.
    pub fn models(&self) -> Vec<ModelKind> {
        let mut models: Vec<ModelKind> = self.own.iter().map(|(m, ..)| *m).collect();
        models.dedup();
        models
    }
}
