//! `async`: one tokio event loop on one thread; at most W tasks in flight.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::{Execution, Job, Scheduler, run_task_async};
use crate::workload::{AsyncWorker, TaskRecord};

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
    let worker = Arc::new(AsyncWorker::new(blocking, job.cancel.clone()));
    let permits = Arc::new(Semaphore::new(job.workers.min(Semaphore::MAX_PERMITS)));
    let epoch = job.epoch;
    let records = runtime.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for task in 0..job.workload.tasks() {
            let (workload, worker, permits) =
                (job.workload.clone(), worker.clone(), permits.clone());
            set.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                run_task_async(workload.as_ref(), task, &worker, epoch, || 0).await
            });
        }
        collect(set).await
    });
    Ok(Execution {
        setup,
        records,
        ..Default::default()
    })
}

/// Joins every spawned task; a panicked task becomes a failed record.
pub async fn collect(mut set: tokio::task::JoinSet<TaskRecord>) -> Vec<TaskRecord> {
    let mut records = Vec::with_capacity(set.len());
    while let Some(joined) = set.join_next().await {
        if let Ok(r) = joined {
            records.push(r);
        }
    }
    records
}
