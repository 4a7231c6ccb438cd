//! `gil_threads`: W pool threads that must hold one emulated interpreter lock to compute.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::descriptor::{Descriptor, Rgb, RustModel, Setting, SettingValue, Workers};
use super::{
    Concurrency, Execution, Job, ModelKind, PoolStart, Scheduler, release_and_join, run_task,
    start_pool,
};
use crate::workload::{TaskHooks, Worker};

/// How long a thread may keep the lock while others wait.
pub const SWITCH_INTERVAL: &str = "switch_interval";

pub static MODEL: RustModel = RustModel {
    // Waits release the interpreter lock; computing needs it.
    about: Descriptor {
        records_phases: true,
        settings: &[Setting {
            key: SWITCH_INTERVAL,
            doc: "hand the lock over after this long when others wait (default 5ms)",
            default: SettingValue::Duration(Duration::from_millis(5)),
        }],
        ..Descriptor::conclab(
            Workers::Taken,
            |w, _| Concurrency {
                waits: w.max(1),
                cpu: 1,
            },
            Rgb(120, 120, 120),
        )
    },
    scheduler: &GilThreads,
};

pub struct GilThreads;

impl Scheduler for GilThreads {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        let workload = job.workload.as_ref();
        let tasks = workload.tasks();
        let switch_interval = job
            .settings
            .duration(ModelKind::GilThreads, SWITCH_INTERVAL);
        let gil = Gil::new(job.workers, switch_interval);
        let next = AtomicUsize::new(0);
        let started = PoolStart::default();
        std::thread::scope(|scope| {
            let (next, gil) = (&next, &gil);
            let handles = start_pool(scope, &started, job.workers, "gil", move |lane| {
                let mut worker = Worker::new(lane, job.cancel)
                    .with_hooks(gil)
                    .with_phases(job.phases);
                let mut records = Vec::new();
                loop {
                    let task = next.fetch_add(1, Ordering::Relaxed);
                    if task >= tasks || job.cancel.is_set() {
                        return records;
                    }
                    // Held for the whole task except its waits, as a Python thread
                    // holds the GIL while it runs bytecode.
                    let held = Held::take(gil, lane);
                    records.push(run_task(workload, task, &mut worker, job.epoch));
                    drop(held);
                }
            })?;
            Ok(release_and_join(job, &started, handles))
        })
    }
}

/// The emulated global interpreter lock: one holder at a time, handed over in FIFO order.
///
/// Like CPython's forced switching: a holder that has had the lock for `switch_interval`
/// while others wait gives it to the longest waiter and queues behind the rest, so it cannot
/// take it straight back. Left out: priorities, the OS picking a different waiter, and the
/// cost of a real interpreter; a step of CPU work is 64 hash steps, not one bytecode.
pub struct Gil {
    state: Mutex<GilState>,
    /// One per lane, so a hand-over wakes exactly the thread it is for.
    turn: Vec<Condvar>,
    /// Someone waits: the only thing `tick` reads while nobody does.
    contended: AtomicBool,
    /// Nanoseconds from `born` at which the current holder took the lock.
    taken_ns: AtomicU64,
    /// `GilState::holder` for the spinning next in line, which reads it without the mutex.
    holder_now: AtomicUsize,
    born: Instant,
    switch_interval_ns: u64,
}

const NOBODY: usize = usize::MAX;
/// How long before the holder's interval ends the next in line starts spinning, and for
/// how long at most: the holder notices at its next tick, within about 40 µs.
const SPIN_LEAD_NS: u64 = 20_000;
const SPIN_LIMIT_NS: u64 = 300_000;

/// The lock for the length of one task; released on unwinding too, so a panicking task
/// cannot leave the other threads waiting for ever.
struct Held<'a> {
    gil: &'a Gil,
    lane: usize,
}

