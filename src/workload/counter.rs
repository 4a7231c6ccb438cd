//! The `counter` workload: read a shared counter, wait, write value + 1 (the lost-update race).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    AsyncWorker, BuildEnv, Calibration, Check, Kind, KindConfig, Part, TaskCost, TaskFuture,
    TaskRecord, TaskResult, Verdict, Worker, Workload, WorkloadConfig, task_errors,
};
use crate::workload::params::{
    Default, KindDef, ParamDef, ParamType, Params, ParamsExt, StepUse, TASKS10, Work,
};

/// How a task's read-modify-write is synchronised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterSync {
    /// A plain load, wait, store: concurrent tasks overwrite each other's updates.
    None,
    /// One lock held across read, wait and write: correct, and serial.
    Mutex,
    /// One fetch-add, no wait inside.
    Atomic,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterConfig {
    pub tasks: usize,
    pub wait: Duration,
    pub sync: CounterSync,
    /// Updates per task; added after the cell-id format, so left out of it at 1.
    #[serde(
        default = "super::one_increment",
        skip_serializing_if = "super::is_one_increment"
    )]
    pub increments: u64,
}

/// Why a task may have one counter step only (the checker says it).
const ONE_COUNTER: &str =
    "every counter step would update the same shared counter (a process pool's parent serves one)";

impl Kind for CounterConfig {
    const DEF: KindDef = KindDef {
        name: "counter",
        doc: "each task reads a shared counter, waits, writes value + 1",
        params: &[
            TASKS10,
            ParamDef {
                name: "wait",
                ty: ParamType::Duration { positive: false },
                default: Default::Dur("10ms"),
                doc: "wait between read and write; \"0s\" reads and writes back to back, with nothing called between them (the race an interpreter lock hides)",
            },
            ParamDef {
                name: "sync",
                ty: ParamType::Choice(&["none", "mutex", "atomic"]),
                default: Default::Str("none"),
                doc: "how the update is synchronised",
            },
            ParamDef {
                name: "increments",
                ty: ParamType::Count {
                    min: 1,
                    max: 100_000_000,
                },
                default: Default::Int(1),
                doc: "updates each task makes, one after another; the counter must end at tasks x increments",
            },
        ],
        step: StepUse::OncePerTask(ONE_COUNTER),
        work: Work::Waits,
        phases: false,
    };

    fn from_params(p: &Params) -> CounterConfig {
        CounterConfig {
            tasks: p.count("tasks") as usize,
            wait: p.duration("wait"),
            sync: match p.text("sync").as_str() {
                "mutex" => CounterSync::Mutex,
                "atomic" => CounterSync::Atomic,
                _ => CounterSync::None,
            },
            increments: p.count("increments"),
        }
    }
}

impl KindConfig for CounterConfig {
    fn tasks(&self) -> usize {
        self.tasks
    }

    /// The atomic form has no wait inside; the locked one waits in series.
    fn cost(&self, _: &Calibration) -> Option<TaskCost> {
        let wait_s = match self.sync {
            CounterSync::Atomic => 0.0,
            _ => self.wait.as_secs_f64() * self.increments as f64,
        };
        Some(TaskCost {
            cpu_s: 0.0,
            wait_s,
            locked_s: if self.sync == CounterSync::Mutex {
                wait_s
            } else {
                0.0
            },
        })
    }

    fn shared_sync(&self) -> Option<CounterSync> {
        Some(self.sync)
    }

    fn parts(&self, _task: usize, _env: &BuildEnv) -> Vec<Part> {
        vec![Part::Counter {
            wait_s: self.wait.as_secs_f64(),
            increments: self.increments,
        }]
    }

    fn build(&self, _env: &BuildEnv) -> anyhow::Result<Arc<dyn Workload>> {
        Ok(Arc::new(Counter::new(self.clone())))
    }
}

/// One operation on the shared counter. `process_pool` children send these to the parent,
/// which applies them to its own copy, as a Python manager process serves a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterOp {
    Get,
    Set(u64),
    /// Returns the value before the addition.
    Add(u64),
    /// Blocks until the counter's lock is free, then holds it.
    Lock,
    Unlock,
}

/// Where a task finds the counter: in this process, or behind a pipe to the parent.
pub trait CounterStore: Send + Sync {
    /// Applies `op`: the value read for `Get` and `Add`, 0 otherwise; an error only when a
    /// remote store cannot be reached.
    fn apply(&self, op: CounterOp) -> anyhow::Result<u64>;
}

/// The counter in this process: an atomic value and a lock that, unlike a `MutexGuard`, can
/// be taken and released by separate requests (needed to serve `Lock`/`Unlock` from a child).
#[derive(Debug, Default)]
pub struct LocalCounter {
    value: AtomicU64,
    locked: Mutex<bool>,
    freed: Condvar,
}

