//! Tests of the `steps` workload: running, verifying and keeping each step's state.

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
        increments: 1,
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

#[test]
fn a_task_shorter_than_its_waits_together_fails() {
    let workload = built(&steps(1, vec![sleep(1, 20), sleep(1, 30)]));
    let mut r = record(0, vec![Output::Done, Output::Done]);
    r.end_s = 0.045;
    let v = workload.verify(std::slice::from_ref(&r));
    assert_eq!(v.check, Check::Fail);
    assert!(v.detail.contains("waited less than 50ms"), "{}", v.detail);
    r.end_s = 0.05;
    assert_eq!(workload.verify(&[r]).check, Check::Pass);
}
