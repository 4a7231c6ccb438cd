//! `async_blocking`: the classic mistake, async tasks making blocking calls on one event loop.

use super::async_loop::run_on_event_loop;
use super::descriptor::{Descriptor, Rgb, RustModel, Workers};
use super::{Concurrency, Execution, Job, Scheduler};

pub static MODEL: RustModel = RustModel {
    // A blocking wait holds the only event-loop thread: waits are serial.
    about: Descriptor::conclab(
        Workers::Taken,
        |_, _| Concurrency { waits: 1, cpu: 1 },
        Rgb(160, 140, 0),
    ),
    scheduler: &AsyncBlocking,
};

pub struct AsyncBlocking;

impl Scheduler for AsyncBlocking {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        run_on_event_loop(job, true)
    }
}
