//! Workloads: what one task does, in a blocking and an async form, and how a run is verified.

pub mod context;
pub mod counter;
pub mod hash_chain;
pub mod http;
pub mod http_loop;
pub mod mixed;
pub mod params;
pub mod phases;
#[cfg(test)]
pub mod probe;
pub mod sleep;
pub mod steps;
pub mod timer;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};

use crate::workload::params::{KindDef, Params, StepUse};
pub use context::{AsyncWorker, BlockingCall, CallDone, Cancel, TaskHooks, ToThread, Worker};
pub use counter::{CounterOp, CounterStore};
pub use phases::{Phase, PhaseKind, PhaseLog, PhaseSink};

/// What generic code asks of one configured workload; every kind's configuration type
/// answers for itself in the kind's own file.
pub trait KindConfig {
    fn tasks(&self) -> usize;

    /// What one task costs, for the ideal bound and the plan's estimate; None when it
    /// cannot be known in advance (real URLs before a sequential cell measured them).
    fn cost(&self, calibration: &Calibration) -> Option<TaskCost>;

    /// SHA-512 steps one repetition computes, where the work is known in advance.
    fn hashes(&self) -> Option<u64> {
        None
    }

    /// Whether a task makes requests to the embedded server.
    fn needs_server(&self) -> bool {
        false
    }

    /// Whether its cost rests on a latency measured in the sequential cell (real URLs).
    fn cost_is_measured(&self) -> bool {
        false
    }

    /// How the state every task updates is synchronised, when the tasks share one.
    fn shared_sync(&self) -> Option<counter::CounterSync> {
        None
    }

    /// Task `task` as the primitive actions a program of its own runs (an external model).
    fn parts(&self, task: usize, env: &BuildEnv) -> Vec<Part>;

    fn build(&self, env: &BuildEnv) -> anyhow::Result<Arc<dyn Workload>>;
}

/// A workload kind: its configuration type states what the kind is and builds itself
/// from checked parameters.
pub trait Kind: KindConfig + Sized {
    const DEF: KindDef;

    /// The configuration from checked parameters (defaults filled).
    fn from_params(p: &Params) -> Self;
}

/// One registered kind: what it is, and how its configuration is made.
pub struct Registered {
    pub def: &'static KindDef,
    config: fn(&Params) -> WorkloadConfig,
}

/// The registry: the one list of workload kinds, one line each. The enum it makes is a
/// cell's workload, serialised (`kind` tag first) to define the cell and to hand the
/// workload to child processes; the order is the order the checker and schema list.
macro_rules! registry {
    ($($(#[$attr:meta])* $variant:ident($config:ty),)+) => {
        /// A workload's parameters, resolved for one cell.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum WorkloadConfig {
            $($(#[$attr])* $variant($config),)+
        }

        impl WorkloadConfig {
            fn inner(&self) -> &dyn KindConfig {
                match self {
                    $($(#[$attr])* WorkloadConfig::$variant(c) => c,)+
                }
            }

            /// What this workload's kind is.
            pub fn def(&self) -> &'static KindDef {
                match self {
                    $($(#[$attr])* WorkloadConfig::$variant(_) => &<$config as Kind>::DEF,)+
                }
            }
        }

        // Pushed one by one, as a `#[cfg(test)]` kind cannot be an element of `vec![]`.
        #[allow(clippy::vec_init_then_push)]
        static REGISTRY: LazyLock<Vec<Registered>> = LazyLock::new(|| {
            let mut all = Vec::new();
            $($(#[$attr])* all.push(Registered {
                def: &<$config as Kind>::DEF,
                config: |p| WorkloadConfig::$variant(<$config as Kind>::from_params(p)),
            });)+
            all
        });
    };
}

registry! {
    Sleep(sleep::SleepConfig),
    Http(http::HttpConfig),
    HashChain(hash_chain::HashChainConfig),
    Counter(counter::CounterConfig),
    Mixed(mixed::MixedConfig),
    Steps(steps::StepsConfig),
    #[cfg(test)]
    Probe(probe::ProbeConfig),
}

/// Every workload kind, in the registry's order.
pub fn kinds() -> impl Iterator<Item = &'static KindDef> {
    REGISTRY.iter().map(|r| r.def)
}

pub fn kind_names() -> Vec<&'static str> {
    kinds().map(|k| k.name).collect()
}

pub fn kind(name: &str) -> Option<&'static KindDef> {
    kinds().find(|k| k.name == name)
}

/// The kinds a step of a `steps` task may have.
pub fn step_kinds() -> impl Iterator<Item = &'static KindDef> {
    kinds().filter(|k| k.step != StepUse::No)
}

impl WorkloadConfig {
    /// Builds the typed configuration of `kind` from checked parameters (defaults filled).
    pub fn from_params(kind: &str, p: &Params) -> WorkloadConfig {
        let registered = REGISTRY
            .iter()
            .find(|r| r.def.name == kind)
            .expect("the checker admits only registered kinds");
        (registered.config)(p)
    }

    pub fn kind(&self) -> &'static str {
        self.def().name
    }

    pub fn tasks(&self) -> usize {
        self.inner().tasks()
    }

    /// SHA-512 steps one repetition computes, where the work is known in advance.
    pub fn hashes(&self) -> Option<u64> {
        self.inner().hashes()
    }

    /// Whether a task makes requests to the embedded server (http without `urls`).
    pub fn needs_server(&self) -> bool {
        self.inner().needs_server()
    }

    /// Whether its cost rests on a latency measured in the sequential cell (real URLs).
    pub fn cost_is_measured(&self) -> bool {
        self.inner().cost_is_measured()
    }

    /// How the shared state is synchronised, when a task updates one.
    pub fn shared_sync(&self) -> Option<counter::CounterSync> {
        self.inner().shared_sync()
    }

    /// Task `task` as primitive actions, for a program that runs them its own way.
    pub fn parts(&self, task: usize, env: &BuildEnv) -> Vec<Part> {
        self.inner().parts(task, env)
    }

    /// What one task costs, for the ideal bound and the plan's estimate; None when it
    /// cannot be known in advance (real URLs before a sequential cell measured them).
    pub fn cost(&self, calibration: &Calibration) -> Option<TaskCost> {
        self.inner().cost(calibration)
    }

    pub fn build(&self, env: &BuildEnv) -> anyhow::Result<Arc<dyn Workload>> {
        self.inner().build(env)
    }
}

