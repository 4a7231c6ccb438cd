//! The names of the execution models and what `workers` means to each: conclab's own
//! ([`ModelKind`]), CPython's ([`CpythonModel`]), and the user's ([`CustomModel`]), all
//! three a [`Model`] of a cell.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Sequential,
    Threads,
    ThreadPool,
    Rayon,
    ProcessPool,
    Async,
    AsyncPool,
    AsyncBlocking,
    AsyncToThread,
    GilThreads,
}

impl ModelKind {
    pub const ALL: [ModelKind; 10] = [
        ModelKind::Sequential,
        ModelKind::Threads,
        ModelKind::ThreadPool,
        ModelKind::Rayon,
        ModelKind::ProcessPool,
        ModelKind::Async,
        ModelKind::AsyncPool,
        ModelKind::AsyncBlocking,
        ModelKind::AsyncToThread,
        ModelKind::GilThreads,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Sequential => "sequential",
            ModelKind::Threads => "threads",
            ModelKind::ThreadPool => "thread_pool",
            ModelKind::Rayon => "rayon",
            ModelKind::ProcessPool => "process_pool",
            ModelKind::Async => "async",
            ModelKind::AsyncPool => "async_pool",
            ModelKind::AsyncBlocking => "async_blocking",
            ModelKind::AsyncToThread => "async_to_thread",
            ModelKind::GilThreads => "gil_threads",
        }
    }

    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|m| m.name()).collect()
    }

    pub fn from_name(name: &str) -> Option<ModelKind> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The concurrency actually used when the model does not take `workers` from the file.
    pub fn fixed_workers(self, tasks: usize) -> Option<usize> {
        match self {
            ModelKind::Sequential => Some(1),
            ModelKind::Threads => Some(tasks),
            _ => None,
        }
    }

    /// Whether the model's waits go through the event loop (its HTTP client is async), not
    /// through a blocking call.
    pub fn waits_async(self) -> bool {
        matches!(self, ModelKind::Async | ModelKind::AsyncPool)
    }

    /// How many tasks may wait at the same time, and how many may compute at the same time,
    /// with `workers` as recorded for the cell. Cores are applied by the ideal formula.
    pub fn concurrency(self, workers: usize, tasks: usize) -> Concurrency {
        let w = workers.max(1);
        match self {
            ModelKind::Sequential => Concurrency { waits: 1, cpu: 1 },
            ModelKind::Threads => Concurrency {
                waits: tasks,
                cpu: tasks,
            },
            ModelKind::ThreadPool | ModelKind::Rayon | ModelKind::ProcessPool => {
                Concurrency { waits: w, cpu: w }
            }
            ModelKind::Async => Concurrency {
                waits: w.min(tasks),
                cpu: 1,
            },
            ModelKind::AsyncPool => Concurrency {
                waits: tasks,
                cpu: w,
            },
            // A blocking wait holds the only event-loop thread: waits are serial.
            ModelKind::AsyncBlocking => Concurrency { waits: 1, cpu: 1 },
            // Every blocking call runs on one of W threads, as in a thread pool.
            ModelKind::AsyncToThread => Concurrency { waits: w, cpu: w },
            // Waits release the interpreter lock; computing needs it.
            ModelKind::GilThreads => Concurrency { waits: w, cpu: 1 },
        }
    }
}

/// The model a speedup is measured against: each runtime against its own sequential run
/// (CPython's models against `cpython_sequential`, everything else against `sequential`).
pub fn baseline_of(model: &str) -> &'static str {
    if model.starts_with("cpython_") {
        "cpython_sequential"
    } else {
        "sequential"
    }
}

/// Whether `model` is a baseline of speedups itself.
pub fn is_baseline(model: &str) -> bool {
    baseline_of(model) == model
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

/// The built-in external models: CPython running the tasks the way a Python program
/// would, from the Python file conclab carries (see [`super::cpython`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CpythonModel {
    Sequential,
    Threads,
    ThreadPool,
    ProcessPool,
    Asyncio,
    AsyncioBlocking,
    ToThread,
}

