//! `process_pool`: W child processes of the conclab executable, fed tasks over pipes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::descriptor::{Descriptor, Rgb, RustModel, Workers, pool};
use super::protocol::{self, LineReader, Stop, monotonic_ns, quote_line};
use super::{Execution, Job, Scheduler, run_task, spawn_scoped};
use crate::child::{ChildProcess, Exit};
use crate::measure::CpuTimes;
use crate::workload::{
    BuildEnv, Cancel, CounterOp, CounterStore, TaskHooks, TaskRecord, TaskResult, Worker,
    WorkloadConfig,
};

pub static MODEL: RustModel = RustModel {
    about: Descriptor::conclab(Workers::Taken, pool, Rgb(0, 114, 178)),
    scheduler: &ProcessPool,
};

pub struct ProcessPool;

// The protocol is one JSON object per line on the child's stdin and stdout. The parent
// writes `start` (workload configuration, build environment, lane, the clock's epoch), then
// one `run` per task as the child frees up; the child answers `ready` once, then `done` with
// each task's record. While a task runs, the child may `call` the parent with a counter
// operation and block until the `reply`: the parent holds the one shared counter, like a
// Python manager process. Closing the child's stdin tells it to exit.

/// Parent to child.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ToWorker {
    Start(Start),
    Run {
        task: usize,
    },
    /// The answer to the child's last `call`.
    Reply(Result<u64, String>),
}

#[derive(Debug, Serialize, Deserialize)]
struct Start {
    lane: usize,
    config: WorkloadConfig,
    env: BuildEnv,
    /// The parent's epoch on CLOCK_MONOTONIC, which both processes read: the child
    /// records task spans on the parent's time line directly.
    epoch_monotonic_ns: u64,
}

/// Child to parent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FromWorker {
    Ready,
    /// The workload could not be built.
    Failed(String),
    Call(CounterOp),
    Done(TaskRecord),
}

static EXECUTABLE: OnceLock<PathBuf> = OnceLock::new();

/// Makes pools start `path` (a conclab executable) rather than `$CONCLAB_EXE` or the current
/// executable; for tests and programs that embed the library. The first call wins.
pub fn use_executable(path: impl Into<PathBuf>) {
    let _ = EXECUTABLE.set(path.into());
}

/// The conclab executable that child processes (pool workers, the embedded server) run.
pub fn executable() -> anyhow::Result<PathBuf> {
    if let Some(path) = EXECUTABLE.get() {
        return Ok(path.clone());
    }
    if let Some(path) = std::env::var_os("CONCLAB_EXE") {
        return Ok(path.into());
    }
    std::env::current_exe().context("cannot find the conclab executable to start workers")
}

/// How long a child that was told to stop may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

impl Scheduler for ProcessPool {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        let exe = executable()?;
        let tasks = job.workload.tasks();
        let epoch_monotonic_ns = protocol::monotonic_ns_at(job.epoch);
        let store = job.workload.shared_store();
        let next = AtomicUsize::new(0);
        let gate = StartGate::default();
        let (setup, outcomes) = std::thread::scope(|scope| {
            let mut feeders = Vec::with_capacity(job.workers);
            let mut spawn_error = None;
            for lane in 0..job.workers {
                let (exe, next, gate) = (&exe, &next, &gate);
                let start = Start {
                    lane,
                    config: job.workload.config().clone(),
                    env: job.env.clone(),
                    epoch_monotonic_ns,
                };
                // Each feeder starts its own child: spawning suspends the calling thread
                // until the child has exec'd, so one thread per child overlaps the execs.
                let feeder = spawn_scoped(scope, format!("feed-{lane}"), move || {
                    let started = WorkerProcess::start(exe, start, job.cancel);
                    let (mut process, ok) = match started {
                        Ok(process) => (process, gate.arrive(None)),
                        Err(e) => (None, gate.arrive(Some(e))),
                    };
                    let records = match (&mut process, ok) {
                        (Some(process), true) => feed(process, next, tasks, store, job),
                        _ => Vec::new(),
                    };
                    // Reaped here, so the children's exits overlap too.
                    let exit = process.map(|mut p| p.reap(EXIT_GRACE).clone());
                    (records, exit)
                });
                match feeder {
                    Ok(f) => feeders.push(f),
                    Err(e) => {
                        spawn_error = Some(e);
                        break;
                    }
                }
            }
            let opened = gate.wait_all(feeders.len(), spawn_error);
            let outcomes: Vec<_> = feeders.into_iter().map(|f| f.join()).collect();
            opened.map(|at| (at.saturating_duration_since(job.epoch), outcomes))
        })?;

