//! The `steps` workload: every task runs a list of steps (any kind that may be a step)
//! one after another, each step the task of its own kind's workload.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

use super::counter::CounterSync;
use super::http::outcome_key;
use super::{
    AsyncWorker, BuildEnv, Calibration, Check, CounterStore, Kind, KindConfig, Output, Part,
    TaskCost, TaskFuture, TaskRecord, TaskResult, ToThread, Verdict, Worker, Workload,
    WorkloadConfig,
};
use crate::workload::params::{
    Default, KindDef, ParamDef, ParamType, ParamValue, Params, ParamsExt, StepUse, TASKS10, Work,
    fill_defaults,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepsConfig {
    pub tasks: usize,
    /// Each step as the workload of its kind, with the same `tasks`: task `t` runs task
    /// `t` of every step, so a step meets what a workload of its kind would (the same
    /// input of a hash chain, the same delay and status of a request).
    pub steps: Vec<WorkloadConfig>,
}

/// The parameter that holds a task's steps.
pub const STEPS_PARAM: &str = "steps";

/// A `steps` value, as the checker's messages show one.
pub const EXAMPLE: &str =
    "[{ kind = \"http\", latency = \"200ms\" }, { kind = \"sleep\", duration = \"1s\" }]";

impl Kind for StepsConfig {
    const DEF: KindDef = KindDef {
        name: "steps",
        doc: "each task runs its steps one after another: any mix of sleep, http, hash_chain and counter",
        params: &[
            TASKS10,
            ParamDef {
                name: STEPS_PARAM,
                ty: ParamType::Steps { example: EXAMPLE },
                default: Default::Required,
                doc: "the steps of every task, in order; each takes its kind's parameters but tasks",
            },
        ],
        step: StepUse::No,
        work: Work::Waits,
        phases: true,
    };

    fn from_params(p: &Params) -> StepsConfig {
        let tasks = p.count("tasks");
        let steps = p
            .steps(STEPS_PARAM)
            .into_iter()
            .map(|mut step| {
                step.params.insert("tasks".into(), ParamValue::Int(tasks));
                fill_defaults(step.kind, &mut step.params);
                WorkloadConfig::from_params(step.kind.name, &step.params)
            })
            .collect();
        StepsConfig {
            tasks: tasks as usize,
            steps,
        }
    }
}

impl KindConfig for StepsConfig {
    fn tasks(&self) -> usize {
        self.tasks
    }

    /// The steps' costs add up. The measured latency of real URLs is a whole task's time
    /// here, not one request's, so with real URLs the bound is unknown.
    fn cost(&self, calibration: &Calibration) -> Option<TaskCost> {
        let mut sum = TaskCost::waiting(0.0);
        for step in &self.steps {
            if step.cost_is_measured() {
                return None;
            }
            let s = step.cost(calibration)?;
            sum.cpu_s += s.cpu_s;
            sum.wait_s += s.wait_s;
            sum.locked_s += s.locked_s;
        }
        Some(sum)
    }

    fn hashes(&self) -> Option<u64> {
        self.steps
            .iter()
            .filter_map(WorkloadConfig::hashes)
            .reduce(|a, b| a + b)
    }

    fn needs_server(&self) -> bool {
        self.steps.iter().any(WorkloadConfig::needs_server)
    }

    fn shared_sync(&self) -> Option<CounterSync> {
        self.steps.iter().find_map(WorkloadConfig::shared_sync)
    }

    /// Task t of a steps workload is task t of each of its steps, in order.
    fn parts(&self, task: usize, env: &BuildEnv) -> Vec<Part> {
        self.steps.iter().flat_map(|s| s.parts(task, env)).collect()
    }

    fn build(&self, env: &BuildEnv) -> anyhow::Result<Arc<dyn Workload>> {
        Ok(Arc::new(Steps::new(self.clone(), env)?))
    }
}

pub struct Steps {
    config: WorkloadConfig,
    steps: Vec<Arc<dyn Workload>>,
    kinds: Vec<&'static str>,
}

impl Steps {
    pub fn new(c: StepsConfig, env: &BuildEnv) -> anyhow::Result<Steps> {
        let steps = c
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| s.build(env).with_context(|| format!("step {}", i + 1)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Steps {
            kinds: c.steps.iter().map(WorkloadConfig::kind).collect(),
            config: WorkloadConfig::Steps(c),
            steps,
        })
    }

    /// Step `step` of task `task` on this thread. Each step keeps its own per-thread state
    /// (two http steps with different timeouts must not share an agent).
    fn run_step_blocking(&self, step: usize, task: usize, worker: &mut Worker<'_>) -> TaskResult {
        let mut locals = match worker.local.take().map(|l| l.downcast::<StepLocals>()) {
            Some(Ok(locals)) => *locals,
            _ => StepLocals(self.steps.iter().map(|_| None).collect()),
        };
        worker.local = locals.0[step].take();
        let result = self.steps[step].run_blocking(task, worker);
        locals.0[step] = worker.local.take();
        worker.local = Some(Box::new(locals));
        result
    }

    /// Why step `step` failed, as its workload's verdict words it (`503`, `timeout`,
    /// `cancelled`).
    fn failure(&self, step: usize, output: &Output) -> String {
        let why = match output {
            Output::Http(h) => outcome_key(h),
            Output::Error(e) => e.clone(),
            _ => "failed".into(),
        };
        format!("step {} {}: {why}", step + 1, self.kinds[step])
    }

    /// The records of one step: each task's span with that step's result.
    fn step_records(&self, records: &[TaskRecord], step: usize) -> Vec<TaskRecord> {
        records
            .iter()
            .map(|r| TaskRecord {
                result: match &r.result.output {
                    Output::Steps(outputs) if step < outputs.len() => TaskResult {
                        ok: outputs[step].succeeded(),
                        output: outputs[step].clone(),
                    },
                    _ => TaskResult::error(format!("step {} has no result", step + 1)),
                },
                ..r.clone()
            })
            .collect()
    }

    /// What every task waits in its `sleep` and `mixed` steps together.
    fn waits(&self) -> std::time::Duration {
        let WorkloadConfig::Steps(c) = &self.config else {
            return std::time::Duration::ZERO;
        };
        c.steps
            .iter()
            .map(|s| match s {
                WorkloadConfig::Sleep(s) => s.duration,
                WorkloadConfig::Mixed(m) => m.duration,
                _ => std::time::Duration::ZERO,
            })
            .sum()
    }

    /// The verdict on tasks that failed, if any did: counts per failing step and reason.
    fn failed_tasks(&self, records: &[TaskRecord]) -> Option<Verdict> {
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for r in records.iter().filter(|r| !r.result.ok) {
            let reason = match &r.result.output {
                Output::Steps(outputs) => match outputs.iter().position(|o| !o.succeeded()) {
                    Some(step) => self.failure(step, &outputs[step]),
                    None => "failed".into(),
                },
                Output::Error(e) => e.clone(),
                _ => "failed".into(),
            };
            *reasons.entry(reason).or_default() += 1;
        }
        if reasons.is_empty() {
            return None;
        }
        let failed: usize = reasons.values().sum();
        let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{r}:{n}")).collect();
        Some(Verdict::fail(format!(
            "{failed} of {} tasks failed ({})",
            records.len(),
            reasons.join("; ")
        )))
    }
}

/// Each step's per-thread state, kept in the worker between tasks.
struct StepLocals(Vec<Option<Box<dyn Any + Send>>>);

/// Each step's per-repetition state on an event loop (its HTTP client): one worker per step.
struct StepWorkers(Vec<AsyncWorker>);

/// A task's step results so far; the task stops at the first step that fails, as a
/// program stops at the first call that raises.
struct Outputs {
    outputs: Vec<Output>,
    ok: bool,
}

impl Outputs {
    fn new(steps: usize) -> Outputs {
        Outputs {
            outputs: Vec::with_capacity(steps),
            ok: true,
        }
    }

    /// Records one step's result; false when the task must stop.
    fn push(&mut self, r: TaskResult) -> bool {
        // The output must tell failure from success on its own, as it crosses processes.
        let output = if r.ok || !r.output.succeeded() {
            r.output
        } else {
            Output::Error("failed".into())
        };
        self.ok &= r.ok;
        self.outputs.push(output);
        self.ok
    }

    /// A cancelled repetition stops between steps too.
    fn cancelled(mut self) -> TaskResult {
        self.push(TaskResult::cancelled());
        self.finish()
    }

    fn finish(self) -> TaskResult {
        TaskResult {
            ok: self.ok,
            output: Output::Steps(self.outputs),
        }
    }
}

impl Workload for Steps {
    fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    fn start_repetition(&self) {
        for s in &self.steps {
            s.start_repetition();
        }
    }

    /// The checker admits one counter step at most: a parent serves one counter.
    fn shared_store(&self) -> Option<&dyn CounterStore> {
        self.steps.iter().find_map(|s| s.shared_store())
    }

    fn run_blocking(&self, task: usize, worker: &mut Worker<'_>) -> TaskResult {
        let mut outputs = Outputs::new(self.steps.len());
        for step in 0..self.steps.len() {
            if worker.cancelled() {
                return outputs.cancelled();
            }
            if !outputs.push(self.run_step_blocking(step, task, worker)) {
                break;
            }
        }
        outputs.finish()
    }

    fn run_async<'a>(&'a self, task: usize, worker: &'a AsyncWorker) -> TaskFuture<'a> {
        Box::pin(async move {
            let workers = worker.local.get_or_init(|| {
                Box::new(StepWorkers(
                    self.steps.iter().map(|_| worker.sibling()).collect(),
                ))
            });
            let Some(StepWorkers(workers)) = workers.downcast_ref::<StepWorkers>() else {
                return TaskResult::error("no step workers");
            };
            let mut outputs = Outputs::new(self.steps.len());
            for (step, w) in self.steps.iter().zip(workers) {
                if worker.cancelled() {
                    return outputs.cancelled();
                }
                if !outputs.push(step.run_async(task, w).await) {
                    break;
                }
            }
            outputs.finish()
        })
    }

    /// Each step is a blocking call of its own: between them the task is back on the
    /// event loop and its thread is free for another task's step.
    fn run_to_thread<'a>(self: Arc<Self>, task: usize, to_thread: &'a ToThread) -> TaskFuture<'a> {
        Box::pin(async move {
            let mut outputs = Outputs::new(self.steps.len());
            for step in 0..self.steps.len() {
                if to_thread.cancelled() {
                    return outputs.cancelled();
                }
                let steps = self.clone();
                let result = to_thread
                    .call(move |worker| steps.run_step_blocking(step, task, worker))
                    .await;
                if !outputs.push(result) {
                    break;
                }
            }
            outputs.finish()
        })
    }

    /// Failed tasks first, by step and reason; then every step judged by its own
    /// workload: digests against each other and `expect`, the counter's final value, HTTP
    /// statuses.
    fn verify(&self, records: &[TaskRecord]) -> Verdict {
        if let Some(v) = self.failed_tasks(records) {
            return v;
        }
        // Each step's records carry the whole task's span: only the task can be held
        // to the sum of its waits.
        if let Some(v) = super::sleep::too_short(records, self.waits()) {
            return v;
        }
        let verdicts: Vec<Verdict> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| s.verify(&self.step_records(records, i)))
            .collect();
        combine(&self.kinds, verdicts)
    }
}