impl<'a> Held<'a> {
    fn take(gil: &'a Gil, lane: usize) -> Held<'a> {
        gil.acquire(lane);
        Held { gil, lane }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // A panic inside `outside_lock` unwinds with the lock already released.
        let mut state = self.gil.lock_state();
        if state.holder == Some(self.lane) {
            self.gil.hand_over(&mut state);
        }
    }
}

struct GilState {
    holder: Option<usize>,
    waiting: VecDeque<usize>,
}

impl Gil {
    pub fn new(lanes: usize, switch_interval: Duration) -> Gil {
        Gil {
            state: Mutex::new(GilState {
                holder: None,
                waiting: VecDeque::with_capacity(lanes),
            }),
            turn: (0..lanes).map(|_| Condvar::new()).collect(),
            contended: AtomicBool::new(false),
            taken_ns: AtomicU64::new(0),
            holder_now: AtomicUsize::new(NOBODY),
            born: Instant::now(),
            switch_interval_ns: switch_interval.as_nanos().min(u64::MAX as u128) as u64,
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, GilState> {
        // A panicking task thread cannot leave GilState half-updated: every update is a
        // single assignment, so the poisoned state is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ns(&self) -> u64 {
        self.born.elapsed().as_nanos() as u64
    }

    /// Queues `lane` and sleeps until the lock is handed to it.
    ///
    /// The next in line wakes shortly before the holder's interval runs out and spins for
    /// the hand-over: waking a sleeping thread on another (virtual) core can take longer
    /// than a whole switch interval's worth of work on a shared machine, and those gaps
    /// would be a cost of the emulation, not of the lock. Spinning costs a few tens of µs
    /// per interval.
    fn wait_for_turn<'a>(&'a self, mut state: MutexGuard<'a, GilState>, lane: usize) {
        state.waiting.push_back(lane);
        self.contended.store(true, Ordering::Relaxed);
        let mut spun_for = None;
        while state.holder != Some(lane) {
            let next_in_line = state.waiting.front() == Some(&lane);
            let due = self.taken_ns.load(Ordering::Relaxed) + self.switch_interval_ns;
            let now = self.now_ns();
            if !next_in_line || spun_for == state.holder {
                state = self.turn[lane]
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner());
            } else if due > now + SPIN_LEAD_NS {
                let nap = Duration::from_nanos(due - now - SPIN_LEAD_NS);
                state = self.turn[lane]
                    .wait_timeout(state, nap)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            } else {
                // Once per holder: one that keeps the lock past its interval (a long
                // stretch without ticks) is waited for asleep.
                spun_for = state.holder;
                drop(state);
                let until = now + SPIN_LIMIT_NS;
                while self.holder_now.load(Ordering::Acquire) != lane && self.now_ns() < until {
                    std::hint::spin_loop();
                }
                state = self.lock_state();
            }
        }
    }

    /// Gives the lock to the longest waiter, or frees it.
    fn hand_over(&self, state: &mut GilState) {
        match state.waiting.pop_front() {
            Some(next) => {
                state.holder = Some(next);
                self.taken_ns.store(self.now_ns(), Ordering::Relaxed);
                self.holder_now.store(next, Ordering::Release);
                self.contended
                    .store(!state.waiting.is_empty(), Ordering::Relaxed);
                self.turn[next].notify_one();
                // The new next in line starts timing the new holder's interval.
                if let Some(&after) = state.waiting.front() {
                    self.turn[after].notify_one();
                }
            }
            None => {
                state.holder = None;
                self.holder_now.store(NOBODY, Ordering::Release);
            }
        }
    }
}

/// Computing holds the lock; blocking calls give it up, as CPython releases the GIL.
impl TaskHooks for Gil {
    fn computing_holds_lock(&self) -> bool {
        true
    }
    fn blocking_begins(&self, lane: usize) {
        self.release(lane)
    }
    fn blocking_ends(&self, lane: usize) {
        self.acquire(lane)
    }
    fn between_cpu_steps(&self, lane: usize) -> Option<Instant> {
        self.tick(lane)
    }
}

impl Gil {
    fn acquire(&self, lane: usize) {
        let mut state = self.lock_state();
        if state.holder.is_none() && state.waiting.is_empty() {
            state.holder = Some(lane);
            self.taken_ns.store(self.now_ns(), Ordering::Relaxed);
            self.holder_now.store(lane, Ordering::Release);
            return;
        }
        self.wait_for_turn(state, lane);
    }

    fn release(&self, lane: usize) {
        let mut state = self.lock_state();
        debug_assert_eq!(
            state.holder,
            Some(lane),
            "released by a thread not holding it"
        );
        self.hand_over(&mut state);
    }

