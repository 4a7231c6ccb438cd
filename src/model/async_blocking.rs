//! `async_blocking`: the classic mistake, async tasks making blocking calls on one event loop.

use super::descriptor::{Descriptor, Family, Needs, Rgb, RustModel, Workers};
use super::async_loop::run_on_event_loop;
use super::{Concurrency, Execution, Job, Scheduler};

pub static MODEL: RustModel = RustModel {
    about: Descriptor {
        family: Family::Conclab,
        workers: Workers::Taken,
        // A blocking wait holds the only event-loop thread: waits are serial.
        concurrency: |_, _| Concurrency { waits: 1, cpu: 1 },
        waits_async: false,
        colour: Rgb(160, 140, 0),
        records_phases: false,
        needs: Needs::Nothing,
        settings: &[],
    },
    scheduler: &AsyncBlocking,
};

pub struct AsyncBlocking;

impl Scheduler for AsyncBlocking {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        run_on_event_loop(job, true)
    }
}
