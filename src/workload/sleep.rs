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
        task_errors(records)
            .or_else(|| too_short(records, self.duration))
            .unwrap_or_else(|| {
                Verdict::pass(format!(
                    "{} of {} tasks finished",
                    records.len(),
                    self.tasks()
                ))
            })
    }
}

/// Clocks read at a task's start and end (another program's, converted to ours) may each
/// be off by this much: a shorter span is beyond their error.
pub const SPAN_SLACK: Duration = Duration::from_millis(1);

/// A wait cannot end before its duration: a span shorter than that (beyond the clocks'
/// slack) means the task did not wait, whatever the model reported.
pub fn too_short(records: &[TaskRecord], duration: Duration) -> Option<Verdict> {
    let least = duration.saturating_sub(SPAN_SLACK).as_secs_f64();
    let short: Vec<&TaskRecord> = records
        .iter()
        .filter(|r| r.end_s - r.start_s < least)
        .collect();
    let first = short.first()?;
    Some(Verdict::fail(format!(
        "{} of {} tasks waited less than {:?} (task {} lasted {:.4}s)",
        short.len(),
        records.len(),
        duration,
        first.task,
        first.end_s - first.start_s
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Check;

    fn span(task: usize, start_s: f64, end_s: f64) -> TaskRecord {
        TaskRecord {
            task,
            lane: 0,
            start_s,
            end_s,
            result: TaskResult::done(),
        }
    }

    #[test]
    fn a_span_shorter_than_its_wait_fails() {
        let d = Duration::from_millis(100);
        assert_eq!(
            too_short(&[span(0, 0.0, 0.1), span(1, 0.0, 0.0995)], d),
            None
        );
        let v = too_short(&[span(0, 0.0, 0.1), span(1, 0.2, 0.25)], d).unwrap();
        assert_eq!(v.check, Check::Fail);
        assert!(
            v.detail
                .starts_with("1 of 2 tasks waited less than 100ms (task 1"),
            "{}",
            v.detail
        );
    }
}
