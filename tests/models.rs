//! Every model through the library API: process-pool digests, counter exactness, the GIL.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use conclab::measure::cpu_self;
use conclab::model::{Execution, ModelKind, process_pool, run_alone};
use conclab::workload::counter::{CounterConfig, CounterSync};
use conclab::workload::hash_chain::HashChainConfig;
use conclab::workload::sleep::SleepConfig;
use conclab::workload::{Cancel, Check, Verdict, WorkloadConfig};

const PASS_1000: &str = "e907f4045ca9cdf3db84faeae1d10edc5ff5d8f306045eaf3da545af7b06316842b503f620ba85debb21fe4ecceb2adb994fb158653a62925552202c2a057855";

/// One test at a time: the GIL test reads this process's CPU time, which any test running
/// beside it would add to.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

struct Run {
    execution: Execution,
    verdict: Verdict,
    wall: Duration,
}

fn run(kind: ModelKind, config: &WorkloadConfig, workers: usize) -> Run {
    process_pool::use_executable(env!("CARGO_BIN_EXE_conclab"));
    let alone = run_alone(kind, config, workers, &Cancel::new())
        .unwrap_or_else(|e| panic!("{kind}: {e:#}"));
    Run {
        execution: alone.execution,
        verdict: alone.verdict,
        wall: alone.wall,
    }
}

