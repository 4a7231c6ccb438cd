//! The `sleep` workload: every task is one wait.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    AsyncWorker, BuildEnv, Calibration, Kind, KindConfig, Part, TaskCost, TaskFuture, TaskRecord,
    TaskResult, Verdict, Worker, Workload, WorkloadConfig, task_errors,
};
use crate::workload::params::{
    Default, KindDef, ParamDef, ParamType, Params, ParamsExt, StepUse, TASKS10, Work,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SleepConfig {
    pub tasks: usize,
    pub duration: Duration,
}

impl Kind for SleepConfig {
    const DEF: KindDef = KindDef {
        name: "sleep",
        doc: "each task waits `duration` (a blocking sleep in threads, a timer in async)",
        params: &[
            TASKS10,
            ParamDef {
                name: "duration",
                ty: ParamType::Duration { positive: true },
                default: Default::Dur("100ms"),
                doc: "how long each task waits",
            },
        ],
        step: StepUse::Any,
        work: Work::Waits,
        phases: false,
    };

    fn from_params(p: &Params) -> SleepConfig {
        SleepConfig {
            tasks: p.count("tasks") as usize,
            duration: p.duration("duration"),
        }
    }
}

impl KindConfig for SleepConfig {
    fn tasks(&self) -> usize {
        self.tasks
    }

    fn cost(&self, _: &Calibration) -> Option<TaskCost> {
        Some(TaskCost::waiting(self.duration.as_secs_f64()))
    }

    fn parts(&self, _task: usize, _env: &BuildEnv) -> Vec<Part> {
        vec![Part::Sleep {
            seconds: self.duration.as_secs_f64(),
        }]
    }

    fn build(&self, _env: &BuildEnv) -> anyhow::Result<Arc<dyn Workload>> {
        Ok(Arc::new(Sleep::new(self.clone())))
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
