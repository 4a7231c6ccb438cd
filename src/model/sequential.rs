//! `sequential`: the calling thread runs every task, one after another.

use super::descriptor::{Descriptor, Rgb, RustModel, Workers};
use super::{Concurrency, Execution, Job, Scheduler, run_task};
use crate::workload::Worker;

pub static MODEL: RustModel = RustModel {
    about: Descriptor::conclab(
        Workers::Fixed(|_| 1),
        |_, _| Concurrency { waits: 1, cpu: 1 },
        Rgb(0, 0, 0),
    ),
    scheduler: &Sequential,
};

pub struct Sequential;

impl Scheduler for Sequential {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        let mut worker = Worker::new(0, job.cancel).with_phases(job.phases);
        let mut records = Vec::with_capacity(job.workload.tasks());
        for task in 0..job.workload.tasks() {
            if job.cancel.is_set() {
                break;
            }
            records.push(run_task(
                job.workload.as_ref(),
                task,
                &mut worker,
                job.epoch,
            ));
        }
        Ok(Execution {
            records,
            ..Default::default()
        })
    }
}
