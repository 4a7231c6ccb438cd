//! Workloads: what one task does, in a blocking and an async form, and how a run is verified.

pub mod context;
pub mod counter;
pub mod hash_chain;
pub mod http;
pub mod http_loop;
pub mod mixed;
pub mod phases;
pub mod sleep;
pub mod steps;
pub mod timer;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::experiment::params::Params;
pub use context::{AsyncWorker, BlockingCall, CallDone, Cancel, Interpreter, ToThread, Worker};
pub use counter::{CounterOp, CounterStore};
pub use phases::{Phase, PhaseKind, PhaseLog, PhaseSink};

/// A workload's parameters, resolved for one cell. Serialised to define the cell and to
/// hand the workload to child processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkloadConfig {
    Sleep(sleep::SleepConfig),
    HashChain(hash_chain::HashChainConfig),
    Counter(counter::CounterConfig),
    Mixed(mixed::MixedConfig),
    Http(http::HttpConfig),
    Steps(steps::StepsConfig),
}

impl WorkloadConfig {
    /// Builds the typed configuration of `kind` from checked parameters (defaults filled).
    pub fn from_params(kind: &str, p: &Params) -> WorkloadConfig {
        match kind {
            "sleep" => WorkloadConfig::Sleep(sleep::SleepConfig::from_params(p)),
            "hash_chain" => WorkloadConfig::HashChain(hash_chain::HashChainConfig::from_params(p)),
            "counter" => WorkloadConfig::Counter(counter::CounterConfig::from_params(p)),
            "mixed" => WorkloadConfig::Mixed(mixed::MixedConfig::from_params(p)),
            "http" => WorkloadConfig::Http(http::HttpConfig::from_params(p)),
            "steps" => WorkloadConfig::Steps(steps::StepsConfig::from_params(p)),
            other => unreachable!("the checker admits only known kinds, got {other}"),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            WorkloadConfig::Sleep(_) => "sleep",
            WorkloadConfig::HashChain(_) => "hash_chain",
            WorkloadConfig::Counter(_) => "counter",
            WorkloadConfig::Mixed(_) => "mixed",
            WorkloadConfig::Http(_) => "http",
            WorkloadConfig::Steps(_) => "steps",
        }
    }

    pub fn tasks(&self) -> usize {
        match self {
            WorkloadConfig::Sleep(c) => c.tasks,
            WorkloadConfig::HashChain(c) => c.tasks,
            WorkloadConfig::Counter(c) => c.tasks,
            WorkloadConfig::Mixed(c) => c.tasks,
            WorkloadConfig::Http(c) => c.tasks,
            WorkloadConfig::Steps(c) => c.tasks,
        }
    }

    /// SHA-512 steps one repetition computes, where the work is known in advance.
    pub fn hashes(&self) -> Option<u64> {
        match self {
            WorkloadConfig::HashChain(c) => Some(c.tasks as u64 * c.iterations),
            WorkloadConfig::Mixed(c) => Some(c.tasks as u64 * c.iterations),
            WorkloadConfig::Steps(c) => c
                .steps
                .iter()
                .filter_map(WorkloadConfig::hashes)
                .reduce(|a, b| a + b),
            _ => None,
        }
    }

    /// Whether a task makes requests to the embedded server (http without `urls`).
    pub fn needs_server(&self) -> bool {
        match self {
            WorkloadConfig::Http(c) => c.urls.is_none(),
            WorkloadConfig::Steps(c) => c.steps.iter().any(WorkloadConfig::needs_server),
            _ => false,
        }
    }

    /// What one task costs, for the ideal bound and the plan's estimate; None when it
    /// cannot be known in advance (real URLs before a sequential cell measured them).
    pub fn cost(&self, calibration: &Calibration) -> Option<TaskCost> {
        let chain = |iterations: u64| iterations as f64 * calibration.ns_per_hash * 1e-9;
        let cost = |cpu_s: f64, wait_s: f64| TaskCost {
            cpu_s,
            wait_s,
            locked_s: 0.0,
        };
        Some(match self {
            WorkloadConfig::Sleep(c) => cost(0.0, c.duration.as_secs_f64()),
            WorkloadConfig::HashChain(c) => cost(chain(c.iterations), 0.0),
            WorkloadConfig::Mixed(c) => cost(chain(c.iterations), c.duration.as_secs_f64()),
            // The atomic form has no wait inside; the locked one waits in series.
            WorkloadConfig::Counter(c) => {
                let wait_s = match c.sync {
                    counter::CounterSync::Atomic => 0.0,
                    _ => c.wait.as_secs_f64(),
                };
                TaskCost {
                    cpu_s: 0.0,
                    wait_s,
                    locked_s: if c.sync == counter::CounterSync::Mutex {
                        wait_s
                    } else {
                        0.0
                    },
                }
            }
            WorkloadConfig::Http(c) => match &c.urls {
                None => cost(0.0, c.latency.as_secs_f64()),
                Some(_) => cost(0.0, calibration.request_latency_s?),
            },
            // The steps' costs add up. The measured latency of real URLs is a whole task's
            // time here, not one request's, so with real URLs the bound is unknown.
            WorkloadConfig::Steps(c) => {
                let mut sum = cost(0.0, 0.0);
                for step in &c.steps {
                    if matches!(step, WorkloadConfig::Http(h) if h.urls.is_some()) {
                        return None;
                    }
                    let s = step.cost(calibration)?;
                    sum.cpu_s += s.cpu_s;
                    sum.wait_s += s.wait_s;
                    sum.locked_s += s.locked_s;
                }
                sum
            }
        })
    }

