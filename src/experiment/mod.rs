//! The experiment file: its resolved types; read, checked, expanded into cells and written back.

mod check;
pub mod claims;
pub mod error;
pub mod expand;
pub mod models;
mod own_models;
mod read;
pub mod reference;
pub mod repetitions;
pub mod schema;
mod steps;
pub mod tree;
mod values;
mod write;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::model::Model;
// models.rs and steps.rs add rules to the checker under these names.
use crate::workload::params::{KindDef, ParamValue, Params};
pub use error::{Diagnostic, SpecError};
pub use expand::Cell;
pub use models::ModelSettings;
pub use read::{discover, load, load_all, parse_experiment};
pub use repetitions::Repetitions;
use values::{Checker, valid_name};

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
    /// The model each of its models' speedups is measured against.
    pub fn baselines(&self) -> crate::model::kind::Baselines {
        crate::model::kind::Baselines::of(&self.models, &self.settings)
    }

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