/// One primitive action of a task, in the terms an external program runs
/// (docs/external-models.md): every kind's task is a list of these, handed to an
/// external program as the `run` line's steps in this very shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Part {
    Sleep {
        seconds: f64,
    },
    Hash {
        input: String,
        iterations: u64,
    },
    Http {
        url: String,
        timeout_s: f64,
        http2: bool,
    },
    /// `increments` updates of the shared counter, one after another, each waiting
    /// `wait_s` between its read and its write.
    Counter {
        wait_s: f64,
        #[serde(default = "one_increment", skip_serializing_if = "is_one_increment")]
        increments: u64,
    },
}

pub(crate) fn one_increment() -> u64 {
    1
}

pub(crate) fn is_one_increment(n: &u64) -> bool {
    *n == 1
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

impl TaskCost {
    pub fn new(cpu_s: f64, wait_s: f64) -> TaskCost {
        TaskCost {
            cpu_s,
            wait_s,
            locked_s: 0.0,
        }
    }

    pub fn waiting(wait_s: f64) -> TaskCost {
        TaskCost::new(0.0, wait_s)
    }

    /// A chain of `iterations` hash steps at the calibrated rate.
    pub fn chain(iterations: u64, calibration: &Calibration) -> f64 {
        iterations as f64 * calibration.ns_per_hash * 1e-9
    }
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

    /// The state every task updates, for a model that runs tasks in other processes and
    /// must serve it to them; None when tasks share nothing.
    fn shared_store(&self) -> Option<&dyn CounterStore> {
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
    /// A cell's summary only: some of its repetitions failed, not all.
    Flaky,
    /// A cell's summary only: its digest disagrees with others' and no majority decides.
    Disputed,
    Fail,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Pass => "pass",
            Check::Race => "race",
            Check::Flaky => "flaky",
            Check::Disputed => "disputed",
            Check::Fail => "fail",
        }
    }

    /// Whether the run counts as failed for its exit code.
    pub fn failed(self) -> bool {
        self > Check::Race
    }

    pub fn parse(s: &str) -> Option<Check> {
        match s {
            "pass" => Some(Check::Pass),
            "race" => Some(Check::Race),
            "flaky" => Some(Check::Flaky),
            "disputed" => Some(Check::Disputed),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::params::fill_defaults;

    #[test]
    fn every_kind_has_one_name_and_is_written_under_it() {
        let names = kind_names();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for def in kinds() {
            // A kind whose parameters all have defaults can be built from them alone.
            let mut params = Params::new();
            fill_defaults(def, &mut params);
            if def
                .params
                .iter()
                .any(|p| matches!(p.default, crate::workload::params::Default::Required))
            {
                continue;
            }
            let config = WorkloadConfig::from_params(def.name, &params);
            assert_eq!(config.kind(), def.name);
            let json = serde_json::to_value(&config).unwrap();
            assert_eq!(json["kind"], def.name, "the cell id hashes this tag");
        }
    }
}
