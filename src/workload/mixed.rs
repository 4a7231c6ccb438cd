//! The `mixed` workload: a hash chain, then a wait, in every task.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::hash_chain::{
    HashChainConfig, MAX_ITERATIONS, SEED_INPUTS, digest_result, run_chain, verify_digests,
};
use super::{
    AsyncWorker, BuildEnv, Calibration, Kind, KindConfig, Part, TaskCost, TaskFuture, TaskRecord,
    TaskResult, Verdict, Worker, Workload, WorkloadConfig,
};
use crate::workload::params::{
    Default, KindDef, ParamDef, ParamType, Params, ParamsExt, StepUse, TASKS10, Work,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixedConfig {
    pub tasks: usize,
    pub iterations: u64,
    pub duration: Duration,
}

impl Kind for MixedConfig {
    const DEF: KindDef = KindDef {
        name: "mixed",
        doc: "each task runs a hash chain, then waits",
        params: &[
            TASKS10,
            ParamDef {
                name: "iterations",
                ty: ParamType::Count {
                    min: 1,
                    max: MAX_ITERATIONS,
                },
                default: Default::Int(100_000),
                doc: "hash steps per task",
            },
            ParamDef {
                name: "duration",
                ty: ParamType::Duration { positive: true },
                default: Default::Dur("50ms"),
                doc: "wait after the chain",
            },
        ],
        step: StepUse::No,
        work: Work::ComputesAndWaits,
        phases: true,
    };

    fn from_params(p: &Params) -> MixedConfig {
        MixedConfig {
            tasks: p.count("tasks") as usize,
            iterations: p.count("iterations"),
            duration: p.duration("duration"),
        }
    }
}

impl KindConfig for MixedConfig {
    fn tasks(&self) -> usize {
        self.tasks
    }

    fn cost(&self, calibration: &Calibration) -> Option<TaskCost> {
        Some(TaskCost::new(
            TaskCost::chain(self.iterations, calibration),
            self.duration.as_secs_f64(),
        ))
    }

    fn hashes(&self) -> Option<u64> {
        Some(self.tasks as u64 * self.iterations)
    }

    fn parts(&self, task: usize, _env: &BuildEnv) -> Vec<Part> {
        vec![
            Part::Hash {
                input: self.input(task).to_string(),
                iterations: self.iterations,
            },
            Part::Sleep {
                seconds: self.duration.as_secs_f64(),
            },
        ]
    }

    fn build(&self, _env: &BuildEnv) -> anyhow::Result<Arc<dyn Workload>> {
        Ok(Arc::new(Mixed::new(self.clone())))
    }
}

impl MixedConfig {
    /// The seed of task `task`'s chain: the standard inputs, cycled.
    pub fn input(&self, task: usize) -> &'static str {
        SEED_INPUTS[task % SEED_INPUTS.len()]
    }

    /// The chain half, seeded from the standard inputs.
    fn chain(&self) -> HashChainConfig {
        HashChainConfig {
            inputs: SEED_INPUTS.iter().map(|s| s.to_string()).collect(),
            iterations: self.iterations,
            tasks: self.tasks,
            expect: BTreeMap::new(),
        }
    }
}

pub struct Mixed {
    config: WorkloadConfig,
    c: MixedConfig,
    chain: HashChainConfig,
}

impl Mixed {
    pub fn new(c: MixedConfig) -> Mixed {
        Mixed {
            config: WorkloadConfig::Mixed(c.clone()),
            chain: c.chain(),
            c,
        }
    }
}

/// The chain's digest once the wait is done too; cancelled if either was stopped.
fn finish(digest: Option<String>, waited: bool) -> TaskResult {
    digest_result(digest.filter(|_| waited))
}

impl Workload for Mixed {
    fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    fn run_blocking(&self, task: usize, worker: &mut Worker<'_>) -> TaskResult {
        let digest = run_chain(self.chain.input(task), self.c.iterations, || worker.tick());
        let waited = digest.is_some() && worker.wait(self.c.duration);
        finish(digest, waited)
    }

    fn run_async<'a>(&'a self, task: usize, worker: &'a AsyncWorker) -> TaskFuture<'a> {
        Box::pin(async move {
            let digest = run_chain(self.chain.input(task), self.c.iterations, || {
                !worker.cancelled()
            });
            let waited = digest.is_some() && worker.wait(self.c.duration).await;
            finish(digest, waited)
        })
    }

    /// Digests as a chain's, and no task shorter than its wait.
    fn verify(&self, records: &[TaskRecord]) -> Verdict {
        let digests = verify_digests(&self.chain, records);
        if digests.check != super::Check::Pass {
            return digests;
        }
        super::sleep::too_short(records, self.c.duration).unwrap_or(digests)
    }
}
