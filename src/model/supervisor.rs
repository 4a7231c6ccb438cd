//! One repetition's model thread, watched: a panic fails the repetition at once, and the
//! timeout bounds how long anyone waits for it.
//!
//! The model runs on a thread of its own that owns everything it uses, so the runner can
//! leave it behind: after the timeout the repetition is cancelled, and a model that has
//! not stopped within a grace period is abandoned (detached, still cancelled) and the run
//! goes on. An abandoned thread may keep a core busy until it reaches its next
//! cancellation check, which can slow the next cells; the row says what happened.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use super::ModelSettings;
use super::{Execution, Job, Model, panic_message};
use crate::duration::format_duration;
use crate::workload::{BuildEnv, Cancel, PhaseSink, Workload};

/// How long a cancelled model may take to stop before it is abandoned. Waits notice a
/// cancel within 100 ms and CPU work within microseconds; this leaves room for a
/// process pool to reap its children on a loaded machine.
pub const GRACE: Duration = Duration::from_secs(2);

/// How often the wait looks at the clock and at signals.
const POLL: Duration = Duration::from_millis(100);

/// A [`Job`] that owns its parts, so that the thread running it can outlive the wait.
pub struct OwnedJob {
    pub workload: Arc<dyn Workload>,
    pub workers: usize,
    pub settings: ModelSettings,
    pub cancel: Cancel,
    pub epoch: Instant,
    pub env: BuildEnv,
    /// Set in the repetition whose phases are recorded.
    pub phases: Option<Arc<PhaseSink>>,
}

impl OwnedJob {
    pub fn job(&self) -> Job<'_> {
        Job {
            workload: &self.workload,
            workers: self.workers,
            settings: &self.settings,
            cancel: &self.cancel,
            epoch: self.epoch,
            env: &self.env,
            phases: self.phases.as_deref(),
        }
    }
}

/// How one supervised repetition ended.
#[derive(Debug)]
pub struct Supervised {
    pub result: anyhow::Result<Execution>,
    /// From the job's epoch until the model returned (or was abandoned).
    pub wall: Duration,
    /// The timeout passed and the repetition was cancelled.
    pub timed_out: bool,
    /// The model did not stop within the grace period after its cancel and was left
    /// running; `result` is an error saying so.
    pub abandoned: bool,
}

/// Runs `model` on `job` on a thread of its own and waits at most `timeout` for it, then
/// cancels it and waits at most `grace` more. A signal (see [`crate::signals`]) cancels
/// every task itself; the wait then also ends within `grace`.
pub fn supervise(
    model: impl Into<Model>,
    job: OwnedJob,
    timeout: Duration,
    grace: Duration,
) -> Supervised {
    let model = model.into();
    let scheduler = model.scheduler();
    let kind = model.name().to_string();
    let (tx, rx) = channel();
    let (epoch, cancel) = (job.epoch, job.cancel.clone());
    let spawned = std::thread::Builder::new().name("model".into()).spawn({
        let kind = kind.clone();
        move || {
            let result = catch_unwind(AssertUnwindSafe(|| scheduler.run(&job.job())))
                .unwrap_or_else(|payload| {
                    Err(anyhow::anyhow!(
                        "the {kind} model {}",
                        panic_message(payload.as_ref())
                    ))
                });
            let _ = tx.send((result, epoch.elapsed()));
        }
    });
    if let Err(e) = spawned {
        return Supervised {
            result: Err(anyhow::anyhow!("cannot start the model thread: {e}")),
            wall: epoch.elapsed(),
            timed_out: false,
            abandoned: false,
        };
    }
    let deadline = epoch.checked_add(timeout);
    let mut timed_out = false;
    // Set once the model has been asked to stop: the moment it is abandoned.
    let mut give_up: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let until = give_up.or(deadline).unwrap_or(now + POLL);
        match rx.recv_timeout(until.saturating_duration_since(now).min(POLL)) {
            Ok((result, wall)) => {
                return Supervised {
                    result,
                    wall,
                    timed_out,
                    abandoned: false,
                };
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Supervised {
                    result: Err(anyhow::anyhow!("the {kind} model ended without a result")),
                    wall: epoch.elapsed(),
                    timed_out,
                    abandoned: false,
                };
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        match give_up {
            None if deadline.is_some_and(|d| now >= d) => {
                timed_out = true;
                cancel.set();
                give_up = Some(now + grace);
            }
            None if crate::signals::interrupted() => give_up = Some(now + grace),
            Some(at) if now >= at => {
                let why = if timed_out {
                    format!("timeout after {}; ", format_duration(timeout))
                } else {
                    "interrupted; ".to_string()
                };
                return Supervised {
                    result: Err(anyhow::anyhow!(
                        "{why}the {kind} model did not stop within {} of its cancel and was left running",
                        format_duration(grace)
                    )),
                    wall: epoch.elapsed(),
                    timed_out,
                    abandoned: true,
                };
            }
            _ => {}
        }
    }
}