/// One verdict for the task from its steps': the worst check, every step's detail, and a
/// fingerprint of the steps' fingerprints (hash chains) that models must agree on.
fn combine(kinds: &[&str], verdicts: Vec<Verdict>) -> Verdict {
    let check = verdicts
        .iter()
        .map(|v| v.check)
        .max()
        .unwrap_or(Check::Pass);
    let mut all = Sha512::new();
    let mut fingerprinted = false;
    for (i, v) in verdicts.iter().enumerate() {
        if let Some(fp) = &v.fingerprint {
            all.update(format!("{}:{fp}\n", i + 1).as_bytes());
            fingerprinted = true;
        }
    }
    let fingerprint = fingerprinted.then(|| hex::encode(all.finalize())[..16].to_string());
    let steps: Vec<String> = verdicts
        .iter()
        .zip(kinds)
        .enumerate()
        .map(|(i, (v, kind))| format!("step {} {kind}: {}", i + 1, v.detail))
        .collect();
    // `digest …` leads, where the runner and the summary look for the fingerprint.
    let detail = match &fingerprint {
        Some(fp) => format!("digest {fp}; {}", steps.join("; ")),
        None => steps.join("; "),
    };
    Verdict {
        check,
        detail,
        fingerprint,
    }
}

#[cfg(test)]
mod tests;
