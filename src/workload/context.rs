//! What a model hands a running task: its lane, cancellation, and the model's hooks.

use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::CounterStore;
use super::phases::{PhaseKind, PhaseLog, PhaseSink};

/// Longest uninterrupted sleep, so a timeout or a signal is noticed within this.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Asks the tasks of one repetition to stop (timeout) — or all of them (a signal, see
/// [`crate::signals`]).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    #[inline]
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed) || crate::signals::interrupted()
    }
}

/// What a model adds to the tasks it runs on its threads: a lock computing must hold (an
/// emulated interpreter lock), state kept outside this process. A model implements the
/// hooks it needs; every one defaults to none, so workloads stay unaware of models.
pub trait TaskHooks: Sync {
    /// Whether computing holds a lock that blocking calls give up (the phase is then
    /// `held`, not `compute`).
    fn computing_holds_lock(&self) -> bool {
        false
    }

    /// Before a blocking call (a wait, a request, taking a lock) on lane `lane`.
    fn blocking_begins(&self, _lane: usize) {}

    /// After the blocking call: returns once the task may compute again.
    fn blocking_ends(&self, _lane: usize) {}

    /// Called between CPU steps: may hand the lock over if another task waits for it.
    /// Returns the moment it handed the lock over, if it did (the caller's wait for it
    /// began then); the caller holds the lock again on return.
    fn between_cpu_steps(&self, _lane: usize) -> Option<Instant> {
        None
    }

    /// Where the workload's shared state lives, when the model keeps it elsewhere (a
    /// parent process serving its children).
    fn shared_store(&self) -> Option<&dyn CounterStore> {
        None
    }
}

/// The context of a task running on an OS thread.
pub struct Worker<'a> {
    pub lane: usize,
    cancel: &'a Cancel,
    hooks: Option<&'a dyn TaskHooks>,
    /// Per-thread state a workload keeps between tasks (e.g. an HTTP agent).
    pub local: Option<Box<dyn Any + Send>>,
    /// The phases of the tasks this thread runs, when the repetition records them.
    phases: Option<RefCell<PhaseLog<'a>>>,
}

impl<'a> Worker<'a> {
    pub fn new(lane: usize, cancel: &'a Cancel) -> Worker<'a> {
        Worker {
            lane,
            cancel,
            hooks: None,
            local: None,
            phases: None,
        }
    }

    /// Records the phases of this thread's tasks into `sink`, if there is one.
    pub fn with_phases(mut self, sink: Option<&'a PhaseSink>) -> Worker<'a> {
        self.phases = sink.map(|s| RefCell::new(PhaseLog::new(s)));
        self
    }

    /// The model's hooks around this thread's tasks.
    pub fn with_hooks(mut self, hooks: &'a dyn TaskHooks) -> Worker<'a> {
        self.hooks = Some(hooks);
        self
    }

    /// The phase of a task that computes: holding the model's lock, or computing.
    fn computing(&self) -> PhaseKind {
        match self.hooks {
            Some(h) if h.computing_holds_lock() => PhaseKind::Held,
            _ => PhaseKind::Compute,
        }
    }

    /// Task `task` starts at `at_s` (seconds from the repetition's start), computing.
    pub fn begin_task(&self, task: usize, at_s: f64) {
        if let Some(log) = &self.phases {
            log.borrow_mut()
                .begin(task, self.lane, self.computing(), at_s);
        }
    }

    /// The task under way ends at `at_s`.
    pub fn end_task(&self, at_s: f64) {
        if let Some(log) = &self.phases {
            log.borrow_mut().end(at_s);
        }
    }

    #[inline]
    fn enter(&self, kind: PhaseKind) {
        if let Some(log) = &self.phases {
            log.borrow_mut().switch(kind);
        }
    }

    /// Shared state kept elsewhere that the workload must use instead of its own.
    pub fn shared_store(&self) -> Option<&'a dyn CounterStore> {
        self.hooks.and_then(|h| h.shared_store())
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.is_set()
    }

    /// Between CPU steps: lets the model's lock switch; false once cancelled.
    #[inline]
    pub fn tick(&self) -> bool {
        if let Some(h) = self.hooks
            && let Some(handed_over) = h.between_cpu_steps(self.lane)
            && let Some(log) = &self.phases
        {
            let mut log = log.borrow_mut();
            let at = log.seconds(handed_over);
            log.switch_at(PhaseKind::LockWait, at);
            log.switch(PhaseKind::Held);
        }
        !self.cancel.is_set()
    }

    /// A blocking wait, with any model lock released around it; false if cancelled.
    pub fn wait(&self, duration: Duration) -> bool {
        self.outside_lock(|| sleep_until(Instant::now() + duration, self.cancel))
    }

    /// Runs `f` (blocking IO) with any model lock released, as CPython releases the GIL.
    pub fn outside_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        self.enter(PhaseKind::Wait);
        match self.hooks {
            Some(h) if h.computing_holds_lock() => {
                h.blocking_begins(self.lane);
                let r = f();
                self.enter(PhaseKind::LockWait);
                h.blocking_ends(self.lane);
                self.enter(PhaseKind::Held);
                r
            }
            hooks => {
                if let Some(h) = hooks {
                    h.blocking_begins(self.lane);
                }
                let r = f();
                if let Some(h) = hooks {
                    h.blocking_ends(self.lane);
                }
                self.enter(PhaseKind::Compute);
                r
            }
        }
    }
}

/// Sleeps the thread until `deadline` in slices; false if cancelled first.
pub fn sleep_until(deadline: Instant, cancel: &Cancel) -> bool {
    loop {
        if cancel.is_set() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(WAIT_SLICE));
    }
}