impl LocalCounter {
    pub fn value(&self) -> u64 {
        self.value.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.value.store(0, Ordering::SeqCst);
        *self.locked.lock().unwrap_or_else(|e| e.into_inner()) = false;
        self.freed.notify_all();
    }
}

impl CounterStore for LocalCounter {
    fn apply(&self, op: CounterOp) -> anyhow::Result<u64> {
        Ok(match op {
            CounterOp::Get => self.value.load(Ordering::SeqCst),
            CounterOp::Set(v) => {
                self.value.store(v, Ordering::SeqCst);
                0
            }
            CounterOp::Add(n) => self.value.fetch_add(n, Ordering::SeqCst),
            CounterOp::Lock => {
                let mut locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
                while *locked {
                    locked = self.freed.wait(locked).unwrap_or_else(|e| e.into_inner());
                }
                *locked = true;
                0
            }
            CounterOp::Unlock => {
                *self.locked.lock().unwrap_or_else(|e| e.into_inner()) = false;
                self.freed.notify_one();
                0
            }
        })
    }
}

pub struct Counter {
    config: WorkloadConfig,
    c: CounterConfig,
    local: LocalCounter,
    /// The async form holds this across its `.await`ed wait, as an async program would.
    async_lock: tokio::sync::Mutex<()>,
}

