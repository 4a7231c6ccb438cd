//! `async_blocking`: the classic mistake, async tasks making blocking calls on one event loop.

use super::async_loop::run_on_event_loop;
use super::{Execution, Job, Scheduler};

pub struct AsyncBlocking;

impl Scheduler for AsyncBlocking {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        run_on_event_loop(job, true)
    }
}
