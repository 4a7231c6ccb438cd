//! Execution models: how the tasks of one repetition are scheduled onto threads,
//! processes and event loops.

mod async_blocking;
mod async_loop;
mod async_pool;
mod gil_threads;
pub mod kind;
pub mod process_pool;
mod rayon_pool;
mod sequential;
mod thread_pool;
mod threads;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use kind::{Concurrency, ModelKind};

use crate::measure::CpuTimes;
use crate::spec::ModelSettings;
use crate::workload::{AsyncWorker, BuildEnv, Cancel, TaskRecord, TaskResult, Worker, Workload};

/// Everything a model needs to run one repetition.
pub struct Job<'a> {
    pub workload: &'a Arc<dyn Workload>,
    pub workers: usize,
    pub settings: &'a ModelSettings,
    pub cancel: &'a Cancel,
    /// Task spans are measured from here.
    pub epoch: Instant,
    pub env: &'a BuildEnv,
}

/// What a model gives back from one repetition.
#[derive(Debug, Default)]
pub struct Execution {
    /// Pool, runtime or process start-up, inside the measured wall time.
    pub setup: Duration,
    /// One record per task that ran (any order).
    pub records: Vec<TaskRecord>,
    /// CPU time of child processes, when the model used any.
    pub children: Option<CpuTimes>,
    /// Peak resident memory of the largest child, KiB.
    pub children_peak_rss_kib: Option<u64>,
}

/// An execution model.
pub trait Scheduler: Send + Sync {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution>;
}

pub fn scheduler(kind: ModelKind) -> Box<dyn Scheduler> {
    match kind {
        ModelKind::Sequential => Box::new(sequential::Sequential),
        ModelKind::Threads => Box::new(threads::Threads),
        ModelKind::ThreadPool => Box::new(thread_pool::ThreadPool),
        ModelKind::Rayon => Box::new(rayon_pool::RayonPool),
        ModelKind::Async => Box::new(async_loop::AsyncLoop),
        ModelKind::AsyncPool => Box::new(async_pool::AsyncPool),
        ModelKind::AsyncBlocking => Box::new(async_blocking::AsyncBlocking),
        ModelKind::ProcessPool => Box::new(process_pool::ProcessPool),
        ModelKind::GilThreads => Box::new(gil_threads::GilThreads),
    }
}

/// One repetition run outside any experiment (benchmarks, tests, examples).
#[derive(Debug)]
pub struct Alone {
    pub wall: Duration,
    /// Records sorted by task.
    pub execution: Execution,
    pub verdict: crate::workload::Verdict,
}

/// Runs every task of `workload` once under `kind` with default model settings and no
/// embedded server, and verifies the result.
pub fn run_workload(
    kind: ModelKind,
    workload: &Arc<dyn Workload>,
    workers: usize,
    cancel: &Cancel,
) -> anyhow::Result<Alone> {
    let (settings, env) = (ModelSettings::default(), BuildEnv::default());
    workload.start_repetition();
    let job = Job {
        workload,
        workers,
        settings: &settings,
        cancel,
        epoch: Instant::now(),
        env: &env,
    };
    let mut execution = scheduler(kind).run(&job)?;
    let wall = job.epoch.elapsed();
    execution.records.sort_by_key(|r| r.task);
    let verdict = workload.verify(&execution.records);
    Ok(Alone {
        wall,
        execution,
        verdict,
    })
}

/// [`run_workload`] on a workload built from its configuration.
pub fn run_alone(
    kind: ModelKind,
    config: &crate::workload::WorkloadConfig,
    workers: usize,
    cancel: &Cancel,
) -> anyhow::Result<Alone> {
    let workload = config.build(&BuildEnv::default())?;
    run_workload(kind, &workload, workers, cancel)
}

/// Runs one task on the calling thread and records its span.
#[inline]
pub fn run_task(
    workload: &dyn Workload,
    task: usize,
    worker: &mut Worker<'_>,
    epoch: Instant,
) -> TaskRecord {
    let start_s = epoch.elapsed().as_secs_f64();
    let result = workload.run_blocking(task, worker);
    let end_s = epoch.elapsed().as_secs_f64();
    TaskRecord {
        task,
        lane: worker.lane,
        start_s,
        end_s,
        result,
    }
}

/// Runs one task as a future and records its span; `lane` is read when it ends.
pub async fn run_task_async(
    workload: &dyn Workload,
    task: usize,
    worker: &AsyncWorker,
    epoch: Instant,
    lane: fn() -> usize,
) -> TaskRecord {
    if worker.cancelled() {
        let at = epoch.elapsed().as_secs_f64();
        return TaskRecord {
            task,
            lane: lane(),
            start_s: at,
            end_s: at,
            result: TaskResult::cancelled(),
        };
    }
    let start_s = epoch.elapsed().as_secs_f64();
    let result = workload.run_async(task, worker).await;
    let end_s = epoch.elapsed().as_secs_f64();
    TaskRecord {
        task,
        lane: lane(),
        start_s,
        end_s,
        result,
    }
}

/// Stack for task threads: small enough for 10,000 threads, large enough for TLS clients.
pub const TASK_STACK_BYTES: usize = 512 * 1024;

/// Spawns a named task thread with the small stack.
pub fn spawn_scoped<'scope, 'env, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    name: String,
    f: impl FnOnce() -> T + Send + 'scope,
) -> anyhow::Result<std::thread::ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new()
        .name(name)
        .stack_size(TASK_STACK_BYTES)
        .spawn_scoped(scope, f)
        .map_err(|e| anyhow::anyhow!("cannot start a thread: {e}"))
}

/// Releases a pool whose threads wait at `started` and collects their records; setup is
/// the time until release. A thread that panicked loses its tasks, which the runner then
/// reports as not run.
pub fn release_and_join(
    job: &Job<'_>,
    started: &std::sync::Barrier,
    handles: Vec<std::thread::ScopedJoinHandle<'_, Vec<TaskRecord>>>,
) -> Execution {
    started.wait();
    let setup = job.epoch.elapsed();
    let records = handles
        .into_iter()
        .filter_map(|h| h.join().ok())
        .flatten()
        .collect();
    Execution {
        setup,
        records,
        ..Default::default()
    }
}

/// A task thread panicked: record it as a failed task rather than crash the run.
pub fn panicked(task: usize, lane: usize) -> TaskRecord {
    TaskRecord {
        task,
        lane,
        start_s: 0.0,
        end_s: 0.0,
        result: TaskResult::error("panicked"),
    }
}
