//! `rayon`: a rayon pool of W threads over the task list (work stealing).

use rayon::prelude::*;

use super::descriptor::{Descriptor, Rgb, RustModel, Workers, pool};
use super::{Execution, Job, Scheduler, run_task};
use crate::workload::{TaskRecord, TaskResult, Worker};

pub static MODEL: RustModel = RustModel {
    about: Descriptor::conclab(Workers::Taken, pool, Rgb(0, 158, 115)),
    scheduler: &RayonPool,
};

pub struct RayonPool;

impl Scheduler for RayonPool {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(job.workers)
            .stack_size(super::TASK_STACK_BYTES)
            .build()
            .map_err(|e| {
                anyhow::anyhow!("cannot build a rayon pool of {} threads: {e}", job.workers)
            })?;
        let setup = job.epoch.elapsed();
        let workload = job.workload.as_ref();
        let records: Vec<TaskRecord> = pool.install(|| {
            (0..workload.tasks())
                .into_par_iter()
                .with_max_len(1)
                .map_init(
                    || {
                        Worker::new(rayon::current_thread_index().unwrap_or(0), job.cancel)
                            .with_phases(job.phases)
                    },
                    |worker, task| {
                        if job.cancel.is_set() {
                            let at = job.epoch.elapsed().as_secs_f64();
                            return TaskRecord {
                                task,
                                lane: worker.lane,
                                start_s: at,
                                end_s: at,
                                result: TaskResult::cancelled(),
                            };
                        }
                        worker.lane = rayon::current_thread_index().unwrap_or(0);
                        run_task(workload, task, worker, job.epoch)
                    },
                )
                .collect()
        });
        Ok(Execution {
            setup,
            records,
            ..Default::default()
        })
    }
}
