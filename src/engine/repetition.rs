//! One repetition of a cell: its tasks run under the model with the timeout, timed,
//! verified, and turned into a runs.csv row.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::duration::format_duration;
use crate::experiment::{Cell, Experiment};
use crate::ideal;
use crate::measure::{self, CpuTimes};
use crate::model::supervisor::{GRACE, OwnedJob, Supervised, supervise};
use crate::results::cell::CellId;
use crate::results::runs::RunRow;
use crate::workload::{
    BuildEnv, Calibration, Cancel, Check, Phase, PhaseSink, TaskRecord, TaskResult, Verdict,
    Workload,
};

/// One measured repetition, before it becomes a row.
pub struct Repetition {
    pub wall_s: f64,
    pub setup_s: f64,
    pub cpu: CpuTimes,
    pub peak_rss_kib: Option<u64>,
    pub records: Vec<TaskRecord>,
    /// What each task was doing, when this repetition recorded it; by task and start.
    pub phases: Vec<Phase>,
    pub verdict: Verdict,
    pub ideal_s: Option<f64>,
    pub started_at: String,
    pub interrupted: bool,
    /// The model did not stop after its cancel and still runs, detached, on `workload`.
    pub abandoned: bool,
    /// What ran the tasks (see [`RunRow::implementation`]).
    pub implementation: String,
}

impl Repetition {
    pub(super) fn row(
        &self,
        exp: &Experiment,
        cell: &Cell,
        repetition: u32,
        host: &str,
        ns_per_hash: f64,
    ) -> RunRow {
        let mut durations: Vec<f64> = self
            .records
            .iter()
            .filter(|r| r.result.ok)
            .map(|r| r.end_s - r.start_s)
            .collect();
        durations.sort_by(f64::total_cmp);
        let ok = self.records.iter().filter(|r| r.result.ok).count();
        let busy: f64 = self.records.iter().map(|r| r.end_s - r.start_s).sum();
        // The work is known only when every task did all of it. Another program's hashing
        // is no measure of the cores against conclab's calibration (CPython pays its
        // interpreter on every step), so external cells get no core speed.
        let hashes = cell
            .workload
            .hashes()
            .filter(|_| ok == self.records.len() && !cell.model.is_external());
        RunRow {
            id: CellId {
                experiment: exp.name.clone(),
                cell: cell.id.clone(),
                workload: cell.workload.kind().to_string(),
                model: cell.model.name().to_string(),
                workers: cell.workers,
                axes: cell.axes.clone(),
            },
            repetition,
            wall_s: self.wall_s,
            setup_s: self.setup_s,
            user_s: self.cpu.user_s,
            sys_s: self.cpu.sys_s,
            peak_rss_kib: self.peak_rss_kib,
            tasks: self.records.len(),
            ok,
            failed: self.records.len() - ok,
            check: self.verdict.check,
            fingerprint: self
                .verdict
                .fingerprint
                .clone()
                .filter(|_| self.verdict.check == Check::Pass),
            detail: self.verdict.detail.clone(),
            ideal_s: self.ideal_s.filter(|i| *i > 0.0),
            task_p50_s: measure::quantile(&durations, 0.5),
            task_p99_s: measure::quantile(&durations, 0.99),
            started_at: self.started_at.clone(),
            host: host.to_string(),
            in_flight: (self.wall_s > 0.0).then(|| busy / self.wall_s),
            hashes,
            calibrated_ns_per_hash: hashes.map(|_| ns_per_hash),
            implementation: self.implementation.clone(),
        }
    }
}

/// Runs every task of `cell` once under its model, with the timeout, and verifies the result.
pub fn measure_repetition(
    cell: &Cell,
    workload: &Arc<dyn Workload>,
    env: &BuildEnv,
    timeout: Duration,
    cores: usize,
    calibration: &Calibration,
    record_phases: bool,
) -> Repetition {
    let tasks = workload.tasks();
    let ideal_s = ideal::of_cell(cell, calibration, cores);
    workload.start_repetition();
    measure::reset_peak_rss();
    let cancel = Cancel::new();
    let started_at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let (cpu0, children0) = (measure::cpu_self(), measure::cpu_children());
    let epoch = Instant::now();
    let phases = record_phases.then(|| Arc::new(PhaseSink::new(epoch)));
    let job = OwnedJob {
        workload: workload.clone(),
        workers: cell.workers,
        settings: cell.settings.clone(),
        cancel: cancel.clone(),
        epoch,
        env: env.clone(),
        phases: phases.clone(),
    };
    let Supervised {
        result,
        wall,
        timed_out,
        abandoned,
    } = supervise(cell.model.clone(), job, timeout, GRACE);
    let interrupted = crate::signals::interrupted();
    let mut cpu = measure::cpu_self().since(cpu0);
    let mut peak = measure::peak_rss_kib();
    let (execution, error) = match result {
        Ok(e) => (e, None),
        Err(e) => (Default::default(), Some(format!("{e:#}"))),
    };
    cpu = cpu.plus(
        execution
            .children
            .unwrap_or_else(|| measure::cpu_children().since(children0)),
    );
    if let Some(child) = execution.children_peak_rss_kib {
        peak = Some(peak.unwrap_or(0).max(child));
    }
    // An external program's start-up and exit are no part of the measured time.
    let wall = wall.saturating_sub(execution.unmeasured);
    let implementation = match execution.implementation {
        Some(said) => said,
        None if cell.model.is_external() => String::new(),
        None => crate::results::runs::conclab_implementation(),
    };
    let mut records = execution.records;
    records.sort_by_key(|r| r.task);
    records.dedup_by_key(|r| r.task);
    let why_missing = if timed_out {
        "not run: timeout"
    } else {
        "not run"
    };
    if records.len() < tasks {
        let at = wall.as_secs_f64();
        let mut full: Vec<TaskRecord> = Vec::with_capacity(tasks);
        let mut it = records.into_iter().peekable();
        for task in 0..tasks {
            match it.peek() {
                Some(r) if r.task == task => full.push(it.next().expect("peeked")),
                _ => full.push(TaskRecord {
                    task,
                    lane: 0,
                    start_s: at,
                    end_s: at,
                    result: TaskResult::error(why_missing),
                }),
            }
        }
        records = full;
    }
    let verdict = match (error, timed_out) {
        (Some(e), _) => Verdict::fail(e),
        (None, true) => Verdict::fail(format!(
            "timeout after {} ({} of {tasks} tasks finished)",
            format_duration(timeout),
            records.iter().filter(|r| r.result.ok).count()
        )),
        (None, false) => workload.verify(&records),
    };
    // A repetition stopped by the timeout took at least the timeout: that, not the moment
    // the supervisor gave up, is what its cell's statistics count.
    let wall_s = if timed_out {
        timeout.as_secs_f64()
    } else {
        wall.as_secs_f64()
    };
    Repetition {
        wall_s,
        setup_s: execution.setup.as_secs_f64(),
        cpu,
        peak_rss_kib: peak,
        records,
        // An abandoned model's threads may still hold theirs: those are lost.
        phases: phases.map(|s| s.take()).unwrap_or_default(),
        verdict,
        ideal_s,
        started_at,
        interrupted,
        abandoned,
        implementation,
    }
}
