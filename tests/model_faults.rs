//! Workloads that panic or ignore their cancel: every model records a panicking task with
//! its message, and the supervisor bounds the wait for a model that panics or hangs.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use conclab::experiment::ModelSettings;
use conclab::model::supervisor::{OwnedJob, supervise};
use conclab::model::{ModelKind, run_workload};
use conclab::workload::sleep::SleepConfig;
use conclab::workload::{
    AsyncWorker, BuildEnv, Cancel, Output, TaskFuture, TaskRecord, TaskResult, Verdict, Worker,
    Workload, WorkloadConfig,
};

/// What the test workload does wrong.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// Task 1 panics, blocking and async alike.
    PanickingTask,
    /// The model itself panics: asking the workload how many tasks it has.
    PanickingModel,
    /// Every task sleeps 3 s without looking at its cancel.
    DeafToCancel,
}

struct Faulty {
    config: WorkloadConfig,
    fault: Fault,
}

fn faulty(fault: Fault) -> Arc<dyn Workload> {
    Arc::new(Faulty {
        config: WorkloadConfig::Sleep(SleepConfig {
            tasks: 4,
            duration: Duration::ZERO,
        }),
        fault,
    })
}

impl Faulty {
    fn task(&self, task: usize) -> TaskResult {
        match self.fault {
            Fault::PanickingTask if task == 1 => panic!("boom in task {task}"),
            Fault::DeafToCancel => std::thread::sleep(Duration::from_secs(3)),
            _ => {}
        }
        TaskResult::done()
    }
}

impl Workload for Faulty {
    fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    fn tasks(&self) -> usize {
        if self.fault == Fault::PanickingModel {
            panic!("no idea how many tasks");
        }
        4
    }

    fn run_blocking(&self, task: usize, _worker: &mut Worker<'_>) -> TaskResult {
        self.task(task)
    }

    fn run_async<'a>(&'a self, task: usize, _worker: &'a AsyncWorker) -> TaskFuture<'a> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            self.task(task)
        })
    }

    fn verify(&self, records: &[TaskRecord]) -> Verdict {
        match records.iter().find(|r| !r.result.ok) {
            Some(r) => Verdict::fail(format!("task {} failed", r.task)),
            None => Verdict::pass("ok"),
        }
    }
}

fn error_of(r: &TaskRecord) -> &str {
    match &r.result.output {
        Output::Error(e) => e,
        _ => "",
    }
}

#[test]
fn a_panicking_task_is_a_failed_task_with_its_message_in_every_in_process_model() {
    let workload = faulty(Fault::PanickingTask);
    for kind in [
        ModelKind::Sequential,
        ModelKind::Threads,
        ModelKind::ThreadPool,
        ModelKind::Rayon,
        ModelKind::GilThreads,
        ModelKind::Async,
        ModelKind::AsyncPool,
        ModelKind::AsyncBlocking,
        ModelKind::AsyncToThread,
    ] {
        let alone = run_workload(kind, &workload, 2, &Cancel::new())
            .unwrap_or_else(|e| panic!("{kind}: {e:#}"));
        let records = &alone.execution.records;
        let tasks: Vec<usize> = records.iter().map(|r| r.task).collect();
        assert_eq!(tasks, [0, 1, 2, 3], "{kind}: every task has its record");
        assert_eq!(error_of(&records[1]), "panicked: boom in task 1", "{kind}");
        assert!(
            records.iter().filter(|r| r.task != 1).all(|r| r.result.ok),
            "{kind}: the other tasks still ran"
        );
        assert_eq!(alone.verdict.detail, "task 1 failed", "{kind}");
    }
}

fn owned(workload: Arc<dyn Workload>) -> OwnedJob {
    OwnedJob {
        workload,
        workers: 2,
        settings: ModelSettings::default(),
        cancel: Cancel::new(),
        epoch: Instant::now(),
        env: BuildEnv::default(),
        phases: None,
    }
}

