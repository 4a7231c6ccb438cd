//! Matrix expansion: the cartesian product of the axes, as cells with stable ids.

use serde::Serialize;
use sha2::{Digest, Sha512};

use super::params::{Params, fill_defaults};
use super::{Experiment, ModelSettings};
use crate::model::ModelKind;
use crate::workload::WorkloadConfig;

/// One point of the matrix: a model at a worker count on one workload configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// A short hash of everything that defines the cell; rows are keyed by it.
    pub id: String,
    pub model: ModelKind,
    /// Workers as recorded: the file's value, or the concurrency a model that ignores it used.
    pub workers: usize,
    /// Values of the extra axes, in axis order, as written in CSV columns.
    pub axes: Vec<(String, String)>,
    pub workload: WorkloadConfig,
    pub settings: ModelSettings,
}

impl Cell {
    /// `thread_pool w=2 iterations=1000`
    pub fn label(&self) -> String {
        let mut s = format!("{} w={}", self.model, self.workers);
        for (k, v) in &self.axes {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }

    /// The value of a column: `model`, `workers` or an axis name.
    pub fn column(&self, key: &str) -> Option<String> {
        match key {
            "model" => Some(self.model.name().to_string()),
            "workers" => Some(self.workers.to_string()),
            "cell" => Some(self.id.clone()),
            _ => self
                .axes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone()),
        }
    }
}

#[derive(Serialize)]
struct Definition<'a> {
    workload: &'a WorkloadConfig,
    model: ModelKind,
    workers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<&'a ModelSettings>,
}

pub fn cell_id(
    workload: &WorkloadConfig,
    model: ModelKind,
    workers: usize,
    settings: &ModelSettings,
) -> String {
    let def = Definition {
        workload,
        model,
        workers,
        settings: (model == ModelKind::GilThreads).then_some(settings),
    };
    let json = serde_json::to_vec(&def).expect("cell definitions serialise");
    hex::encode(&Sha512::digest(&json)[..6])
}

/// Every cell of the experiment: extra axes outermost, then models in file order, then
/// workers. Models that ignore `workers` appear once per combination of the other axes.
pub fn expand(exp: &Experiment) -> Vec<Cell> {
    let mut cells = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for combo in combinations(exp) {
        let mut params: Params = exp.workload.clone();
        let mut axes = Vec::new();
        for (axis, value) in exp.axes.iter().zip(&combo) {
            params.insert(axis.name.clone(), (*value).clone());
            axes.push((axis.name.clone(), value.render()));
        }
        fill_defaults(exp.kind, &mut params);
        let workload = WorkloadConfig::from_params(exp.kind.name, &params);
        for &model in &exp.models {
            for &w in &exp.workers {
                let workers = model.fixed_workers(workload.tasks()).unwrap_or(w);
                let id = cell_id(&workload, model, workers, &exp.settings);
                if seen.insert(id.clone()) {
                    cells.push(Cell {
                        id,
                        model,
                        workers,
                        axes: axes.clone(),
                        workload: workload.clone(),
                        settings: exp.settings.clone(),
                    });
                }
            }
        }
    }
    cells
}

fn combinations(exp: &Experiment) -> Vec<Vec<&super::params::ParamValue>> {
    let mut out: Vec<Vec<&super::params::ParamValue>> = vec![Vec::new()];
    for axis in &exp.axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                axis.values.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push(v);
                    p
                })
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::parse_experiment;

    fn exp(text: &str) -> Experiment {
        parse_experiment("t.toml", text, Path::new("t.toml"), &[]).unwrap()
    }

    #[test]
    fn product_of_axes_with_fixed_worker_models_once() {
        let e = exp(
            "[workload]\nkind = \"sleep\"\ntasks = 4\n[matrix]\nmodel = [\"sequential\", \"threads\", \"thread_pool\"]\nworkers = [1, 2, 3]\nduration = [\"1ms\", \"2ms\"]\n",
        );
        let cells = expand(&e);
        // per duration: sequential once, threads once, thread_pool 3 times
        assert_eq!(cells.len(), 2 * (1 + 1 + 3));
        let threads: Vec<_> = cells
            .iter()
            .filter(|c| c.model == ModelKind::Threads)
            .collect();
        assert!(threads.iter().all(|c| c.workers == 4));
        assert_eq!(
            cells[0].axes,
            vec![("duration".to_string(), "1ms".to_string())]
        );
        assert_eq!(cells[0].label(), "sequential w=1 duration=1ms");
    }

    #[test]
    fn ids_are_stable_and_change_only_with_the_definition() {
        let a = expand(&exp(
            "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thread_pool\"]\nworkers = [1, 2]\n",
        ));
        let b = expand(&exp(
            "description = \"edited\"\n[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thread_pool\"]\nworkers = [1, 2, 10]\n",
        ));
        assert_eq!(a[0].id, b[0].id);
        assert_eq!(a[1].id, b[1].id);
        assert_eq!(b.len(), 3);
        let c = expand(&exp(
            "[workload]\nkind = \"sleep\"\nduration = \"5ms\"\n[matrix]\nmodel = [\"thread_pool\"]\nworkers = [1]\n",
        ));
        assert_ne!(a[0].id, c[0].id);
        assert_eq!(a[0].id.len(), 12);
    }

    #[test]
    fn derived_defaults_follow_axis_values() {
        let e = exp(
            "[workload]\nkind = \"hash_chain\"\niterations = 10\n[matrix]\nmodel = [\"sequential\"]\ninputs = [[\"a\"], [\"a\", \"b\", \"c\"]]\n",
        );
        let tasks: Vec<usize> = expand(&e).iter().map(|c| c.workload.tasks()).collect();
        assert_eq!(tasks, vec![1, 3]);
    }
}