fn chains(iterations: u64, tasks: usize) -> WorkloadConfig {
    let inputs: Vec<String> = ["pass", "passwd", "MyPassw", "MyPasswd123", "p", "a"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut expect = BTreeMap::new();
    if iterations == 1000 {
        expect.insert("pass".to_string(), PASS_1000.to_string());
    }
    WorkloadConfig::HashChain(HashChainConfig {
        inputs,
        iterations,
        tasks,
        expect,
    })
}

fn counter(sync: CounterSync, tasks: usize) -> WorkloadConfig {
    WorkloadConfig::Counter(CounterConfig {
        tasks,
        wait: Duration::from_millis(2),
        sync,
        increments: 1,
    })
}

/// Many updates per task with nothing between the read and the write.
fn tight_counter(sync: CounterSync, tasks: usize, increments: u64) -> WorkloadConfig {
    WorkloadConfig::Counter(CounterConfig {
        tasks,
        wait: Duration::ZERO,
        sync,
        increments,
    })
}

#[test]
fn process_pool_digests_equal_sequential_and_the_reference() {
    let _serial = serial();
    let config = chains(1000, 6);
    let sequential = run(ModelKind::Sequential, &config, 1);
    assert_eq!(
        sequential.verdict.check,
        Check::Pass,
        "{:?}",
        sequential.verdict
    );
    for workers in [1, 2, 3] {
        let pool = run(ModelKind::ProcessPool, &config, workers);
        assert_eq!(pool.verdict.check, Check::Pass, "{:?}", pool.verdict);
        assert!(
            pool.verdict.detail.contains("1 expected digests match"),
            "{}",
            pool.verdict.detail
        );
        assert_eq!(pool.verdict.fingerprint, sequential.verdict.fingerprint);
        let records = &pool.execution.records;
        assert_eq!(records.len(), 6);
        let wall = pool.wall.as_secs_f64();
        for r in records {
            assert!(r.lane < workers, "lane {} of {workers}", r.lane);
            assert!(
                pool.execution.setup.as_secs_f64() <= r.start_s
                    && r.start_s <= r.end_s
                    && r.end_s <= wall,
                "span {}..{} outside setup {:?}..{wall}",
                r.start_s,
                r.end_s,
                pool.execution.setup
            );
        }
        assert!(pool.execution.children.is_some());
        assert!(pool.execution.children_peak_rss_kib.unwrap_or(0) > 0);
    }
}

#[test]
fn locked_and_atomic_counters_are_exact_under_every_model() {
    let _serial = serial();
    for kind in ModelKind::ALL {
        for sync in [CounterSync::Mutex, CounterSync::Atomic] {
            let r = run(kind, &counter(sync, 6), 3);
            assert_eq!(
                (r.verdict.check, r.verdict.detail.as_str()),
                (Check::Pass, "final=6 expected=6"),
                "{kind} {sync:?}"
            );
        }
    }
}

#[test]
fn every_increment_counts_and_without_a_wait_only_the_lock_or_the_atomic_keeps_them() {
    let _serial = serial();
    for kind in ModelKind::ALL {
        for sync in [CounterSync::Mutex, CounterSync::Atomic] {
            let r = run(kind, &tight_counter(sync, 4, 500), 4);
            assert_eq!(
                (r.verdict.check, r.verdict.detail.as_str()),
                (Check::Pass, "final=2000 expected=2000"),
                "{kind} {sync:?}"
            );
        }
        let r = run(kind, &tight_counter(CounterSync::None, 4, 500), 4);
        assert!(
            matches!(r.verdict.check, Check::Race | Check::Pass)
                && r.verdict.detail.contains("expected=2000"),
            "{kind}: {:?}",
            r.verdict
        );
    }
    // An interpreter lock that switches only every 5 ms keeps a tight loop's updates whole,
    // as CPython's GIL does; two threads on two cores without one do not, given enough.
    let gil = run(
        ModelKind::GilThreads,
        &tight_counter(CounterSync::None, 2, 200_000),
        2,
    );
    assert_eq!(gil.verdict.check, Check::Pass, "{:?}", gil.verdict);
}

#[test]
fn an_unsynchronised_counter_is_recorded_as_a_race_or_a_pass() {
    let _serial = serial();
    for kind in ModelKind::ALL {
        let r = run(kind, &counter(CounterSync::None, 6), 3);
        assert!(
            matches!(r.verdict.check, Check::Race | Check::Pass),
            "{kind}: {:?}",
            r.verdict
        );
        assert!(r.verdict.detail.starts_with("final="), "{:?}", r.verdict);
    }
}

#[test]
fn a_locked_counter_serialises_the_waits() {
    let _serial = serial();
    // Six 2 ms waits under one lock cannot overlap, whatever the model's concurrency.
    for kind in [
        ModelKind::ThreadPool,
        ModelKind::ProcessPool,
        ModelKind::GilThreads,
        ModelKind::AsyncToThread,
    ] {
        let r = run(kind, &counter(CounterSync::Mutex, 6), 6);
        let spans = &r.execution.records;
        let first = spans
            .iter()
            .map(|s| s.start_s)
            .fold(f64::INFINITY, f64::min);
        let last = spans.iter().map(|s| s.end_s).fold(0.0, f64::max);
        assert!(last - first >= 0.012, "{kind}: {first}..{last}");
    }
}

#[test]
fn gil_threads_give_cpu_work_no_speedup() {
    let _serial = serial();
    let config = chains(40_000, 4);
    let timed = |kind| {
        let cpu = cpu_self();
        let r = run(kind, &config, 2);
        assert_eq!(r.verdict.check, Check::Pass, "{kind}: {:?}", r.verdict);
        let used = cpu_self().since(cpu);
        (r.wall.as_secs_f64(), used.user_s + used.sys_s)
    };
    // Each round compares runs made back to back, and the median round decides: the
    // speed of a shared machine's cores drifts too much for one pair to.
    let mut rounds: Vec<(f64, f64)> = (0..3)
        .map(|_| {
            let (sequential, _) = timed(ModelKind::Sequential);
            let (gil, gil_cpu) = timed(ModelKind::GilThreads);
            (sequential / gil, gil_cpu / gil)
        })
        .collect();
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (speedup, _) = rounds[1];
    assert!(
        speedup < 1.3,
        "gil_threads ran {speedup:.2}x faster than sequential: {rounds:?}"
    );
    // One core at a time: CPU time cannot exceed wall time by much.
    let cores_used = rounds.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    assert!(cores_used < 1.3, "{cores_used:.2} cores busy: {rounds:?}");
}

#[test]
fn gil_threads_overlap_waits() {
    let _serial = serial();
    let config = WorkloadConfig::Sleep(SleepConfig {
        tasks: 20,
        duration: Duration::from_millis(20),
    });
    let r = run(ModelKind::GilThreads, &config, 20);
    assert_eq!(r.verdict.check, Check::Pass, "{:?}", r.verdict);
    // Serial would be 400 ms; the lock is released around every wait.
    assert!(r.wall < Duration::from_millis(200), "{:?}", r.wall);
}

#[test]
fn every_model_runs_the_counter_and_the_chains() {
    let _serial = serial();
    for kind in ModelKind::ALL {
        let r = run(kind, &chains(1000, 3), 2);
        assert_eq!(r.verdict.check, Check::Pass, "{kind}: {:?}", r.verdict);
        assert_eq!(r.execution.records.len(), 3, "{kind}");
    }
}

/// How many rounds of task spans a run took: its extent over one task's (median) time.
fn rounds(run: &Run) -> f64 {
    let spans = &run.execution.records;
    let first = spans
        .iter()
        .map(|s| s.start_s)
        .fold(f64::INFINITY, f64::min);
    let last = spans.iter().map(|s| s.end_s).fold(0.0, f64::max);
    let mut lengths: Vec<f64> = spans.iter().map(|s| s.end_s - s.start_s).collect();
    lengths.sort_by(f64::total_cmp);
    (last - first) / lengths[lengths.len() / 2]
}

fn lanes(run: &Run) -> std::collections::BTreeSet<usize> {
    run.execution.records.iter().map(|r| r.lane).collect()
}

#[test]
fn async_to_thread_waits_on_its_w_threads() {
    let _serial = serial();
    let sleeps = WorkloadConfig::Sleep(SleepConfig {
        tasks: 10,
        duration: Duration::from_millis(100),
    });
    // Ten threads: one round of 0.1 s; two threads: five rounds (0.5 s). Judged by the
    // spans, whose rounds a slow machine stretches alike, with wide margins.
    let wide = run(ModelKind::AsyncToThread, &sleeps, 10);
    assert_eq!(wide.verdict.check, Check::Pass, "{:?}", wide.verdict);
    assert!(rounds(&wide) < 2.0, "{} rounds at w=10", rounds(&wide));
    assert_eq!(lanes(&wide).len(), 10, "every call on a thread of its own");
    let narrow = run(ModelKind::AsyncToThread, &sleeps, 2);
    assert_eq!(narrow.verdict.check, Check::Pass, "{:?}", narrow.verdict);
    assert!(
        (3.5..8.0).contains(&rounds(&narrow)),
        "{} rounds at w=2",
        rounds(&narrow)
    );
    assert_eq!(
        lanes(&narrow),
        [0, 1].into(),
        "the lanes are the two threads"
    );
    // Spans are time on the threads: two run at any moment.
    for r in &narrow.execution.records {
        let overlapping = narrow
            .execution
            .records
            .iter()
            .filter(|o| o.start_s < r.end_s - 0.01 && r.start_s < o.end_s - 0.01)
            .count();
        assert!(
            overlapping <= 2,
            "task {} overlaps {overlapping} spans",
            r.task
        );
    }
}

#[test]
fn async_to_thread_runs_every_workload() {
    let _serial = serial();
    let r = run(ModelKind::AsyncToThread, &chains(1000, 6), 3);
    assert_eq!(r.verdict.check, Check::Pass, "{:?}", r.verdict);
    assert!(
        r.verdict.detail.contains("1 expected digests match"),
        "{}",
        r.verdict.detail
    );
    assert_eq!(
        r.verdict.fingerprint,
        run(ModelKind::Sequential, &chains(1000, 6), 1)
            .verdict
            .fingerprint
    );
    let mixed = WorkloadConfig::Mixed(conclab::workload::mixed::MixedConfig {
        tasks: 4,
        iterations: 500,
        duration: Duration::from_millis(5),
    });
    let r = run(ModelKind::AsyncToThread, &mixed, 2);
    assert_eq!(r.verdict.check, Check::Pass, "{:?}", r.verdict);
    // The counter's wait runs on the threads: unlocked, two at a time lose updates.
    let raced = run(ModelKind::AsyncToThread, &counter(CounterSync::None, 6), 2);
    assert_eq!(raced.verdict.check, Check::Race, "{:?}", raced.verdict);
    let server = conclab::server::ServerChild::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_conclab")),
        &conclab::server::ServerConfig::default(),
    )
    .unwrap();
    let http = WorkloadConfig::Http(conclab::workload::http::HttpConfig {
        tasks: 6,
        urls: None,
        latency: Duration::from_millis(20),
        jitter: Duration::ZERO,
        body_bytes: 16,
        error_rate: 0.0,
        request_timeout: Duration::from_secs(10),
        http2: false,
    });
    let env = conclab::workload::BuildEnv {
        server_url: Some(server.base_url().to_string()),
    };
    let workload = http.build(&env).unwrap();
    let alone =
        conclab::model::run_workload(ModelKind::AsyncToThread, &workload, 3, &Cancel::new())
            .unwrap();
    assert_eq!(
        (alone.verdict.check, alone.verdict.detail.as_str()),
        (Check::Pass, "200:6")
    );
}

