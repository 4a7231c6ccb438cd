//! A process pool whose children are killed or hang: the cell fails, the run never hangs.

// A test binary of its own, because the tests find the pool's children among this process's
// children, where any other test's workers would be confused with them.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use conclab::model::{Execution, ModelKind, process_pool, run_alone};
use conclab::workload::hash_chain::HashChainConfig;
use conclab::workload::{Cancel, Check, Output, Verdict, WorkloadConfig};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Long enough that a child is surely mid-task when the test acts on it.
fn long_chains(tasks: usize) -> WorkloadConfig {
    WorkloadConfig::HashChain(HashChainConfig {
        inputs: vec!["pass".into(), "a".into()],
        iterations: 400_000,
        tasks,
        expect: BTreeMap::new(),
    })
}

/// Starts a repetition on its own thread; the receiver yields its outcome.
fn start(
    config: WorkloadConfig,
    workers: usize,
    cancel: Cancel,
) -> mpsc::Receiver<(Execution, Verdict)> {
    process_pool::use_executable(env!("CARGO_BIN_EXE_conclab"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let alone = run_alone(ModelKind::ProcessPool, &config, workers, &cancel).unwrap();
        let (execution, verdict) = (alone.execution, alone.verdict);
        let _ = tx.send((execution, verdict));
    });
    rx
}

/// A child of this process, from /proc/PID/stat.
struct Child {
    pid: i32,
    state: char,
    cpu_ticks: u64,
}

fn children() -> Vec<Child> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses; the fields follow the last ')'.
        let Some(fields) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let fields: Vec<&str> = fields.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<i32>().ok()) != Some(me) {
            continue;
        }
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(0)
        };
        found.push(Child {
            pid,
            state: fields[0].chars().next().unwrap_or('?'),
            cpu_ticks: ticks(11) + ticks(12),
        });
    }
    found
}

/// Waits until a child has computed for a while (it is inside a task), and returns it.
fn busy_child() -> Child {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(c) = children().into_iter().find(|c| c.cpu_ticks >= 10) {
            return c;
        }
        assert!(Instant::now() < deadline, "no worker started computing");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn errors(execution: &Execution) -> Vec<String> {
    execution
        .records
        .iter()
        .filter_map(|r| match &r.result.output {
            Output::Error(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_killed_worker_fails_its_task_and_the_others_finish_the_rest() {
    let _alone = alone();
    let outcome = start(long_chains(4), 2, Cancel::new());
    let victim = busy_child();
    // Children hold only their three pipes.
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", victim.pid))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"]);
    // SAFETY: the pid is a live, unreaped child of this process (the pool reaps only
    // after it sees the pipe close).
    unsafe { libc::kill(victim.pid, libc::SIGKILL) };

    let (execution, verdict) = outcome
        .recv_timeout(Duration::from_secs(120))
        .expect("the pool hung after a worker was killed");
    assert_eq!(verdict.check, Check::Fail, "{verdict:?}");
    assert!(verdict.detail.contains("died (signal 9)"), "{verdict:?}");
    let errors = errors(&execution);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("worker ")
            && errors[0].contains(" died (signal 9) while running task "),
        "{errors:?}"
    );
    // Dynamic dispatch: the surviving worker took every task the dead one did not.
    assert_eq!(execution.records.len(), 4);
    assert!(children().is_empty(), "children left behind");
}

#[test]
fn a_hung_worker_is_killed_at_the_cancel() {
    let _alone = alone();
    let cancel = Cancel::new();
    let outcome = start(long_chains(2), 2, cancel.clone());
    let victim = busy_child();
    // SAFETY: as above; a stopped child never answers, like a hung one.
    unsafe { libc::kill(victim.pid, libc::SIGSTOP) };
    while children()
        .iter()
        .any(|c| c.pid == victim.pid && c.state != 'T')
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    // What the runner's timeout does.
    let cancelled_at = Instant::now();
    cancel.set();
    let (execution, verdict) = outcome
        .recv_timeout(Duration::from_secs(30))
        .expect("the pool hung on a stopped worker");
    assert!(cancelled_at.elapsed() < Duration::from_secs(5));
    assert_eq!(verdict.check, Check::Fail, "{verdict:?}");
    let errors = errors(&execution);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("cancelled; worker ")
                && e.contains(" killed while running task ")),
        "{errors:?}"
    );
    assert!(children().is_empty(), "children left behind");
}
