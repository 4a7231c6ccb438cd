//! What a task was doing from moment to moment (holding the interpreter lock, waiting
//! for it, computing, waiting), recorded per thread for the timeline.

use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseKind {
    /// Holding the emulated interpreter lock (`gil_threads`).
    Held,
    /// Waiting for the interpreter lock.
    LockWait,
    /// Computing (a hash chain) with no interpreter lock in play.
    Compute,
    /// A wait of the workload's own (sleep, request, counter), outside any interpreter lock.
    Wait,
}

impl PhaseKind {
    pub const ALL: [PhaseKind; 4] = [
        PhaseKind::Held,
        PhaseKind::LockWait,
        PhaseKind::Compute,
        PhaseKind::Wait,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PhaseKind::Held => "held",
            PhaseKind::LockWait => "lock_wait",
            PhaseKind::Compute => "compute",
            PhaseKind::Wait => "wait",
        }
    }

    pub fn parse(s: &str) -> Option<PhaseKind> {
        PhaseKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One stretch of one task, in seconds from the repetition's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    pub task: usize,
    pub lane: usize,
    pub kind: PhaseKind,
    pub start_s: f64,
    pub end_s: f64,
}

/// A phase shorter than this is not kept: an uncontended acquire, not a wait.
const SHORTEST_S: f64 = 1e-6;
/// Phases a thread can record before its log first grows.
const PREALLOCATED: usize = 64;

/// Where the threads of one repetition leave their phases.
#[derive(Debug)]
pub struct PhaseSink {
    /// The repetition's epoch, which task spans are measured from too.
    epoch: Instant,
    phases: Mutex<Vec<Phase>>,
}

impl PhaseSink {
    pub fn new(epoch: Instant) -> PhaseSink {
        PhaseSink {
            epoch,
            phases: Mutex::new(Vec::new()),
        }
    }

    /// Every phase handed in so far, by task and start.
    pub fn take(&self) -> Vec<Phase> {
        let mut phases =
            std::mem::take(&mut *self.phases.lock().unwrap_or_else(|e| e.into_inner()));
        phases.sort_by(|a, b| a.task.cmp(&b.task).then(a.start_s.total_cmp(&b.start_s)));
        phases
    }
}

/// One thread's phases: appended without locking, handed to the sink when dropped.
#[derive(Debug)]
pub struct PhaseLog<'a> {
    sink: &'a PhaseSink,
    phases: Vec<Phase>,
    /// The phase under way: its task, lane, kind and start.
    open: Option<(usize, usize, PhaseKind, f64)>,
}

impl<'a> PhaseLog<'a> {
    pub fn new(sink: &'a PhaseSink) -> PhaseLog<'a> {
        PhaseLog {
            sink,
            phases: Vec::with_capacity(PREALLOCATED),
            open: None,
        }
    }

    /// Seconds from the repetition's start to `at`.
    #[inline]
    pub fn seconds(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.sink.epoch).as_secs_f64()
    }

    /// Task `task` starts on `lane` at `at_s`, in phase `kind`.
    pub fn begin(&mut self, task: usize, lane: usize, kind: PhaseKind, at_s: f64) {
        self.end(at_s);
        self.open = Some((task, lane, kind, at_s));
    }

    /// The task under way enters phase `kind` now.
    #[inline]
    pub fn switch(&mut self, kind: PhaseKind) {
        let now = self.seconds(Instant::now());
        self.switch_at(kind, now);
    }

    /// The task under way enters phase `kind` at `at_s`.
    #[inline]
    pub fn switch_at(&mut self, kind: PhaseKind, at_s: f64) {
        if let Some((task, lane, _, _)) = self.open {
            self.end(at_s);
            self.open = Some((task, lane, kind, at_s));
        }
    }

    /// The task under way ends at `at_s`.
    #[inline]
    pub fn end(&mut self, at_s: f64) {
        if let Some((task, lane, kind, start_s)) = self.open.take()
            && at_s - start_s >= SHORTEST_S
        {
            self.phases.push(Phase {
                task,
                lane,
                kind,
                start_s,
                end_s: at_s,
            });
        }
    }
}

impl Drop for PhaseLog<'_> {
    fn drop(&mut self) {
        if !self.phases.is_empty() {
            let mut all = self.sink.phases.lock().unwrap_or_else(|e| e.into_inner());
            all.append(&mut self.phases);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_each_other_and_reach_the_sink_when_the_log_is_dropped() {
        let sink = PhaseSink::new(Instant::now());
        let mut log = PhaseLog::new(&sink);
        log.begin(3, 1, PhaseKind::Held, 0.0);
        log.switch_at(PhaseKind::LockWait, 1.0);
        log.switch_at(PhaseKind::Held, 1.0 + 1e-9);
        log.end(2.0);
        log.switch_at(PhaseKind::Wait, 3.0);
        assert!(sink.take().is_empty(), "kept by the thread until dropped");
        drop(log);
        let kinds: Vec<(PhaseKind, f64, f64)> = sink
            .take()
            .iter()
            .map(|p| (p.kind, p.start_s, p.end_s))
            .collect();
        assert_eq!(
            kinds,
            [
                (PhaseKind::Held, 0.0, 1.0),
                // The nanosecond of lock_wait is dropped; nothing follows the task's end.
                (PhaseKind::Held, 1.0 + 1e-9, 2.0),
            ]
        );
        for k in PhaseKind::ALL {
            assert_eq!(PhaseKind::parse(k.as_str()), Some(k));
        }
    }

    /// The cost of one phase as `Worker` pays it: a clock read and a push. Printed, not
    /// asserted (timing decides no test); the README quotes it.
    #[test]
    fn cost_per_phase() {
        let sink = PhaseSink::new(Instant::now());
        let mut log = PhaseLog::new(&sink);
        log.begin(0, 0, PhaseKind::Held, 0.0);
        let n = 200_000;
        let t = Instant::now();
        for i in 0..n {
            // Spaced so that none is dropped as too short: the push is always paid.
            let at = log.seconds(Instant::now()) + i as f64 * 1e-5;
            log.switch_at(
                if i % 2 == 0 {
                    PhaseKind::LockWait
                } else {
                    PhaseKind::Held
                },
                at,
            );
        }
        let ns = t.elapsed().as_nanos() as f64 / n as f64;
        assert!(log.phases.len() >= n - 1);
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(Instant::now());
        }
        let clock_ns = t.elapsed().as_nanos() as f64 / n as f64;
        println!(
            "cost per phase: {ns:.1} ns ({n} phases), of which {clock_ns:.1} ns reading the clock"
        );
    }
}