    pub fn build(&self, env: &BuildEnv) -> anyhow::Result<Arc<dyn Workload>> {
        Ok(match self {
            WorkloadConfig::Sleep(c) => Arc::new(sleep::Sleep::new(c.clone())),
            WorkloadConfig::HashChain(c) => Arc::new(hash_chain::HashChain::new(c.clone())),
            WorkloadConfig::Counter(c) => Arc::new(counter::Counter::new(c.clone())),
            WorkloadConfig::Mixed(c) => Arc::new(mixed::Mixed::new(c.clone())),
            WorkloadConfig::Http(c) => {
                Arc::new(http::Http::new(c.clone(), env.server_url.clone())?)
            }
            WorkloadConfig::Steps(c) => Arc::new(steps::Steps::new(c.clone(), env)?),
        })
    }
}

/// What a workload needs from the run beyond its own parameters (e.g. the embedded
/// server's address); passed to child processes too.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BuildEnv {
    pub server_url: Option<String>,
}

/// Machine figures the ideal bound needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// One SHA-512 step of a hash chain.
    pub ns_per_hash: f64,
    /// The median latency of one request to real URLs, from the sequential cell.
    pub request_latency_s: Option<f64>,
}

/// The seconds one task spends computing and waiting when run alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskCost {
    pub cpu_s: f64,
    pub wait_s: f64,
    /// The part of `wait_s` spent holding a lock every task takes (the mutex counter's
    /// wait): these parts of all tasks run one after another.
    pub locked_s: f64,
}

pub type TaskFuture<'a> = Pin<Box<dyn Future<Output = TaskResult> + Send + 'a>>;

/// What one task does; models decide how tasks are scheduled.
pub trait Workload: Send + Sync + 'static {
    fn config(&self) -> &WorkloadConfig;

    fn tasks(&self) -> usize {
        self.config().tasks()
    }

    /// Resets per-repetition state (shared counters, clients) before a repetition.
    fn start_repetition(&self) {}

    /// State the tasks share that a `process_pool` parent must serve to its children
    /// (the counter), or None when tasks share nothing.
    fn shared_counter(&self) -> Option<&dyn CounterStore> {
        None
    }

    /// Runs task `task` on the calling thread.
    fn run_blocking(&self, task: usize, worker: &mut Worker<'_>) -> TaskResult;

    /// Runs task `task` as a future on an event loop.
    fn run_async<'a>(&'a self, task: usize, worker: &'a AsyncWorker) -> TaskFuture<'a>;

    /// Runs task `task` on an event loop that hands its blocking calls to a pool of
    /// threads and awaits each (`async_to_thread`): the whole blocking form is one call,
    /// unless the task is made of parts that block one after another (steps).
    fn run_to_thread<'a>(self: Arc<Self>, task: usize, to_thread: &'a ToThread) -> TaskFuture<'a> {
        Box::pin(async move {
            to_thread
                .call(move |worker| self.run_blocking(task, worker))
                .await
        })
    }

    /// Judges a whole repetition from its task records (one per task, in task order).
    fn verify(&self, records: &[TaskRecord]) -> Verdict;
}

/// The result one task reports; crosses process boundaries as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    pub ok: bool,
    pub output: Output,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    Done,
    Digest(String),
    Http(http::HttpOutcome),
    Error(String),
    /// One output per step of a `steps` task, in order, up to the first that failed.
    Steps(Vec<Output>),
}

impl Output {
    /// Whether this output is a success, as every workload's `TaskResult::ok` says of it.
    pub fn succeeded(&self) -> bool {
        match self {
            Output::Done | Output::Digest(_) => true,
            Output::Http(h) => h.error.is_none(),
            Output::Error(_) => false,
            Output::Steps(steps) => steps.iter().all(Output::succeeded),
        }
    }
}

impl TaskResult {
    pub fn done() -> TaskResult {
        TaskResult {
            ok: true,
            output: Output::Done,
        }
    }

    pub fn error(message: impl Into<String>) -> TaskResult {
        TaskResult {
            ok: false,
            output: Output::Error(message.into()),
        }
    }

    pub fn cancelled() -> TaskResult {
        TaskResult::error("cancelled")
    }
}

/// One task as it ran: which lane ran it, when (seconds from the repetition's start), what it gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub task: usize,
    pub lane: usize,
    pub start_s: f64,
    pub end_s: f64,
    pub result: TaskResult,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    Pass,
    Race,
    Fail,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Pass => "pass",
            Check::Race => "race",
            Check::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<Check> {
        match s {
            "pass" => Some(Check::Pass),
            "race" => Some(Check::Race),
            "fail" => Some(Check::Fail),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub check: Check,
    pub detail: String,
    /// A short digest of the results that must be equal across models and runs of the
    /// same workload (hash chains); `None` where results legitimately differ.
    pub fingerprint: Option<String>,
}

impl Verdict {
    pub fn pass(detail: impl Into<String>) -> Verdict {
        Verdict {
            check: Check::Pass,
            detail: detail.into(),
            fingerprint: None,
        }
    }

    pub fn fail(detail: impl Into<String>) -> Verdict {
        Verdict {
            check: Check::Fail,
            detail: detail.into(),
            fingerprint: None,
        }
    }
}

/// The verdict on tasks that errored, if any did: counts per error text.
pub fn task_errors(records: &[TaskRecord]) -> Option<Verdict> {
    let mut errors: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in records.iter().filter(|r| !r.result.ok) {
        let text = match &r.result.output {
            Output::Error(e) => e.as_str(),
            _ => "failed",
        };
        *errors.entry(text).or_default() += 1;
    }
    if errors.is_empty() {
        return None;
    }
    let failed: usize = errors.values().sum();
    let kinds: Vec<String> = errors.iter().map(|(e, n)| format!("{e}:{n}")).collect();
    Some(Verdict::fail(format!(
        "{failed} of {} tasks failed ({})",
        records.len(),
        kinds.join(" ")
    )))
}
