//! The names of the execution models and what `workers` means to each.

use std::fmt;

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
