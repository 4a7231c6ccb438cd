//! `async_pool`: a tokio multi-thread runtime with W worker threads; every task spawned at once.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::async_loop::{Tasks, event_loop_worker, shut_down};
use super::descriptor::{Descriptor, Rgb, RustModel, Workers};
use super::{Concurrency, Execution, Job, Scheduler, run_task_async};

pub static MODEL: RustModel = RustModel {
    about: Descriptor {
        waits_async: true,
        ..Descriptor::conclab(
            Workers::Taken,
            |w, tasks| Concurrency {
                waits: tasks,
                cpu: w.max(1),
            },
            Rgb(204, 121, 167),
        )
    },
    scheduler: &AsyncPool,
};

pub struct AsyncPool;

thread_local! {
    static LANE: Cell<usize> = const { Cell::new(0) };
}

fn lane() -> usize {
    LANE.with(|l| l.get())
}

impl Scheduler for AsyncPool {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        let next_lane = Arc::new(AtomicUsize::new(0));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(job.workers)
            .thread_stack_size(super::TASK_STACK_BYTES)
            .on_thread_start(move || {
                LANE.with(|l| l.set(next_lane.fetch_add(1, Ordering::Relaxed)))
            })
            .enable_all()
            .build()?;
        let setup = job.epoch.elapsed();
        let epoch = job.epoch;
        let records = runtime.block_on(async {
            let worker = Arc::new(event_loop_worker(false, job)?);
            let mut tasks = Tasks::default();
            for task in 0..job.workload.tasks() {
                let (workload, worker) = (job.workload.clone(), worker.clone());
                tasks
                    .spawn(task, async move {
                        run_task_async(workload.as_ref(), task, &worker, epoch, lane).await
                    })
                    .await;
            }
            anyhow::Ok(tasks.collect(epoch).await)
        });
        // Waits for the worker threads to close what the tasks left open, so that it is
        // over before the next repetition starts (not measured, as for `async`).
        let unmeasured = shut_down(runtime);
        let records = records?;
        Ok(Execution {
            setup,
            records,
            unmeasured,
            ..Default::default()
        })
    }
}
