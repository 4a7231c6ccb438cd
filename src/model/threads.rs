//! `threads`: one OS thread per task, all started, then joined.

use super::descriptor::{Descriptor, Rgb, RustModel, Workers};
use super::{Concurrency, Execution, Job, Scheduler, panicked, run_task, spawn_scoped};
use crate::workload::Worker;

pub static MODEL: RustModel = RustModel {
    about: Descriptor::conclab(
        Workers::Fixed(|tasks| tasks),
        |_, tasks| Concurrency {
            waits: tasks,
            cpu: tasks,
        },
        Rgb(230, 159, 0),
    ),
    scheduler: &Threads,
};

pub struct Threads;

impl Scheduler for Threads {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        let workload = job.workload.as_ref();
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(workload.tasks());
            for task in 0..workload.tasks() {
                if job.cancel.is_set() {
                    break;
                }
                let handle = spawn_scoped(scope, format!("task-{task}"), move || {
                    let mut worker = Worker::new(task, job.cancel).with_phases(job.phases);
                    run_task(workload, task, &mut worker, job.epoch)
                });
                match handle {
                    Ok(h) => handles.push((task, h)),
                    Err(e) => {
                        // Out of threads: stop the ones started and report it.
                        job.cancel.set();
                        for (_, h) in handles {
                            let _ = h.join();
                        }
                        return Err(e.context(format!("thread {task} of {}", workload.tasks())));
                    }
                }
            }
            let records = handles
                .into_iter()
                .map(|(task, h)| {
                    h.join()
                        .unwrap_or_else(|payload| panicked(task, task, payload.as_ref()))
                })
                .collect();
            Ok(Execution {
                records,
                ..Default::default()
            })
        })
    }
}