#[test]
fn every_model_runs_a_task_made_of_steps() {
    let _serial = serial();
    let WorkloadConfig::HashChain(chain) = chains(1000, 4) else {
        unreachable!()
    };
    let config = WorkloadConfig::Steps(conclab::workload::steps::StepsConfig {
        tasks: 4,
        steps: vec![
            WorkloadConfig::Sleep(SleepConfig {
                tasks: 4,
                duration: Duration::from_millis(2),
            }),
            WorkloadConfig::HashChain(chain),
            counter(CounterSync::Mutex, 4),
        ],
    });
    let mut fingerprints = std::collections::BTreeSet::new();
    for kind in ModelKind::ALL {
        let r = run(kind, &config, 2);
        assert_eq!(r.verdict.check, Check::Pass, "{kind}: {:?}", r.verdict);
        for part in [
            "step 1 sleep: 4 of 4 tasks finished",
            "(1 expected digests match)",
            "step 3 counter: final=4 expected=4",
        ] {
            assert!(
                r.verdict.detail.contains(part),
                "{kind}: {}",
                r.verdict.detail
            );
        }
        assert_eq!(r.execution.records.len(), 4, "{kind}");
        fingerprints.insert(r.verdict.fingerprint.clone().unwrap());
    }
    assert_eq!(
        fingerprints.len(),
        1,
        "every model reaches the same digests"
    );
}
