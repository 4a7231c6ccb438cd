//! `thread_pool`: W OS threads take tasks from a shared queue until it is empty.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::descriptor::{Descriptor, Rgb, RustModel, Workers, pool};
use super::{Execution, Job, PoolStart, Scheduler, release_and_join, run_task, start_pool};
use crate::workload::Worker;

pub static MODEL: RustModel = RustModel {
    about: Descriptor::conclab(Workers::Taken, pool, Rgb(86, 180, 233)),
    scheduler: &ThreadPool,
};

pub struct ThreadPool;

impl Scheduler for ThreadPool {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        let workload = job.workload.as_ref();
        let tasks = workload.tasks();
        // The queue is the next task index: taking a task is one fetch_add.
        let next = AtomicUsize::new(0);
        let started = PoolStart::default();
        std::thread::scope(|scope| {
            let next = &next;
            let handles = start_pool(scope, &started, job.workers, "pool", move |lane| {
                let mut worker = Worker::new(lane, job.cancel).with_phases(job.phases);
                let mut records = Vec::new();
                loop {
                    let task = next.fetch_add(1, Ordering::Relaxed);
                    if task >= tasks || job.cancel.is_set() {
                        return records;
                    }
                    records.push(run_task(workload, task, &mut worker, job.epoch));
                }
            })?;
            Ok(release_and_join(job, &started, handles))
        })
    }
}