        let mut records = Vec::with_capacity(tasks);
        let mut children = CpuTimes::default();
        let mut peak_rss_kib = 0;
        for outcome in outcomes {
            // A feeder that panicked loses its records: its tasks are reported as not run.
            let Ok((done, exit)) = outcome else {
                continue;
            };
            records.extend(done);
            if let Some(exit) = exit {
                children = children.plus(exit.usage);
                peak_rss_kib = peak_rss_kib.max(exit.peak_rss_kib);
            }
        }
        let taken = next.load(Ordering::Relaxed).min(tasks);
        if taken < tasks && !job.cancel.is_set() {
            let at = job.epoch.elapsed().as_secs_f64();
            records.extend((taken..tasks).map(|task| TaskRecord {
                task,
                lane: 0,
                start_s: at,
                end_s: at,
                result: TaskResult::error("not run: every worker of the pool died"),
            }));
        }
        Ok(Execution {
            setup,
            records,
            children: Some(children),
            children_peak_rss_kib: Some(peak_rss_kib),
            ..Default::default()
        })
    }
}

/// Where the feeders wait until every child is ready, so that no task is sent to a pool
/// that failed to start, and the pool's start-up can be timed.
#[derive(Default)]
struct StartGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    arrived: usize,
    /// Set once every feeder thread is spawned.
    expected: Option<usize>,
    failure: Option<anyhow::Error>,
    /// When the last child was ready: the end of the pool's start-up.
    opened: Option<Instant>,
}

impl StartGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A feeder's child is ready (or failed to start); waits for the others, and says
    /// whether the whole pool started.
    fn arrive(&self, failure: Option<anyhow::Error>) -> bool {
        let mut state = self.lock();
        state.arrived += 1;
        if state.failure.is_none() {
            state.failure = failure;
        }
        if state.expected == Some(state.arrived) {
            state.opened = Some(Instant::now());
        }
        self.changed.notify_all();
        while state.expected != Some(state.arrived) {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.failure.is_none()
    }

    /// Called once all `feeders` are spawned; returns when every one has arrived, with
    /// the moment the last did.
    fn wait_all(&self, feeders: usize, failure: Option<anyhow::Error>) -> anyhow::Result<Instant> {
        let mut state = self.lock();
        state.expected = Some(feeders);
        if state.arrived == feeders {
            state.opened = Some(Instant::now());
        }
        if failure.is_some() {
            state.failure = failure;
        }
        self.changed.notify_all();
        while state.arrived != feeders {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        match state.failure.take() {
            Some(e) => Err(e),
            None => Ok(state.opened.unwrap_or_else(Instant::now)),
        }
    }
}

/// Sends `process` the next untaken task until none is left, its child is lost, or the
/// repetition is cancelled.
fn feed(
    process: &mut WorkerProcess,
    next: &AtomicUsize,
    tasks: usize,
    store: Option<&dyn CounterStore>,
    job: &Job<'_>,
) -> Vec<TaskRecord> {
    let mut records = Vec::new();
    while !job.cancel.is_set() {
        let task = next.fetch_add(1, Ordering::Relaxed);
        if task >= tasks {
            break;
        }
        let sent_s = job.epoch.elapsed().as_secs_f64();
        match process.run(task, store, job.cancel) {
            Ok(record) => records.push(record),
            Err(lost) => {
                let message = process.lost(lost).task_error(task);
                // A dead child cannot unlock; its manager does, so the others go on.
                if std::mem::take(&mut process.holds_lock)
                    && let Some(store) = store
                {
                    let _ = store.apply(CounterOp::Unlock);
                }
                records.push(TaskRecord {
                    task,
                    lane: process.lane,
                    start_s: sent_s,
                    end_s: job.epoch.elapsed().as_secs_f64(),
                    result: TaskResult::error(message),
                });
                break;
            }
        }
    }
    records
}

/// Why the parent stopped talking to a child.
#[derive(Debug)]
enum Lost {
    /// The pipe closed or broke: the child exited or was killed.
    Gone,
    /// The repetition was cancelled (timeout or Ctrl-C) while the child was busy.
    Cancelled,
    /// The child wrote something that is not a message.
    Garbled(String),
}

impl From<std::io::Error> for Lost {
    fn from(_: std::io::Error) -> Lost {
        Lost::Gone
    }
}

/// A lost child, reaped, with what happened to it.
struct Loss<'a> {
    lane: usize,
    lost: Lost,
    exit: &'a Exit,
}