#[test]
fn a_model_that_panics_fails_at_once_with_the_message_not_at_the_timeout() {
    for kind in [
        ModelKind::Sequential,
        ModelKind::ThreadPool,
        ModelKind::Async,
        ModelKind::AsyncToThread,
    ] {
        let started = Instant::now();
        let s = supervise(
            kind,
            owned(faulty(Fault::PanickingModel)),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        // Generous: a panic is reported in microseconds; the timeout is a minute.
        assert!(started.elapsed() < Duration::from_secs(20), "{kind}");
        let e = format!("{:#}", s.result.unwrap_err());
        assert_eq!(
            e,
            format!("the {kind} model panicked: no idea how many tasks")
        );
        assert!(!s.timed_out && !s.abandoned);
    }
}

#[test]
fn the_timeout_bounds_the_wait_for_a_model_that_ignores_its_cancel() {
    let started = Instant::now();
    let s = supervise(
        ModelKind::Sequential,
        owned(faulty(Fault::DeafToCancel)),
        Duration::from_millis(100),
        Duration::from_millis(200),
    );
    // The task sleeps 3 s after the cancel; the supervisor leaves after 0.3 s.
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert!(s.timed_out && s.abandoned);
    let e = format!("{:#}", s.result.unwrap_err());
    assert_eq!(
        e,
        "timeout after 100ms; the sequential model did not stop within 200ms of its cancel and was left running"
    );
}

#[test]
fn a_model_that_stops_at_its_cancel_is_not_abandoned() {
    let sleeps: Arc<dyn Workload> = WorkloadConfig::Sleep(SleepConfig {
        tasks: 2,
        duration: Duration::from_secs(5),
    })
    .build(&BuildEnv::default())
    .unwrap();
    let s = supervise(
        ModelKind::ThreadPool,
        owned(sleeps),
        Duration::from_millis(100),
        Duration::from_secs(10),
    );
    assert!(s.timed_out && !s.abandoned);
    let execution = s.result.unwrap();
    assert!(execution.records.iter().all(|r| error_of(r) == "cancelled"));
}

/// A pool of 3,000 threads under a limit of 200 processes (threads count) for the user:
/// the pool's cell fails with the OS's reason, promptly, and the next cells still run.
/// The limit binds only an unprivileged user, so the run is started as `nobody`; without
/// root to do that the test has nothing to show and says so.
#[test]
fn a_pool_that_cannot_start_its_threads_fails_its_cell_with_the_os_reason() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to start conclab as another user under a process limit");
        return;
    }
    let lab = common::Lab::new();
    // `nobody` must reach the lab and the binary: a copy of it inside.
    std::fs::set_permissions(lab.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let exe = lab.path().join("conclab");
    std::fs::copy(assert_cmd::cargo::cargo_bin("conclab"), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    lab.write(
        "big.toml",
        "repetitions = 1\ntimeout = \"30s\"\n[workload]\nkind = \"sleep\"\ntasks = 4\nduration = \"1ms\"\n[matrix]\nmodel = [\"thread_pool\", \"gil_threads\", \"rayon\", \"async_to_thread\", \"sequential\"]\nworkers = [3000]\n",
    );
    let mut command = std::process::Command::new(&exe);
    command
        .args(["run", "big.toml", "--out", "results", "-q", "--no-charts"])
        .current_dir(lab.path())
        .uid(65534)
        .gid(65534)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe and touches only the child being started.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 200,
                rlim_max: 200,
            };
            if libc::setrlimit(libc::RLIMIT_NPROC, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the run hung after a pool could not start its threads");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let runs = lab.csv("results/big/runs.csv");
    assert_eq!(
        runs.column("model"),
        [
            "thread_pool",
            "gil_threads",
            "rayon",
            "async_to_thread",
            "sequential"
        ]
    );
    assert_eq!(
        runs.column("check"),
        ["fail", "fail", "fail", "fail", "pass"]
    );
    for detail in &runs.column("detail")[..4] {
        assert!(
            detail.contains("Resource temporarily unavailable (os error 11)"),
            "{detail}"
        );
    }
    assert!(
        runs.column("detail")[0].contains("of a pool of 3000: cannot start a thread"),
        "{:?}",
        runs.column("detail")
    );
}
