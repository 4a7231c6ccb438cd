//! Execution models: how the tasks of one repetition are scheduled onto threads,
//! processes and event loops.

#[macro_use]
mod registry;

pub mod cpython;
pub mod descriptor;
pub mod external;
pub mod kind;
pub mod protocol;
pub mod settings;
pub mod supervisor;

// conclab's own models: each one's file, and its line in the registry (see `registry.rs`).
mod async_blocking;
mod async_loop;
mod async_pool;
mod async_to_thread;
mod gil_threads;
#[cfg(test)]
mod probe;
pub mod process_pool;
mod rayon_pool;
mod sequential;
mod thread_pool;
mod threads;

models! {
    Sequential => sequential,
    Threads => threads,
    ThreadPool => thread_pool,
    Rayon => rayon_pool,
    ProcessPool => process_pool,
    Async => async_loop,
    AsyncPool => async_pool,
    AsyncBlocking => async_blocking,
    AsyncToThread => async_to_thread,
    GilThreads => gil_threads,
    #[cfg(test)]
    Probe => probe,
}

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::measure::CpuTimes;
use crate::workload::{
    AsyncWorker, BuildEnv, Cancel, PhaseSink, TaskRecord, TaskResult, Worker, Workload,
};
pub use cpython::CpythonModel;
pub use descriptor::{
    Descriptor, Family, Needs, Rgb, RustModel, Setting, SettingValue, Unavailable,
};
pub use kind::{Concurrency, CustomModel, Model, baseline_of, is_baseline};
pub use settings::ModelSettings;

/// Everything a model needs to run one repetition.
pub struct Job<'a> {
    pub workload: &'a Arc<dyn Workload>,
    pub workers: usize,
    pub settings: &'a ModelSettings,
    pub cancel: &'a Cancel,
    /// Task spans are measured from here.
    pub epoch: Instant,
    pub env: &'a BuildEnv,
    /// Where task threads leave their phases, in the repetition that records them
    /// (measured from `epoch` too).
    pub phases: Option<&'a PhaseSink>,
}

/// What a model gives back from one repetition.
#[derive(Debug, Default)]
pub struct Execution {
    /// Pool, runtime or process start-up: inside the measured wall time, except for an
    /// external model, whose start-up is also `unmeasured`.
    pub setup: Duration,
    /// Time inside `run` that is no part of the measured wall time: an external program's
    /// start-up until it is ready, and its exit after its last line; an event loop's
    /// shut-down after its last task (see [`async_loop::shut_down`]). The runner measures
    /// from before `run` to after it, and subtracts this; task spans are already measured
    /// from the end of the start-up (see [`external`]).
    pub unmeasured: Duration,
    /// One record per task that ran (any order).
    pub records: Vec<TaskRecord>,
    /// CPU time of child processes, when the model used any.
    pub children: Option<CpuTimes>,
    /// Peak resident memory of the largest child, KiB.
    pub children_peak_rss_kib: Option<u64>,
    /// What ran the tasks, in another program's own word (its ready line); None for
    /// conclab's own models, and for a program that did not say.
    pub implementation: Option<String>,
}

/// An execution model.
pub trait Scheduler: Send + Sync {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution>;
}

pub fn scheduler(kind: ModelKind) -> &'static dyn Scheduler {
    kind.model().scheduler
}

impl Model {
    pub fn scheduler(&self) -> Box<dyn Scheduler> {
        match self {
            Model::Rust(kind) => Box::new(Shared(scheduler(*kind))),
            Model::Cpython(m) => Box::new(external::External::new(m.name(), Box::new(*m))),
            Model::Variant(v) => Box::new(external::External::new(&v.name, Box::new(v.clone()))),
            Model::Custom(m) => Box::new(external::External::new(&m.name, Box::new(m.clone()))),
        }
    }
}