impl Loss<'_> {
    fn task_error(&self, task: usize) -> String {
        let lane = self.lane;
        match &self.lost {
            Lost::Gone => format!(
                "worker {lane} died ({}) while running task {task}",
                self.exit.status
            ),
            Lost::Cancelled => format!("cancelled; worker {lane} killed while running task {task}"),
            Lost::Garbled(line) => {
                format!("worker {lane} sent garbage while running task {task}: {line}")
            }
        }
    }

    fn start_error(&self, exe: &Path) -> anyhow::Error {
        let lane = self.lane;
        match &self.lost {
            Lost::Garbled(line) => anyhow::anyhow!(
                "worker {lane} ({}) does not speak the worker protocol; it wrote: {line}",
                exe.display()
            ),
            _ => anyhow::anyhow!(
                "worker {lane} ({} worker) exited during start-up ({})",
                exe.display(),
                self.exit.status
            ),
        }
    }
}

/// One child process and the parent's ends of its pipes.
struct WorkerProcess {
    lane: usize,
    process: ChildProcess,
    stdout: LineReader<ChildStdout>,
    out: Vec<u8>,
    /// The child holds the shared counter's lock (it called `lock` and not yet `unlock`).
    holds_lock: bool,
}

impl WorkerProcess {
    fn spawn(exe: &Path, lane: usize) -> anyhow::Result<WorkerProcess> {
        let mut command = Command::new(exe);
        command.arg("worker");
        let mut process = ChildProcess::spawn(command)
            .with_context(|| format!("cannot start worker {lane} ({} worker)", exe.display()))?;
        let stdout = LineReader::new(process.take_stdout());
        Ok(WorkerProcess {
            lane,
            process,
            stdout,
            out: Vec::with_capacity(256),
            holds_lock: false,
        })
    }

    /// Spawns the child and waits for it to build the workload; None if cancelled first.
    fn start(exe: &Path, start: Start, cancel: &Cancel) -> anyhow::Result<Option<WorkerProcess>> {
        let mut process = WorkerProcess::spawn(exe, start.lane)?;
        if let Err(lost) = process.send(&ToWorker::Start(start)) {
            return Err(process.lost(lost).start_error(exe));
        }
        Ok(process.ready(cancel, exe)?.then_some(process))
    }

    fn send(&mut self, message: &ToWorker) -> Result<(), Lost> {
        self.out.clear();
        serde_json::to_writer(&mut self.out, message).expect("messages serialise");
        self.out.push(b'\n');
        let stdin = self.process.stdin().ok_or(Lost::Gone)?;
        // One write of one line: the child never sees half a message.
        stdin.write_all(&self.out)?;
        Ok(())
    }

    fn receive(&mut self, cancel: &Cancel) -> Result<FromWorker, Lost> {
        let line = match self.stdout.next_line(cancel, None) {
            Ok(line) => line,
            Err(Stop::Cancelled) => return Err(Lost::Cancelled),
            Err(_) => return Err(Lost::Gone),
        };
        serde_json::from_str(line).map_err(|_| Lost::Garbled(quote_line(line)))
    }

    /// Waits for the child's `ready`; false if cancelled first.
    fn ready(&mut self, cancel: &Cancel, exe: &Path) -> anyhow::Result<bool> {
        match self.receive(cancel) {
            Ok(FromWorker::Ready) => Ok(true),
            Ok(FromWorker::Failed(why)) => {
                bail!("worker {} could not build the workload: {why}", self.lane)
            }
            Ok(other) => Err(self
                .lost(Lost::Garbled(format!("{other:?}")))
                .start_error(exe)),
            Err(Lost::Cancelled) => Ok(false),
            Err(lost) => Err(self.lost(lost).start_error(exe)),
        }
    }

    /// Runs one task in the child, serving its counter calls until it is done.
    fn run(
        &mut self,
        task: usize,
        store: Option<&dyn CounterStore>,
        cancel: &Cancel,
    ) -> Result<TaskRecord, Lost> {
        self.send(&ToWorker::Run { task })?;
        loop {
            match self.receive(cancel)? {
                FromWorker::Done(record) if record.task == task => return Ok(record),
                FromWorker::Call(op) => {
                    let reply = match store {
                        Some(store) => store.apply(op).map_err(|e| format!("{e:#}")),
                        None => Err("this workload shares no counter".to_string()),
                    };
                    if reply.is_ok() {
                        match op {
                            CounterOp::Lock => self.holds_lock = true,
                            CounterOp::Unlock => self.holds_lock = false,
                            _ => {}
                        }
                    }
                    self.send(&ToWorker::Reply(reply))?;
                }
                other => return Err(Lost::Garbled(format!("{other:?}"))),
            }
        }
    }

    /// Kills and reaps a child the parent can no longer use, and says what became of it.
    fn lost(&mut self, lost: Lost) -> Loss<'_> {
        let lane = self.lane;
        Loss {
            lane,
            lost,
            exit: self.reap(Duration::ZERO),
        }
    }

    /// Waits up to `grace` for the child to exit, kills it after that, and reaps it.
    fn reap(&mut self, grace: Duration) -> &Exit {
        self.process.reap(grace)
    }
}