impl Counter {
    pub fn new(c: CounterConfig) -> Counter {
        Counter {
            config: WorkloadConfig::Counter(c.clone()),
            c,
            local: LocalCounter::default(),
            async_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The read-modify-writes of one task against `store`; false if cancelled.
    fn blocking_updates(
        &self,
        store: &dyn CounterStore,
        worker: &Worker<'_>,
    ) -> anyhow::Result<bool> {
        for _ in 0..self.c.increments {
            if !self.blocking_update(store, worker)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One read-modify-write against `store`; `wait` reports false if cancelled. Without
    /// a wait nothing is called between the read and the write.
    fn blocking_update(
        &self,
        store: &dyn CounterStore,
        worker: &Worker<'_>,
    ) -> anyhow::Result<bool> {
        let wait = || self.c.wait.is_zero() || worker.wait(self.c.wait);
        match self.c.sync {
            CounterSync::Atomic => {
                store.apply(CounterOp::Add(1))?;
                Ok(true)
            }
            CounterSync::None => read_wait_write(store, wait),
            CounterSync::Mutex => {
                // Blocking on the lock must not keep the interpreter lock, or its holder
                // could never come back from its wait to unlock (CPython releases it too).
                worker.outside_lock(|| store.apply(CounterOp::Lock))?;
                let updated = read_wait_write(store, wait);
                store.apply(CounterOp::Unlock)?;
                updated
            }
        }
    }
}

fn read_wait_write(store: &dyn CounterStore, wait: impl FnOnce() -> bool) -> anyhow::Result<bool> {
    let value = store.apply(CounterOp::Get)?;
    if !wait() {
        return Ok(false);
    }
    store.apply(CounterOp::Set(value + 1))?;
    Ok(true)
}

fn finish(updated: anyhow::Result<bool>) -> TaskResult {
    match updated {
        Ok(true) => TaskResult::done(),
        Ok(false) => TaskResult::cancelled(),
        Err(e) => TaskResult::error(format!("{e:#}")),
    }
}

impl Workload for Counter {
    fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    fn start_repetition(&self) {
        self.local.reset();
    }

    fn shared_store(&self) -> Option<&dyn CounterStore> {
        Some(&self.local)
    }

    fn run_blocking(&self, _task: usize, worker: &mut Worker<'_>) -> TaskResult {
        let store = worker.shared_store().unwrap_or(&self.local);
        finish(self.blocking_updates(store, worker))
    }

    fn run_async<'a>(&'a self, _task: usize, worker: &'a AsyncWorker) -> TaskFuture<'a> {
        Box::pin(async move {
            for _ in 0..self.c.increments {
                if !self.async_update(worker).await {
                    return finish(Ok(false));
                }
            }
            finish(Ok(true))
        })
    }

    fn verify(&self, records: &[TaskRecord]) -> Verdict {
        if let Some(v) = task_errors(records) {
            return v;
        }
        let expected = self.c.tasks as u64 * self.c.increments;
        judge(self.c.sync, self.local.value(), expected)
    }
}

impl Counter {
    /// One update on the event loop; false if cancelled. An await between the read and
    /// the write lets another task in, even a wait of zero.
    async fn async_update(&self, worker: &AsyncWorker) -> bool {
        let local = &self.local;
        match self.c.sync {
            CounterSync::Atomic => {
                local.value.fetch_add(1, Ordering::SeqCst);
                true
            }
            sync @ (CounterSync::None | CounterSync::Mutex) => {
                // The lock, when there is one, is held across the awaited wait.
                let _held = match sync {
                    CounterSync::Mutex => Some(self.async_lock.lock().await),
                    _ => None,
                };
                let value = local.value();
                let waited = worker.wait(self.c.wait).await;
                if waited {
                    local.value.store(value + 1, Ordering::SeqCst);
                }
                waited
            }
        }
    }
}

/// Lost updates are the lesson of `none`, so they make a `race`, never a failure; with a
/// lock or an atomic anything but `tasks` is a bug.
fn judge(sync: CounterSync, last: u64, expected: u64) -> Verdict {
    let detail = format!("final={last} expected={expected}");
    if last == expected {
        return Verdict::pass(detail);
    }
    // Lost updates only lower the count: more increments than tasks is no race, it is a
    // wrong count (from a buggy model, or another program's report).
    if last > expected {
        return Verdict::fail(format!("{detail}: more increments than tasks"));
    }
    match sync {
        CounterSync::None => Verdict {
            check: Check::Race,
            detail: format!("{detail} lost={}", expected.saturating_sub(last)),
            fingerprint: None,
        },
        CounterSync::Mutex | CounterSync::Atomic => Verdict::fail(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Cancel;

    fn counter(sync: CounterSync, tasks: usize) -> Counter {
        Counter::new(CounterConfig {
            tasks,
            wait: Duration::from_millis(1),
            sync,
            increments: 1,
        })
    }

    fn done(task: usize) -> TaskRecord {
        TaskRecord {
            task,
            lane: 0,
            start_s: 0.0,
            end_s: 0.0,
            result: TaskResult::done(),
        }
    }

    #[test]
    fn lost_updates_are_a_race_not_a_failure() {
        let v = judge(CounterSync::None, 2, 10);
        assert_eq!(v.check, Check::Race);
        assert_eq!(v.detail, "final=2 expected=10 lost=8");
        assert_eq!(judge(CounterSync::None, 10, 10).check, Check::Pass);
    }

    #[test]
    fn more_increments_than_tasks_fail_whatever_the_sync() {
        for sync in [CounterSync::None, CounterSync::Mutex, CounterSync::Atomic] {
            let v = judge(sync, 12, 10);
            assert_eq!(v.check, Check::Fail, "{sync:?}");
            assert!(
                v.detail.contains("more increments than tasks"),
                "{}",
                v.detail
            );
        }
    }

    #[test]
    fn a_wrong_locked_or_atomic_count_fails() {
        assert_eq!(judge(CounterSync::Mutex, 3, 10).check, Check::Fail);
        assert_eq!(
            judge(CounterSync::Atomic, 9, 10).detail,
            "final=9 expected=10"
        );
        assert_eq!(judge(CounterSync::Mutex, 10, 10).check, Check::Pass);
    }

    #[test]
    fn sequential_tasks_count_exactly_and_reset_between_repetitions() {
        let cancel = Cancel::new();
        for sync in [CounterSync::None, CounterSync::Mutex, CounterSync::Atomic] {
            let c = counter(sync, 3);
            for _ in 0..2 {
                c.start_repetition();
                let mut worker = Worker::new(0, &cancel);
                let records: Vec<_> = (0..3)
                    .map(|t| {
                        assert_eq!(c.run_blocking(t, &mut worker), TaskResult::done());
                        done(t)
                    })
                    .collect();
                assert_eq!(c.verify(&records).detail, "final=3 expected=3", "{sync:?}");
            }
        }
    }

    #[test]
    fn a_failed_task_fails_the_run() {
        let c = counter(CounterSync::Atomic, 1);
        let mut r = done(0);
        r.result = TaskResult::error("worker 0 died");
        let v = c.verify(&[r]);
        assert_eq!(v.check, Check::Fail);
        assert!(v.detail.contains("worker 0 died"), "{}", v.detail);
    }

    #[test]
    fn the_lock_excludes_until_unlocked() {
        let store = std::sync::Arc::new(LocalCounter::default());
        store.apply(CounterOp::Lock).unwrap();
        let other = store.clone();
        let waiter = std::thread::spawn(move || {
            other.apply(CounterOp::Lock).unwrap();
            other.apply(CounterOp::Add(1)).unwrap();
            other.apply(CounterOp::Unlock).unwrap();
        });
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            store.value(),
            0,
            "the waiter got in while the lock was held"
        );
        store.apply(CounterOp::Unlock).unwrap();
        waiter.join().unwrap();
        assert_eq!(store.value(), 1);
    }

    #[test]
    fn ops_round_trip_as_json() {
        for op in [
            CounterOp::Get,
            CounterOp::Set(7),
            CounterOp::Add(1),
            CounterOp::Lock,
        ] {
            let text = serde_json::to_string(&op).unwrap();
            assert_eq!(serde_json::from_str::<CounterOp>(&text).unwrap(), op);
        }
    }
}