/// A registered model's scheduler, which lives for the whole program, behind the box
/// every model is handed out in.
struct Shared(&'static dyn Scheduler);

impl Scheduler for Shared {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        self.0.run(job)
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
        phases: None,
    };
    let mut execution = scheduler(kind).run(&job)?;
    let wall = job.epoch.elapsed().saturating_sub(execution.unmeasured);
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

/// Runs one task on the calling thread and records its span. A task that panics is a
/// failed task with the panic's message; the thread goes on with the next one.
#[inline]
pub fn run_task(
    workload: &dyn Workload,
    task: usize,
    worker: &mut Worker<'_>,
    epoch: Instant,
) -> TaskRecord {
    let start_s = epoch.elapsed().as_secs_f64();
    worker.begin_task(task, start_s);
    let result = catch_unwind(AssertUnwindSafe(|| workload.run_blocking(task, worker)))
        .unwrap_or_else(|payload| TaskResult::error(panic_message(payload.as_ref())));
    let end_s = epoch.elapsed().as_secs_f64();
    worker.end_task(end_s);
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

/// `panicked: <message>`, from what a panic carried.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    format!("panicked: {message}")
}

/// Where a pool's threads wait until every one of them has started, so that the pool's
/// start-up is timed apart from its tasks. Unlike a barrier it can be called off: when a
/// thread cannot be started, the ones already waiting go home instead of waiting for ever.
#[derive(Default)]
pub struct PoolStart {
    state: Mutex<PoolStartState>,
    changed: Condvar,
}

#[derive(Default)]
struct PoolStartState {
    arrived: usize,
    /// `Some(true)` once the pool runs, `Some(false)` once it is called off.
    verdict: Option<bool>,
}

impl PoolStart {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolStartState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pool thread has started: waits until the pool runs (true) or is called off (false).
    pub fn arrive(&self) -> bool {
        let mut state = self.lock();
        state.arrived += 1;
        self.changed.notify_all();
        loop {
            if let Some(run) = state.verdict {
                return run;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits until `threads` threads have arrived, then lets them run.
    pub fn open(&self, threads: usize) {
        let mut state = self.lock();
        while state.arrived < threads {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.verdict = Some(true);
        self.changed.notify_all();
    }

    /// Sends every thread that arrived, or will, home without running a task.
    pub fn call_off(&self) {
        self.lock().verdict = Some(false);
        self.changed.notify_all();
    }
}

/// Starts `threads` pool threads running `body(lane)` once all of them have started. If
/// one cannot be started, the others end without running anything and the error, with the
/// operating system's reason, is returned.
pub fn start_pool<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    start: &'scope PoolStart,
    threads: usize,
    name: &str,
    body: impl Fn(usize) -> Vec<TaskRecord> + Send + Sync + Copy + 'scope,
) -> anyhow::Result<Vec<std::thread::ScopedJoinHandle<'scope, Vec<TaskRecord>>>> {
    let mut handles = Vec::with_capacity(threads);
    for lane in 0..threads {
        let spawned = spawn_scoped(scope, format!("{name}-{lane}"), move || {
            if start.arrive() {
                body(lane)
            } else {
                Vec::new()
            }
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                start.call_off();
                return Err(e.context(format!("thread {} of a pool of {threads}", lane + 1)));
            }
        }
    }
    Ok(handles)
}

/// Releases a pool whose threads wait at `started` and collects their records; setup is
/// the time until release. A thread that panicked outside a task loses its tasks, which
/// the runner then reports as not run.
pub fn release_and_join(
    job: &Job<'_>,
    started: &PoolStart,
    handles: Vec<std::thread::ScopedJoinHandle<'_, Vec<TaskRecord>>>,
) -> Execution {
    started.open(handles.len());
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
pub fn panicked(task: usize, lane: usize, payload: &(dyn Any + Send)) -> TaskRecord {
    TaskRecord {
        task,
        lane,
        start_s: 0.0,
        end_s: 0.0,
        result: TaskResult::error(panic_message(payload)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_called_off_pool_start_sends_its_waiting_threads_home() {
        let start = PoolStart::default();
        let ran = std::thread::scope(|scope| {
            let waiting: Vec<_> = (0..3).map(|_| scope.spawn(|| start.arrive())).collect();
            start.call_off();
            waiting
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(ran, [false, false, false]);
        assert!(!start.arrive(), "a thread arriving late goes home too");
    }

    #[test]
    fn an_opened_pool_start_waits_for_every_thread_then_lets_them_run() {
        let start = PoolStart::default();
        let ran = std::thread::scope(|scope| {
            let waiting: Vec<_> = (0..3).map(|_| scope.spawn(|| start.arrive())).collect();
            start.open(3);
            waiting
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(ran, [true, true, true]);
    }

    #[test]
    fn panic_messages_come_from_str_and_string_payloads() {
        assert_eq!(panic_message(&"boom"), "panicked: boom");
        assert_eq!(panic_message(&String::from("bang")), "panicked: bang");
        assert_eq!(panic_message(&42), "panicked: (no message)");
    }
}
