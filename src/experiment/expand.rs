//! Matrix expansion: the cartesian product of the axes, as cells with stable ids.

use serde::Serialize;
use sha2::{Digest, Sha512};

use super::{Experiment, ModelSettings};
use crate::model::Model;
use crate::model::descriptor::SettingsRead;
use crate::workload::WorkloadConfig;
use crate::workload::params::{Params, fill_defaults};

/// One point of the matrix: a model at a worker count on one workload configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// A short hash of everything that defines the cell; rows are keyed by it.
    pub id: String,
    pub model: Model,
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

/// The version of the canonical form that cell ids are hashed from.
///
/// Format 1 is the compact serde_json of [`Definition`]: the workload configuration (its
/// `kind` tag, then its fields in declaration order), the model's name, the workers, and
/// the settings the model reads: for `gil_threads` its `switch_interval`, for the cpython
/// models `python` unless it is the default, for a model of the user's own its `command`
/// as written. Every id written so far was made from it, hashed with no prefix, and the
/// ids pinned in this module's tests hold it fixed.
///
/// Ids must survive upgrades, because `run` counts a cell's finished repetitions by id:
/// - A field added later to a workload configuration or to [`Definition`] must be left
///   out of the form while it holds its default: `#[serde(default, skip_serializing_if =
///   "crate::experiment::expand::is_default")]` (or an `Option` skipped when `None`). Every cell
///   that existed before keeps its id; only a cell that sets the field to something else
///   is new. (Fields that were in format 1 from the start, such as `http2`, are always
///   written, as they always were.)
/// - Reordering or renaming a field, or any change that cannot follow that rule, makes a
///   new format: bump this number and hash `"cell/N\n"` followed by the form, so the new
///   ids can never collide with old ones, and say in the README that old results stop
///   counting.
pub const CELL_ID_FORMAT: u32 = 1;

/// Everything that defines a cell, in the canonical form of [`CELL_ID_FORMAT`].
#[derive(Serialize)]
struct Definition<'a> {
    workload: &'a WorkloadConfig,
    model: &'a Model,
    workers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<SettingsRead<'a>>,
}

/// For `skip_serializing_if` on a field added after format 1 (see [`CELL_ID_FORMAT`]).
pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The canonical form of a cell's definition: the text its id is a hash of.
pub fn canonical_definition(
    workload: &WorkloadConfig,
    model: &Model,
    workers: usize,
    settings: &ModelSettings,
) -> String {
    let def = Definition {
        workload,
        model,
        workers,
        settings: model.settings_read(settings),
    };
    serde_json::to_string(&def).expect("cell definitions serialise")
}