    #[inline]
    fn tick(&self, lane: usize) -> Option<Instant> {
        if !self.contended.load(Ordering::Relaxed) {
            return None;
        }
        let held = self
            .now_ns()
            .saturating_sub(self.taken_ns.load(Ordering::Relaxed));
        if held < self.switch_interval_ns {
            return None;
        }
        let mut state = self.lock_state();
        if state.holder != Some(lane) || state.waiting.is_empty() {
            return None;
        }
        self.hand_over(&mut state);
        let handed_over = Instant::now();
        self.wait_for_turn(state, lane);
        Some(handed_over)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::model::ModelSettings;
    use crate::workload::hash_chain::run_chain;
    use crate::workload::sleep::SleepConfig;
    use crate::workload::{
        AsyncWorker, BuildEnv, Cancel, PhaseKind, TaskFuture, TaskRecord, TaskResult, Verdict,
        Workload, WorkloadConfig,
    };

    /// Task 0 panics while holding the lock; the others must still get it.
    struct PanicsFirst(WorkloadConfig);

    impl Workload for PanicsFirst {
        fn config(&self) -> &WorkloadConfig {
            &self.0
        }
        fn run_blocking(&self, task: usize, worker: &mut Worker<'_>) -> TaskResult {
            assert_ne!(task, 0, "task 0 always panics");
            run_chain("a", 1000, || worker.tick());
            TaskResult::done()
        }
        fn run_async<'a>(&'a self, _: usize, _: &'a AsyncWorker) -> TaskFuture<'a> {
            unreachable!("a blocking model")
        }
        fn verify(&self, _: &[TaskRecord]) -> Verdict {
            Verdict::pass("")
        }
    }

    #[test]
    fn a_panicking_task_does_not_keep_the_lock() {
        let config = WorkloadConfig::Sleep(SleepConfig {
            tasks: 4,
            duration: Duration::ZERO,
        });
        let workload: Arc<dyn Workload> = Arc::new(PanicsFirst(config));
        let (settings, cancel, env) =
            (ModelSettings::default(), Cancel::new(), BuildEnv::default());
        let job = Job {
            workload: &workload,
            workers: 2,
            settings: &settings,
            cancel: &cancel,
            epoch: Instant::now(),
            env: &env,
            phases: None,
        };
        let mut done = GilThreads.run(&job).unwrap();
        done.records.sort_by_key(|r| r.task);
        // The panic is task 0's failure; its thread and the other one run the rest.
        assert_eq!(done.records.len(), 4);
        assert!(matches!(
            &done.records[0].result.output,
            crate::workload::Output::Error(e) if e.contains("task 0 always panics")
        ));
        assert!(done.records[1..].iter().all(|r| r.result.ok));
    }

    /// Two tasks of pure CPU work on two threads take turns: each holds the lock and
    /// waits for it, in stretches that follow each other inside its span.
    #[test]
    fn phases_show_each_task_holding_and_waiting_for_the_lock() {
        let config = WorkloadConfig::HashChain(crate::workload::hash_chain::HashChainConfig {
            inputs: vec!["a".into(), "b".into()],
            // Tens of switch intervals each, so that both overlap on a busy machine too.
            iterations: 100_000,
            tasks: 2,
            expect: Default::default(),
        });
        let env = BuildEnv::default();
        let workload = config.build(&env).unwrap();
        let mut settings = ModelSettings::default();
        settings.set(
            ModelKind::GilThreads,
            SWITCH_INTERVAL,
            SettingValue::Duration(Duration::from_millis(1)),
        );
        let cancel = Cancel::new();
        let epoch = Instant::now();
        let sink = crate::workload::PhaseSink::new(epoch);
        let job = Job {
            workload: &workload,
            workers: 2,
            settings: &settings,
            cancel: &cancel,
            epoch,
            env: &env,
            phases: Some(&sink),
        };
        let done = GilThreads.run(&job).unwrap();
        let phases = sink.take();
        for r in &done.records {
            let mine: Vec<_> = phases.iter().filter(|p| p.task == r.task).collect();
            let has = |k: PhaseKind| mine.iter().any(|p| p.kind == k);
            assert!(
                has(PhaseKind::Held) && has(PhaseKind::LockWait),
                "task {}: {mine:?}",
                r.task
            );
            assert!(mine.iter().all(|p| p.lane == r.lane && p.start_s < p.end_s));
            assert!(
                mine.iter()
                    .all(|p| p.start_s >= r.start_s && p.end_s <= r.end_s),
                "task {} spans {}..{}: {mine:?}",
                r.task,
                r.start_s,
                r.end_s
            );
            assert!(
                mine.windows(2).all(|w| w[0].end_s <= w[1].start_s),
                "task {}: phases overlap: {mine:?}",
                r.task
            );
        }
    }

    #[test]
    fn uncontended_lock_is_taken_and_freed() {
        let gil = Gil::new(1, Duration::from_millis(5));
        gil.acquire(0);
        gil.tick(0);
        gil.release(0);
        gil.acquire(0);
        gil.release(0);
        assert_eq!(gil.lock_state().holder, None);
    }

    /// Two threads of pure CPU steps must alternate: the holder hands over after the
    /// interval and cannot take the lock straight back, so there are many turns, not two.
    #[test]
    fn contended_threads_take_turns() {
        let gil = Arc::new(Gil::new(2, Duration::from_millis(2)));
        let turns = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..2)
            .map(|lane| {
                let (gil, turns) = (gil.clone(), turns.clone());
                std::thread::spawn(move || {
                    gil.acquire(lane);
                    let mut ran = Duration::ZERO;
                    while ran < Duration::from_millis(40) {
                        let slice = Instant::now();
                        assert_eq!(gil.lock_state().holder, Some(lane));
                        let mut turns = turns.lock().unwrap();
                        if turns.last() != Some(&lane) {
                            turns.push(lane);
                        }
                        drop(turns);
                        ran += slice.elapsed();
                        gil.tick(lane);
                    }
                    gil.release(lane);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let turns = turns.lock().unwrap();
        assert!(
            turns.len() >= 4,
            "the lock was never handed over: {turns:?}"
        );
    }
}
