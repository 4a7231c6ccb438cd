//! `probe`: a workload kind of the test build only, registered by one line, which proves
//! that generic code (checker, schema, models, verification) picks a new kind up.

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
pub struct ProbeConfig {
    pub tasks: usize,
    pub pause: Duration,
}

impl Kind for ProbeConfig {
    const DEF: KindDef = KindDef {
        name: "probe",
        doc: "each task pauses, then answers with its number",
        params: &[
            TASKS10,
            ParamDef {
                name: "pause",
                ty: ParamType::Duration { positive: false },
                default: Default::Dur("0ms"),
                doc: "how long each task waits before it answers",
            },
        ],
        step: StepUse::No,
        work: Work::Waits,
        phases: false,
    };

    fn from_params(p: &Params) -> ProbeConfig {
        ProbeConfig {
            tasks: p.count("tasks") as usize,
            pause: p.duration("pause"),
        }
    }
}

impl KindConfig for ProbeConfig {
    fn tasks(&self) -> usize {
        self.tasks
    }

    fn cost(&self, _: &Calibration) -> Option<TaskCost> {
        Some(TaskCost::waiting(self.pause.as_secs_f64()))
    }

    fn parts(&self, _task: usize, _env: &BuildEnv) -> Vec<Part> {
        vec![Part::Sleep {
            seconds: self.pause.as_secs_f64(),
        }]
    }

    fn build(&self, _env: &BuildEnv) -> anyhow::Result<Arc<dyn Workload>> {
        Ok(Arc::new(Probe {
            config: WorkloadConfig::Probe(self.clone()),
            pause: self.pause,
        }))
    }
}

pub struct Probe {
    config: WorkloadConfig,
    pause: Duration,
}

impl Workload for Probe {
    fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    fn run_blocking(&self, _task: usize, worker: &mut Worker<'_>) -> TaskResult {
        if worker.wait(self.pause) {
            TaskResult::done()
        } else {
            TaskResult::cancelled()
        }
    }

    fn run_async<'a>(&'a self, _task: usize, worker: &'a AsyncWorker) -> TaskFuture<'a> {
        Box::pin(async move {
            if worker.wait(self.pause).await {
                TaskResult::done()
            } else {
                TaskResult::cancelled()
            }
        })
    }

    /// Every task answered exactly once.
    fn verify(&self, records: &[TaskRecord]) -> Verdict {
        if let Some(v) = task_errors(records) {
            return v;
        }
        let mut seen = vec![0usize; self.tasks()];
        for r in records {
            if let Some(n) = seen.get_mut(r.task) {
                *n += 1;
            }
        }
        if seen.iter().all(|&n| n == 1) {
            Verdict::pass(format!("{} tasks answered once", seen.len()))
        } else {
            Verdict::fail(format!("answers per task: {seen:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::experiment::{expand, parse_experiment};
    use crate::model::{ModelKind, run_alone};
    use crate::workload::{Cancel, Check};

    const FILE: &str = "[workload]\nkind = \"probe\"\ntasks = 4\npause = \"1ms\"\n[matrix]\nmodel = [\"sequential\", \"thread_pool\", \"async\"]\nworkers = [2]\n";

    #[test]
    fn the_checker_takes_its_parameters_and_refuses_bad_ones() {
        let e = parse_experiment("p.toml", FILE, Path::new("p.toml"), &[]).unwrap();
        let cells = expand::expand(&e);
        assert_eq!(cells.len(), 3);
        assert_eq!(
            cells[0].workload,
            WorkloadConfig::Probe(ProbeConfig {
                tasks: 4,
                pause: Duration::from_millis(1)
            })
        );
        let bad = FILE.replace("pause = \"1ms\"", "pause = 5\npuase = \"1ms\"");
        let err = parse_experiment("p.toml", &bad, Path::new("p.toml"), &[]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("workload.pause: must be a string"), "{text}");
        assert!(text.contains("did you mean \"pause\""), "{text}");
    }

    #[test]
    fn the_schema_lists_it() {
        let text = crate::experiment::schema::schema().to_string();
        assert!(text.contains("\"const\":\"probe\""), "{text}");
        assert!(text.contains("how long each task waits before it answers"));
    }

    #[test]
    fn every_rust_model_runs_it_and_its_rows_verify() {
        let config = WorkloadConfig::Probe(ProbeConfig {
            tasks: 5,
            pause: Duration::from_millis(1),
        });
        for model in ModelKind::ALL {
            if model == ModelKind::ProcessPool {
                // Its children are the conclab binary, which has no test-only kinds.
                continue;
            }
            let alone = run_alone(model, &config, 2, &Cancel::new()).unwrap();
            assert_eq!(
                alone.verdict.check,
                Check::Pass,
                "{model:?}: {:?}",
                alone.verdict
            );
            assert_eq!(alone.verdict.detail, "5 tasks answered once");
        }
    }
}