/// The context of a task running on an event loop.
pub struct AsyncWorker {
    /// The `async_blocking` mistake: waits and IO block the event-loop thread.
    pub blocking: bool,
    pub cancel: Cancel,
    /// Per-repetition state a workload shares between its tasks (e.g. an HTTP client).
    pub local: OnceLock<Box<dyn Any + Send + Sync>>,
    /// The runtime's precise timer; without one, waits use tokio's (1 ms ticks).
    timer: Option<super::timer::Timer>,
}

impl AsyncWorker {
    pub fn new(blocking: bool, cancel: Cancel) -> AsyncWorker {
        AsyncWorker {
            blocking,
            cancel,
            local: OnceLock::new(),
            timer: None,
        }
    }

    /// Waits end on `timer` (see [`super::timer`]) rather than tokio's ticks.
    pub fn with_timer(mut self, timer: super::timer::Timer) -> AsyncWorker {
        self.timer = Some(timer);
        self
    }

    /// A worker of the same event loop with state of its own (a step of a task).
    pub fn sibling(&self) -> AsyncWorker {
        AsyncWorker {
            timer: self.timer.clone(),
            ..AsyncWorker::new(self.blocking, self.cancel.clone())
        }
    }

    /// A wait that yields the event loop, or blocks it in the `async_blocking` model.
    pub async fn wait(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        if self.blocking {
            return sleep_until(deadline, &self.cancel);
        }
        loop {
            if self.cancel.is_set() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            let slice_end = deadline.min(now + WAIT_SLICE);
            match &self.timer {
                Some(timer) => timer.sleep_until(slice_end).await,
                None => tokio::time::sleep_until(slice_end.into()).await,
            }
        }
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.is_set()
    }
}

/// A blocking call on its way to a pool thread (`async_to_thread`): the call, and where
/// the thread sends what it gave.
pub struct BlockingCall {
    pub call: Box<dyn FnOnce(&mut Worker<'_>) -> super::TaskResult + Send>,
    pub reply: tokio::sync::oneshot::Sender<CallDone>,
}

/// A blocking call as it ran: its result, the lane of the thread that ran it, and when it
/// began (seconds from the repetition's start).
#[derive(Debug)]
pub struct CallDone {
    pub result: super::TaskResult,
    pub lane: usize,
    pub start_s: f64,
}

/// The context of a task on an event loop that hands every blocking call to a pool of
/// threads and awaits it, as Python's `asyncio.to_thread` does. One per task.
pub struct ToThread {
    pool: std::sync::mpsc::Sender<BlockingCall>,
    cancel: Cancel,
    /// Where and when the task's first call began: its span starts there.
    first: OnceLock<(f64, usize)>,
}

impl ToThread {
    pub fn new(pool: std::sync::mpsc::Sender<BlockingCall>, cancel: Cancel) -> ToThread {
        ToThread {
            pool,
            cancel,
            first: OnceLock::new(),
        }
    }

    /// Runs `call` on a pool thread, with that thread's [`Worker`], and awaits its result;
    /// the event loop runs other tasks meanwhile.
    pub async fn call(
        &self,
        call: impl FnOnce(&mut Worker<'_>) -> super::TaskResult + Send + 'static,
    ) -> super::TaskResult {
        let (reply, done) = tokio::sync::oneshot::channel();
        let sent = self.pool.send(BlockingCall {
            call: Box::new(call),
            reply,
        });
        if sent.is_err() {
            return super::TaskResult::error("the thread pool has stopped");
        }
        match done.await {
            Ok(done) => {
                self.first.get_or_init(|| (done.start_s, done.lane));
                done.result
            }
            Err(_) => super::TaskResult::error("the pool thread dropped the call"),
        }
    }

    /// The start (seconds from the repetition's start) and lane of the first call, once one ran.
    pub fn first_call(&self) -> Option<(f64, usize)> {
        self.first.get().copied()
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.is_set()
    }
}
