//! The `steps` workload: every task runs a list of steps (sleep, http, hash_chain, counter)
//! one after another, each step the task of its own kind's workload.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

use super::http::outcome_key;
use super::{
    AsyncWorker, BuildEnv, Check, CounterStore, Output, TaskFuture, TaskRecord, TaskResult,
    ToThread, Verdict, Worker, Workload, WorkloadConfig,
};
use crate::experiment::params::{self, ParamValue, Params, ParamsExt, fill_defaults};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepsConfig {
    pub tasks: usize,
    /// Each step as the workload of its kind, with the same `tasks`: task `t` runs task
    /// `t` of every step, so a step meets what a workload of its kind would (the same
    /// input of a hash chain, the same delay and status of a request).
    pub steps: Vec<WorkloadConfig>,
}

impl StepsConfig {
    pub fn from_params(p: &Params) -> StepsConfig {
        let tasks = p.count("tasks");
        let steps = p
            .steps("steps")
            .into_iter()
            .map(|mut step| {
                let kind = params::kind(&step.kind).expect("the checker admits only known kinds");
                step.params.insert("tasks".into(), ParamValue::Int(tasks));
                fill_defaults(kind, &mut step.params);
                WorkloadConfig::from_params(&step.kind, &step.params)
            })
            .collect();
        StepsConfig {
            tasks: tasks as usize,
            steps,
        }
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
    fn shared_counter(&self) -> Option<&dyn CounterStore> {
        self.steps.iter().find_map(|s| s.shared_counter())
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
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{ModelKind, run_alone};
    use crate::workload::Cancel;
    use crate::workload::counter::{CounterConfig, CounterSync};
    use crate::workload::hash_chain::HashChainConfig;
    use crate::workload::http::HttpOutcome;
    use crate::workload::sleep::SleepConfig;

    const PASS_1000: &str = "e907f4045ca9cdf3db84faeae1d10edc5ff5d8f306045eaf3da545af7b06316842b503f620ba85debb21fe4ecceb2adb994fb158653a62925552202c2a057855";

    fn chain(tasks: usize, expect: &str) -> WorkloadConfig {
        WorkloadConfig::HashChain(HashChainConfig {
            inputs: vec!["pass".into()],
            iterations: 1000,
            tasks,
            expect: [("pass".to_string(), expect.to_string())].into(),
        })
    }

    fn sleep(tasks: usize, ms: u64) -> WorkloadConfig {
        WorkloadConfig::Sleep(SleepConfig {
            tasks,
            duration: Duration::from_millis(ms),
        })
    }

    fn counter(tasks: usize, sync: CounterSync) -> WorkloadConfig {
        WorkloadConfig::Counter(CounterConfig {
            tasks,
            wait: Duration::from_millis(2),
            sync,
        })
    }

    fn steps(tasks: usize, steps: Vec<WorkloadConfig>) -> WorkloadConfig {
        WorkloadConfig::Steps(StepsConfig { tasks, steps })
    }

    fn record(task: usize, outputs: Vec<Output>) -> TaskRecord {
        TaskRecord {
            task,
            lane: 0,
            start_s: 0.0,
            end_s: 0.0,
            result: TaskResult {
                ok: outputs.iter().all(Output::succeeded),
                output: Output::Steps(outputs),
            },
        }
    }

    fn built(config: &WorkloadConfig) -> Arc<dyn Workload> {
        config.build(&BuildEnv::default()).unwrap()
    }

    #[test]
    fn every_step_is_verified_by_its_own_workload() {
        let config = steps(
            3,
            vec![
                sleep(3, 1),
                chain(3, PASS_1000),
                counter(3, CounterSync::Mutex),
            ],
        );
        let alone = run_alone(ModelKind::Sequential, &config, 1, &Cancel::new()).unwrap();
        for r in &alone.execution.records {
            assert_eq!(
                r.result.output,
                Output::Steps(vec![
                    Output::Done,
                    Output::Digest(PASS_1000.into()),
                    Output::Done
                ])
            );
        }
        let chain_alone = run_alone(
            ModelKind::Sequential,
            &chain(3, PASS_1000),
            1,
            &Cancel::new(),
        )
        .unwrap();
        let chain_fp = chain_alone.verdict.fingerprint.unwrap();
        let v = alone.verdict;
        assert_eq!(v.check, Check::Pass, "{v:?}");
        let fp = v.fingerprint.clone().unwrap();
        assert_eq!(
            v.detail,
            format!(
                "digest {fp}; step 1 sleep: 3 of 3 tasks finished; step 2 hash_chain: digest {chain_fp} (1 expected digests match); step 3 counter: final=3 expected=3"
            )
        );
        assert_eq!(
            crate::results::digests::fingerprint_of(&v.detail),
            Some(fp.as_str()),
            "the runner finds the fingerprint where it looks"
        );
    }

    #[test]
    fn a_wrong_digest_or_a_race_in_one_step_is_the_tasks_verdict() {
        let config = steps(2, vec![chain(2, &"0".repeat(128)), sleep(2, 1)]);
        let v = run_alone(ModelKind::ThreadPool, &config, 2, &Cancel::new())
            .unwrap()
            .verdict;
        assert_eq!(v.check, Check::Fail, "{v:?}");
        assert!(
            v.detail
                .contains("step 1 hash_chain: input \"pass\": got e907f4045ca9cdf3… expected 0000"),
            "{}",
            v.detail
        );
        let config = steps(6, vec![sleep(6, 1), counter(6, CounterSync::None)]);
        let v = run_alone(ModelKind::Threads, &config, 6, &Cancel::new())
            .unwrap()
            .verdict;
        assert_eq!(v.check, Check::Race, "{v:?}");
        assert!(v.detail.contains("step 2 counter: final="), "{}", v.detail);
        assert_eq!(v.fingerprint, None);
    }

    #[test]
    fn a_failing_step_ends_its_task_and_names_itself() {
        let http = WorkloadConfig::Http(crate::workload::http::HttpConfig {
            tasks: 3,
            urls: Some(vec!["http://127.0.0.1:9/".into()]),
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            body_bytes: 0,
            error_rate: 0.0,
            request_timeout: Duration::from_secs(1),
            http2: false,
        });
        let workload = built(&steps(3, vec![chain(3, PASS_1000), http]));
        let answer = |status: u16, error: Option<&str>| {
            Output::Http(HttpOutcome {
                status: Some(status),
                bytes: 0,
                latency_s: 0.0,
                error: error.map(String::from),
            })
        };
        let digest = || Output::Digest(PASS_1000.into());
        let records = [
            record(0, vec![digest(), answer(200, None)]),
            record(1, vec![Output::Error("cancelled".into())]),
            record(2, vec![digest(), answer(503, Some("status"))]),
        ];
        let v = workload.verify(&records);
        assert_eq!(v.check, Check::Fail);
        assert_eq!(
            v.detail,
            "2 of 3 tasks failed (step 1 hash_chain: cancelled:1; step 2 http: 503:1)"
        );
        // A task that never ran (a timeout) keeps its own reason.
        let missing = TaskRecord {
            result: TaskResult::error("not run: timeout"),
            ..records[0].clone()
        };
        assert_eq!(
            workload.verify(&[missing]).detail,
            "1 of 1 tasks failed (not run: timeout:1)"
        );
        assert!(!Output::Steps(vec![digest(), answer(503, Some("status"))]).succeeded());
        assert!(Output::Steps(vec![Output::Done, digest()]).succeeded());
    }

    #[test]
    fn a_cancelled_task_stops_between_steps() {
        let workload = built(&steps(1, vec![sleep(1, 1), sleep(1, 1)]));
        let cancel = Cancel::new();
        cancel.set();
        let mut worker = Worker::new(0, &cancel);
        let r = workload.run_blocking(0, &mut worker);
        assert!(!r.ok);
        assert_eq!(
            r.output,
            Output::Steps(vec![Output::Error("cancelled".into())])
        );
    }

    /// A step that keeps its number in the worker's state and fails if it finds another's.
    struct Probe(usize, WorkloadConfig);

    impl Workload for Probe {
        fn config(&self) -> &WorkloadConfig {
            &self.1
        }
        fn run_blocking(&self, _task: usize, worker: &mut Worker<'_>) -> TaskResult {
            let seen = worker.local.get_or_insert_with(|| Box::new(self.0));
            match seen.downcast_ref::<usize>() {
                Some(n) if *n == self.0 => TaskResult::done(),
                other => TaskResult::error(format!("step {} found {other:?}", self.0)),
            }
        }
        fn run_async<'a>(&'a self, _task: usize, _worker: &'a AsyncWorker) -> TaskFuture<'a> {
            Box::pin(async { TaskResult::done() })
        }
        fn verify(&self, _records: &[TaskRecord]) -> Verdict {
            Verdict::pass("")
        }
    }

    #[test]
    fn each_step_keeps_its_own_thread_state() {
        let probes: Vec<Arc<dyn Workload>> = (0..3)
            .map(|n| Arc::new(Probe(n, sleep(2, 0))) as Arc<dyn Workload>)
            .collect();
        let workload = Steps {
            config: steps(2, vec![sleep(2, 0); 3]),
            steps: probes,
            kinds: vec!["sleep"; 3],
        };
        let cancel = Cancel::new();
        let mut worker = Worker::new(0, &cancel);
        for task in 0..2 {
            let r = workload.run_blocking(task, &mut worker);
            assert!(r.ok, "{r:?}");
        }
    }
}
