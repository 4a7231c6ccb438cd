//! `async`: one tokio event loop on one thread; at most W tasks in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::descriptor::{Descriptor, Rgb, RustModel, Workers};
use super::{Concurrency, Execution, Job, Scheduler, run_task_async};
use crate::workload::timer::Timer;
use crate::workload::{AsyncWorker, TaskRecord, TaskResult};

pub static MODEL: RustModel = RustModel {
    about: Descriptor {
        waits_async: true,
        ..Descriptor::conclab(
            Workers::Taken,
            |w, tasks| Concurrency {
                waits: w.max(1).min(tasks),
                cpu: 1,
            },
            Rgb(213, 94, 0),
        )
    },
    scheduler: &AsyncLoop,
};

pub struct AsyncLoop;

impl Scheduler for AsyncLoop {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        run_on_event_loop(job, false)
    }
}

/// Every task spawned on a current-thread runtime behind a semaphore of `workers` permits;
/// `blocking` makes waits block the loop (the `async_blocking` mistake).
pub fn run_on_event_loop(job: &Job<'_>, blocking: bool) -> anyhow::Result<Execution> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let setup = job.epoch.elapsed();
    let permits = Arc::new(Semaphore::new(job.workers.min(Semaphore::MAX_PERMITS)));
    let epoch = job.epoch;
    let records = runtime.block_on(async {
        let worker = Arc::new(event_loop_worker(blocking, job)?);
        let mut tasks = Tasks::default();
        for task in 0..job.workload.tasks() {
            let (workload, worker, permits) =
                (job.workload.clone(), worker.clone(), permits.clone());
            tasks
                .spawn(task, async move {
                    let _permit = permits
                        .acquire_owned()
                        .await
                        .expect("the semaphore is never closed");
                    run_task_async(workload.as_ref(), task, &worker, epoch, || 0).await
                })
                .await;
        }
        anyhow::Ok(tasks.collect(epoch).await)
    })?;
    Ok(Execution {
        setup,
        records,
        unmeasured: shut_down(runtime),
        ..Default::default()
    })
}

/// Drops a runtime once its last task has ended, and says how long that took: the time
/// its connection tasks take to close what a repetition's fresh client left open (over
/// HTTP/1.1 about 43 ms for 3,000 idle connections on 2 cores). Like an external
/// program's exit after its last line, it is no part of the measured time; it is over
/// before the next repetition starts.
pub fn shut_down(runtime: tokio::runtime::Runtime) -> Duration {
    let started = Instant::now();
    drop(runtime);
    started.elapsed()
}

/// The worker of an event loop's tasks, its waits on the loop's precise timer (see
/// [`crate::workload::timer`]); called inside the runtime. The blocking mistake never
/// waits on the loop, so it has none.
pub fn event_loop_worker(blocking: bool, job: &Job<'_>) -> anyhow::Result<AsyncWorker> {
    let worker = AsyncWorker::new(blocking, job.cancel.clone());
    if blocking {
        return Ok(worker);
    }
    Ok(worker.with_timer(Timer::start()?))
}

/// The spawned tasks of one repetition, with the task number of each.
#[derive(Default)]
pub struct Tasks {
    set: JoinSet<TaskRecord>,
    numbers: HashMap<tokio::task::Id, usize>,
}

impl Tasks {
    /// Spawns `future` as task `task`, and every 64 spawns lets the loop run what is
    /// ready: spawning all 10,000 tasks before the first runs holds every request (and
    /// the connection that would send it) back until the last task exists; with these
    /// turns the server has the first requests while the rest are still being spawned
    /// (3-4% less time at 3,000 HTTP/2 requests in flight, benchmarks/peer-http.py).
    pub async fn spawn(
        &mut self,
        task: usize,
        future: impl Future<Output = TaskRecord> + Send + 'static,
    ) {
        let handle = self.set.spawn(future);
        self.numbers.insert(handle.id(), task);
        if self.numbers.len().is_multiple_of(64) {
            tokio::task::yield_now().await;
        }
    }

    /// Joins every task. A task that panicked is a failed record with the panic's
    /// message, ending when it was joined.
    pub async fn collect(mut self, epoch: Instant) -> Vec<TaskRecord> {
        let mut records = Vec::with_capacity(self.set.len());
        while let Some(joined) = self.set.join_next_with_id().await {
            match joined {
                Ok((_, r)) => records.push(r),
                Err(e) => {
                    let Some(&task) = self.numbers.get(&e.id()) else {
                        continue;
                    };
                    let message = if e.is_panic() {
                        super::panic_message(e.into_panic().as_ref())
                    } else {
                        "cancelled".to_string()
                    };
                    let at = epoch.elapsed().as_secs_f64();
                    records.push(TaskRecord {
                        task,
                        lane: 0,
                        start_s: at,
                        end_s: at,
                        result: TaskResult::error(message),
                    });
                }
            }
        }
        records
    }
}