/// The child's end of the pipes: stdin for the parent's messages, stdout for its own.
struct Link {
    input: std::io::Stdin,
    output: std::io::Stdout,
    line: String,
    out: Vec<u8>,
}

impl Link {
    /// The next message; None when the parent closed the pipe (time to exit).
    fn receive(&mut self) -> anyhow::Result<Option<ToWorker>> {
        self.line.clear();
        if self.input.read_line(&mut self.line)? == 0 {
            return Ok(None);
        }
        let message = serde_json::from_str(&self.line)
            .with_context(|| format!("unreadable message from the parent: {:?}", self.line))?;
        Ok(Some(message))
    }

    fn send(&mut self, message: &FromWorker) -> anyhow::Result<()> {
        self.out.clear();
        serde_json::to_writer(&mut self.out, message)?;
        self.out.push(b'\n');
        self.output.write_all(&self.out)?;
        self.output.flush()?;
        Ok(())
    }
}

/// The counter as seen from a child: every operation is a round trip to the parent.
struct ParentCounter<'a> {
    link: &'a Mutex<Link>,
}

/// The child's tasks keep their shared state in the parent.
impl TaskHooks for ParentCounter<'_> {
    fn shared_store(&self) -> Option<&dyn CounterStore> {
        Some(self)
    }
}

impl CounterStore for ParentCounter<'_> {
    fn apply(&self, op: CounterOp) -> anyhow::Result<u64> {
        let mut link = self.link.lock().unwrap_or_else(|e| e.into_inner());
        link.send(&FromWorker::Call(op))?;
        match link.receive()? {
            Some(ToWorker::Reply(reply)) => reply.map_err(anyhow::Error::msg),
            Some(other) => bail!("expected a reply to {op:?}, got {other:?}"),
            None => bail!("the parent closed the pipe during {op:?}"),
        }
    }
}

/// The child side (`conclab worker`): builds the workload it is sent, then runs task after
/// task until the parent closes stdin.
pub fn worker_main() -> anyhow::Result<()> {
    close_inherited_descriptors();
    let link = Mutex::new(Link {
        input: std::io::stdin(),
        output: std::io::stdout(),
        line: String::new(),
        out: Vec::with_capacity(512),
    });
    let lock = || link.lock().unwrap_or_else(|e| e.into_inner());
    let start = match lock().receive()? {
        Some(ToWorker::Start(start)) => start,
        Some(other) => bail!("expected a start message, got {other:?}"),
        None => return Ok(()),
    };
    let workload = match start.config.build(&start.env) {
        Ok(w) => w,
        Err(e) => {
            lock().send(&FromWorker::Failed(format!("{e:#}")))?;
            return Err(e);
        }
    };
    workload.start_repetition();
    let behind = Duration::from_nanos(monotonic_ns().saturating_sub(start.epoch_monotonic_ns));
    let epoch = Instant::now()
        .checked_sub(behind)
        .unwrap_or_else(Instant::now);
    // The parent kills a child it no longer wants, so nothing here ever cancels.
    let cancel = Cancel::new();
    let counter = ParentCounter { link: &link };
    let mut worker = Worker::new(start.lane, &cancel).with_hooks(&counter);
    lock().send(&FromWorker::Ready)?;
    loop {
        let task = match lock().receive()? {
            Some(ToWorker::Run { task }) => task,
            Some(other) => bail!("expected a task, got {other:?}"),
            None => return Ok(()),
        };
        let record = run_task(workload.as_ref(), task, &mut worker, epoch);
        lock().send(&FromWorker::Done(record))?;
    }
}

/// Closes any descriptor beyond stdin, stdout and stderr that reached the child without
/// close-on-exec (std sets it on its own; a library might not).
fn close_inherited_descriptors() {
    // SAFETY: close_range only closes descriptors; none above 2 is in use yet.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_single_lines_of_json() {
        let record = TaskRecord {
            task: 3,
            lane: 1,
            start_s: 0.5,
            end_s: 1.0,
            result: TaskResult::error("multi\nline"),
        };
        let text = serde_json::to_string(&FromWorker::Done(record.clone())).unwrap();
        assert!(!text.contains('\n'), "{text}");
        match serde_json::from_str(&text).unwrap() {
            FromWorker::Done(r) => assert_eq!(r, record),
            other => panic!("{other:?}"),
        }
        let reply = serde_json::to_string(&ToWorker::Reply(Ok(7))).unwrap();
        assert!(matches!(
            serde_json::from_str(&reply).unwrap(),
            ToWorker::Reply(Ok(7))
        ));
    }
}
