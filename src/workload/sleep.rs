//! The `sleep` workload: every task is one wait.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    AsyncWorker, TaskFuture, TaskRecord, TaskResult, Verdict, Worker, Workload, WorkloadConfig,
    task_errors,
};
use crate::experiment::params::{Params, ParamsExt};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SleepConfig {
    pub tasks: usize,
    pub duration: Duration,
}

impl SleepConfig {
    pub fn from_params(p: &Params) -> SleepConfig {
        SleepConfig {
            tasks: p.count("tasks") as usize,
            duration: p.duration("duration"),
        }
    }
}

pub struct Sleep {
    config: WorkloadConfig,
    duration: Duration,
}

impl Sleep {
    pub fn new(c: SleepConfig) -> Sleep {
        Sleep {
            duration: c.duration,
            config: WorkloadConfig::Sleep(c),
        }
    }
}

impl Workload for Sleep {
    fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    fn run_blocking(&self, _task: usize, worker: &mut Worker<'_>) -> TaskResult {
        if worker.wait(self.duration) {
            TaskResult::done()
        } else {
            TaskResult::cancelled()
        }
    }

    fn run_async<'a>(&'a self, _task: usize, worker: &'a AsyncWorker) -> TaskFuture<'a> {
        Box::pin(async move {
            if worker.wait(self.duration).await {
                TaskResult::done()
            } else {
                TaskResult::cancelled()
            }
        })
    }

    fn verify(&self, records: &[TaskRecord]) -> Verdict {
        task_errors(records).unwrap_or_else(|| {
            Verdict::pass(format!(
                "{} of {} tasks finished",
                records.len(),
                self.tasks()
            ))
        })
    }
}
