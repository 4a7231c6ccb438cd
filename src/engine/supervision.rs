//! The embedded HTTP server an experiment's cells talk to: started once for the
//! experiment when a cell needs it, restarted between repetitions when it died.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::Prepared;
use crate::progress::Progress;
use crate::server::{ServerChild, ServerConfig};
use crate::workload::{BuildEnv, Workload};

pub(super) fn start_server(p: &Prepared<'_>) -> anyhow::Result<Option<ServerChild>> {
    let needed =
        (0..p.cells.len()).any(|c| p.schedule.wants_more(c) && p.cells[c].workload.needs_server());
    if !needed {
        return Ok(None);
    }
    let exe = crate::model::process_pool::executable()?;
    let server = ServerChild::spawn(&exe, &ServerConfig::default())
        .with_context(|| format!("{}: cannot start the embedded HTTP server", p.exp.name))?;
    Ok(Some(server))
}

/// Restarts the embedded server if it has exited (outside any measured time) and points
/// the workloads' environment at the new one; says so once, drops the workloads built
/// for the old one, and returns how the old one ended.
pub(super) fn restart_dead_server(
    server: &mut Option<ServerChild>,
    build_env: &mut BuildEnv,
    grace: Duration,
    (progress, experiment, workloads): (&Progress, &str, &mut HashMap<usize, Arc<dyn Workload>>),
) -> anyhow::Result<Option<String>> {
    let Some(why) = server.as_mut().and_then(|s| s.exited_within(grace)) else {
        return Ok(None);
    };
    progress.note(&format!(
        "{experiment}: the embedded server exited ({why}); restarted it"
    ));
    workloads.clear();
    let exe = crate::model::process_pool::executable()?;
    let fresh = ServerChild::spawn(&exe, &ServerConfig::default())
        .context("cannot restart the embedded HTTP server")?;
    build_env.server_url = Some(fresh.base_url().to_string());
    *server = Some(fresh);
    Ok(Some(why))
}