impl CpythonModel {
    pub const ALL: [CpythonModel; 7] = [
        CpythonModel::Sequential,
        CpythonModel::Threads,
        CpythonModel::ThreadPool,
        CpythonModel::ProcessPool,
        CpythonModel::Asyncio,
        CpythonModel::AsyncioBlocking,
        CpythonModel::ToThread,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CpythonModel::Sequential => "cpython_sequential",
            CpythonModel::Threads => "cpython_threads",
            CpythonModel::ThreadPool => "cpython_thread_pool",
            CpythonModel::ProcessPool => "cpython_process_pool",
            CpythonModel::Asyncio => "cpython_asyncio",
            CpythonModel::AsyncioBlocking => "cpython_asyncio_blocking",
            CpythonModel::ToThread => "cpython_to_thread",
        }
    }

    /// `workers` means what it means to the Rust model each one mirrors.
    pub fn fixed_workers(self, tasks: usize) -> Option<usize> {
        match self {
            CpythonModel::Sequential => Some(1),
            CpythonModel::Threads => Some(tasks),
            _ => None,
        }
    }

    /// Under the GIL one thread computes at a time while the others may wait; the
    /// process pool computes in W processes; an event loop computes on its one thread.
    pub fn concurrency(self, workers: usize, tasks: usize) -> Concurrency {
        let w = workers.max(1);
        match self {
            CpythonModel::Sequential | CpythonModel::AsyncioBlocking => {
                Concurrency { waits: 1, cpu: 1 }
            }
            CpythonModel::Threads => Concurrency {
                waits: tasks,
                cpu: 1,
            },
            CpythonModel::ThreadPool | CpythonModel::ToThread => Concurrency { waits: w, cpu: 1 },
            CpythonModel::ProcessPool => Concurrency { waits: w, cpu: w },
            CpythonModel::Asyncio => Concurrency {
                waits: w.min(tasks),
                cpu: 1,
            },
        }
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
}

/// The model of a cell: one of conclab's own, a built-in CPython model, or the user's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Model {
    Rust(ModelKind),
    Cpython(CpythonModel),
    Custom(Arc<CustomModel>),
}

impl Model {
    /// Every model that needs no definition in the file.
    pub fn builtin_names() -> Vec<&'static str> {
        let mut names = ModelKind::names();
        names.extend(CpythonModel::ALL.iter().map(|m| m.name()));
        names
    }

    pub fn builtin(name: &str) -> Option<Model> {
        ModelKind::from_name(name).map(Model::Rust).or_else(|| {
            CpythonModel::ALL
                .into_iter()
                .find(|m| m.name() == name)
                .map(Model::Cpython)
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Model::Rust(k) => k.name(),
            Model::Cpython(c) => c.name(),
            Model::Custom(c) => &c.name,
        }
    }

    /// The concurrency actually used when the model does not take `workers` from the
    /// file. A model of the user's own takes it as given.
    pub fn fixed_workers(&self, tasks: usize) -> Option<usize> {
        match self {
            Model::Rust(k) => k.fixed_workers(tasks),
            Model::Cpython(c) => c.fixed_workers(tasks),
            Model::Custom(_) => None,
        }
    }

    /// How many tasks may wait and compute at once; None for a model of the user's own,
    /// whose scheduling conclab cannot know (its cells have no ideal bound).
    pub fn concurrency(&self, workers: usize, tasks: usize) -> Option<Concurrency> {
        match self {
            Model::Rust(k) => Some(k.concurrency(workers, tasks)),
            Model::Cpython(c) => Some(c.concurrency(workers, tasks)),
            Model::Custom(_) => None,
        }
    }

    /// Whether the model's HTTP client is conclab's async one (which speaks HTTP/2).
    pub fn waits_async(&self) -> bool {
        matches!(self, Model::Rust(k) if k.waits_async())
    }

    /// Whether another program runs the tasks (docs/external-models.md).
    pub fn is_external(&self) -> bool {
        !matches!(self, Model::Rust(_))
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

    #[test]
    fn cpython_threads_wait_together_and_compute_one_at_a_time() {
        let c = |m: CpythonModel| m.concurrency(4, 10);
        assert_eq!(c(CpythonModel::Threads), Concurrency { waits: 10, cpu: 1 });
        assert_eq!(
            c(CpythonModel::ThreadPool),
            Concurrency { waits: 4, cpu: 1 }
        );
        assert_eq!(c(CpythonModel::ToThread), Concurrency { waits: 4, cpu: 1 });
        assert_eq!(
            c(CpythonModel::ProcessPool),
            Concurrency { waits: 4, cpu: 4 }
        );
        assert_eq!(c(CpythonModel::Asyncio), Concurrency { waits: 4, cpu: 1 });
        assert_eq!(
            c(CpythonModel::AsyncioBlocking),
            Concurrency { waits: 1, cpu: 1 }
        );
        assert_eq!(
            c(CpythonModel::Sequential),
            Concurrency { waits: 1, cpu: 1 }
        );
    }
}