/// A short stable hash of everything that defines a cell (see [`CELL_ID_FORMAT`]).
pub fn cell_id(
    workload: &WorkloadConfig,
    model: &Model,
    workers: usize,
    settings: &ModelSettings,
) -> String {
    let form = canonical_definition(workload, model, workers, settings);
    hex::encode(&Sha512::digest(form.as_bytes())[..6])
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
        for model in &exp.models {
            for &w in exp.workers_of(model) {
                let workers = model.fixed_workers(workload.tasks()).unwrap_or(w);
                let id = cell_id(&workload, model, workers, &exp.settings);
                if seen.insert(id.clone()) {
                    cells.push(Cell {
                        id,
                        model: model.clone(),
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

fn combinations(exp: &Experiment) -> Vec<Vec<&crate::workload::params::ParamValue>> {
    let mut out: Vec<Vec<&crate::workload::params::ParamValue>> = vec![Vec::new()];
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
    use crate::experiment::parse_experiment;

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
            .filter(|c| c.model == Model::Rust(crate::model::ModelKind::Threads))
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

    /// Ids of cells as earlier versions wrote them into runs.csv. If one of these changes,
    /// every user's existing results stop counting: read [`CELL_ID_FORMAT`] first.
    #[test]
    fn pinned_ids_never_change() {
        let cases = [
            (
                "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thread_pool\"]\nworkers = [2]\n",
                vec!["47aff1da984d"],
            ),
            (
                "[workload]\nkind = \"sleep\"\ntasks = 4\nduration = \"1ms\"\n[matrix]\nmodel = [\"sequential\", \"threads\"]\n",
                vec!["2c55497338df", "531400769e59"],
            ),
            (
                "[workload]\nkind = \"hash_chain\"\ninputs = [\"pass\", \"a\"]\niterations = 1000\nexpect = { pass = \"e907f4045ca9cdf3db84faeae1d10edc5ff5d8f306045eaf3da545af7b06316842b503f620ba85debb21fe4ecceb2adb994fb158653a62925552202c2a057855\" }\n[matrix]\nmodel = [\"rayon\"]\nworkers = [3]\n",
                vec!["5e3de43055bd"],
            ),
            (
                "[workload]\nkind = \"counter\"\ntasks = 6\nsync = \"mutex\"\n[matrix]\nmodel = [\"process_pool\"]\nworkers = [2]\n",
                vec!["26034b3dee39"],
            ),
            (
                "[workload]\nkind = \"mixed\"\n[matrix]\nmodel = [\"async\"]\nworkers = [4]\n",
                vec!["0b6a8e6c720f"],
            ),
            (
                "[workload]\nkind = \"http\"\n[matrix]\nmodel = [\"async_pool\"]\nworkers = [8]\n",
                vec!["5c2585c0c3f1"],
            ),
            (
                "[workload]\nkind = \"http\"\ntasks = 20\nurls = [\"http://127.0.0.1:9/\"]\nhttp_version = \"2\"\n[matrix]\nmodel = [\"async\"]\nworkers = [10]\n",
                vec!["cb90a5d6498d"],
            ),
            (
                "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"gil_threads\"]\nworkers = [2]\n",
                vec!["871fbd228ef4"],
            ),
            (
                "[workload]\nkind = \"hash_chain\"\n[matrix]\nmodel = [\"gil_threads\"]\nworkers = [2]\n[models.gil_threads]\nswitch_interval = \"1ms\"\n",
                vec!["16c01e88ff4d"],
            ),
            (
                "[workload]\nkind = \"counter\"\n[matrix]\nmodel = [\"async_blocking\"]\nworkers = [1]\nsync = [\"none\", \"atomic\"]\n",
                vec!["34fa7affff0d", "2b35ffda3383"],
            ),
            // External models (issue 11): the model's name, and the command as written.
            (
                "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"cpython_thread_pool\", \"cpython_threads\"]\nworkers = [2]\n",
                vec!["9360a91516ff", "8b3e03c19c41"],
            ),
            (
                "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"mine\"]\nworkers = [2]\n[models.mine]\ncommand = [\"python3\", \"mine.py\"]\n",
                vec!["b3c4553adc11"],
            ),
            (
                "[workload]\nkind = \"steps\"\nsteps = [{ kind = \"http\", latency = \"200ms\" }, { kind = \"sleep\", duration = \"1s\" }, { kind = \"hash_chain\", iterations = 1000 }, { kind = \"counter\", sync = \"mutex\" }]\n[matrix]\nmodel = [\"async_to_thread\"]\nworkers = [5]\n",
                vec!["35fbc6bf4d1e"],
            ),
        ];
        for (text, ids) in cases {
            let got: Vec<String> = expand(&exp(text)).into_iter().map(|c| c.id).collect();
            assert_eq!(got, ids, "{text}");
        }
    }

    /// The results committed as a chart fixture were written by an earlier version: their
    /// resolved experiment must still expand to the very cells their rows name. (The
    /// io-bound fixture is older than `http2`, whose addition changed every http id: the
    /// very accident the rule on [`CELL_ID_FORMAT`] now prevents.)
    #[test]
    fn ids_written_by_earlier_versions_still_match_their_experiments() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts");
        let dir = root.join("race");
        let e = crate::experiment::load(&dir.join("experiment.toml"), &[]).unwrap();
        let (_, rows) = crate::results::runs::read(&dir.join("runs.csv")).unwrap();
        let written: std::collections::BTreeSet<String> =
            rows.into_iter().map(|r| r.id.cell).collect();
        let expanded: std::collections::BTreeSet<String> =
            expand(&e).into_iter().map(|c| c.id).collect();
        assert_eq!(expanded, written);
    }

    #[test]
    fn a_parameter_written_out_at_its_default_keeps_the_id() {
        let id = |text: &str| expand(&exp(text))[0].id.clone();
        let http = "[workload]\nkind = \"http\"\n[matrix]\nmodel = [\"async\"]\nworkers = [4]\n";
        let explicit = http.replace(
            "kind = \"http\"\n",
            "kind = \"http\"\nhttp_version = \"1.1\"\n",
        );
        assert_eq!(id(http), id(&explicit));
        assert_ne!(id(http), id(&explicit.replace("\"1.1\"", "\"2\"")));
        let gil =
            "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"gil_threads\"]\nworkers = [2]\n";
        assert_eq!(
            id(gil),
            id(&format!(
                "{gil}[models.gil_threads]\nswitch_interval = \"5ms\"\n"
            ))
        );
        // Settings a model does not read leave its id alone.
        let pool =
            "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"thread_pool\"]\nworkers = [2]\n";
        assert_eq!(
            id(pool),
            id(&format!(
                "{pool}[models.gil_threads]\nswitch_interval = \"1ms\"\n"
            ))
        );
    }

    /// The rule for fields added after format 1, shown on two versions of one configuration.
    #[test]
    fn a_field_added_with_skip_if_default_keeps_every_old_id() {
        #[derive(Serialize)]
        struct Before {
            tasks: usize,
        }
        #[derive(Serialize)]
        struct After {
            tasks: usize,
            #[serde(skip_serializing_if = "is_default")]
            retries: u32,
        }
        let old = serde_json::to_string(&Before { tasks: 3 }).unwrap();
        let same = serde_json::to_string(&After {
            tasks: 3,
            retries: 0,
        })
        .unwrap();
        let new = serde_json::to_string(&After {
            tasks: 3,
            retries: 2,
        })
        .unwrap();
        assert_eq!(old, same);
        assert_ne!(old, new);
    }

    #[test]
    fn the_canonical_form_of_format_1_is_the_definitions_json() {
        let e = exp(
            "[workload]\nkind = \"sleep\"\ntasks = 2\nduration = \"1ms\"\n[matrix]\nmodel = [\"gil_threads\"]\nworkers = [2]\n",
        );
        let c = &expand(&e)[0];
        assert_eq!(
            canonical_definition(&c.workload, &c.model, c.workers, &c.settings),
            "{\"workload\":{\"kind\":\"sleep\",\"tasks\":2,\"duration\":{\"secs\":0,\"nanos\":1000000}},\"model\":\"gil_threads\",\"workers\":2,\"settings\":{\"switch_interval\":{\"secs\":0,\"nanos\":5000000}}}"
        );
        assert_eq!(CELL_ID_FORMAT, 1);
    }
}
