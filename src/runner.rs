//! `conclab run`: every selected cell of every experiment, measured, verified and written
//! as it finishes; cells that already have their repetitions are skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::experiment::duration::format_duration;
use crate::experiment::matrix::expand;
use crate::experiment::{Cell, Experiment};
use crate::ideal;
use crate::machine::Watch;
use crate::measure::{self, CpuTimes};
use crate::model::Model;
use crate::model::supervisor::{GRACE, OwnedJob, Supervised, supervise};
use crate::progress::Progress;
use crate::report;
use crate::results::claims::{self, ClaimResult};
use crate::results::digests::{Ballot, fingerprint_of};
use crate::results::environment::Environment;
use crate::results::lock::{FolderLock, lock};
use crate::results::phases::PhasesFile;
use crate::results::report_md;
use crate::results::runs::{self, RunRow};
use crate::results::summary;
use crate::results::tasks::TasksFile;
use crate::results::{archive, csv_file::AppendCsv};
use crate::schedule::Schedule;
use crate::selection::{Filter, Shard, check_filters, select};
use crate::server::{ServerChild, ServerConfig};
use crate::workload::{
    BuildEnv, Calibration, Cancel, Check, Phase, PhaseSink, TaskRecord, TaskResult, Verdict,
    Workload, hash_chain,
};

/// The run's settings, free of the command-line parser.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub out: PathBuf,
    pub only: Vec<Filter>,
    pub fresh: bool,
    pub charts: bool,
    pub shard: Option<Shard>,
    pub quiet: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct RunOutcome {
    /// Some cell failed a check, errored or timed out; or a chart could not be drawn.
    pub failed: bool,
    pub interrupted: bool,
    /// Some claim fails (not merely unclear): exit 1 under `run --strict`.
    pub claims_failed: bool,
}

/// Bad command-line usage discovered after parsing (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// One experiment ready to run: its files open and its schedule drawn up.
struct Prepared<'e> {
    exp: &'e Experiment,
    dir: PathBuf,
    cells: Vec<Cell>,
    runs: AppendCsv,
    rows: Vec<RunRow>,
    tasks: TasksFile,
    phases: PhasesFile,
    /// Which repetition of which cell runs next.
    schedule: Schedule,
    /// This run is the folder's only writer while it holds this.
    _lock: FolderLock,
}

pub fn run(experiments: &[Experiment], opts: &RunOptions) -> anyhow::Result<RunOutcome> {
    for exp in experiments {
        check_filters(exp, &opts.only).map_err(UsageError)?;
    }
    // Every results folder is checked and locked before anything is written to any.
    let mut locks = Vec::new();
    for exp in experiments {
        locks.push(lock(&opts.out.join(&exp.name)).map_err(UsageError)?);
    }
    let env = Environment::detect();
    let mut prepared = Vec::new();
    for (exp, lock) in experiments.iter().zip(locks) {
        prepared.push(prepare(exp, opts, &env, lock)?);
    }
    let total: u64 = prepared
        .iter()
        .map(|p| p.schedule.least_remaining() + warmups(p))
        .sum();
    let cells: usize = prepared.iter().map(|p| p.schedule.cells_to_run()).sum();
    let mut progress = Progress::new(total, cells, opts.quiet);
    // The machine is watched only where it decides figures: cells that compute.
    let computes = |p: &Prepared<'_>| {
        (0..p.cells.len())
            .any(|c| p.schedule.wants_more(c) && p.cells[c].workload.hashes().is_some())
    };
    let watching = prepared.iter().any(computes);
    let mut watch = Watch::new(env.logical_cores);
    if watching {
        progress.note("probing the machine (hash rate, capacity of its cores)");
        watch.probe("start");
    }
    let mut outcome = RunOutcome::default();
    for (i, p) in prepared.iter_mut().enumerate() {
        if watching && i > 0 && computes(p) {
            watch.probe("between");
        }
        let ns_per_hash = watch
            .best_ns_per_hash()
            .unwrap_or_else(hash_chain::calibrate_ns_per_hash);
        // One experiment that cannot run (its server would not start, a file cannot be
        // written) is reported and the others still run.
        let o = match run_experiment(p, opts, &env, ns_per_hash, &mut progress) {
            Ok(o) => o,
            Err(e) => {
                progress.note(&format!("error: {}: {e:#}", p.exp.name));
                RunOutcome {
                    failed: true,
                    ..RunOutcome::default()
                }
            }
        };
        outcome.failed |= o.failed;
        outcome.claims_failed |= o.claims_failed;
        outcome.interrupted |= o.interrupted;
        if o.interrupted {
            break;
        }
    }
    progress.clear();
    if watching && !outcome.interrupted {
        watch.probe("end");
    }
    if watching {
        let env = Environment {
            samples: watch.samples().to_vec(),
            ..env.clone()
        };
        for p in &prepared {
            env.write(&p.dir)?;
        }
        if let Some(w) = watch.warning() {
            report::say(&format!("\nwarning: {w}"));
        }
    }
    if let Err(e) = report_md::write_index(&opts.out) {
        eprintln!("error: {e:#}");
        outcome.failed = true;
    }
    Ok(outcome)
}

fn warmups(p: &Prepared<'_>) -> u64 {
    p.schedule.cells_to_run() as u64 * p.exp.warmup as u64
}

/// Counts the repetitions a cell already has that count as done (passed or raced).
pub fn done_counts(rows: &[RunRow]) -> HashMap<&str, (u32, u32)> {
    let mut counts: HashMap<&str, (u32, u32)> = HashMap::new();
    for r in rows {
        let e = counts.entry(r.cell.as_str()).or_default();
        e.1 = e.1.max(r.repetition);
        if r.check != Check::Fail {
            e.0 += 1;
        }
    }
    counts
}

fn prepare<'e>(
    exp: &'e Experiment,
    opts: &RunOptions,
    env: &Environment,
    lock: FolderLock,
) -> anyhow::Result<Prepared<'e>> {
    let dir = opts.out.join(&exp.name);
    if opts.fresh {
        for moved in archive(&dir)? {
            eprintln!(
                "{}: archived previous results as {}",
                exp.name,
                moved.display()
            );
        }
    }
    let axes: Vec<String> = exp.axes.iter().map(|a| a.name.clone()).collect();
    let (runs, rows) = runs::open(&dir.join("runs.csv"), &axes)?;
    let tasks = TasksFile::open(&dir.join("tasks.csv"), &axes)?;
    let phases = PhasesFile::open(&dir.join("phases.csv"), &axes)?;
    std::fs::write(dir.join("experiment.toml"), exp.resolved_toml())
        .with_context(|| format!("cannot write {}", dir.display()))?;
    env.write(&dir)?;
    let cells = skip_without_interpreter(exp, select(expand(exp), &opts.only, opts.shard));
    let existing = cells
        .iter()
        .map(|c| {
            let mine = rows.iter().filter(|r| r.cell == c.id);
            let last = mine.clone().map(|r| r.repetition).max().unwrap_or(0);
            let walls = mine
                .filter(|r| r.check != Check::Fail)
                .map(|r| r.wall_s)
                .collect();
            (walls, last)
        })
        .collect();
    let schedule = Schedule::new(exp.order, exp.repetitions, existing);
    Ok(Prepared {
        _lock: lock,
        exp,
        dir,
        cells,
        runs,
        rows,
        tasks,
        phases,
        schedule,
    })
}

/// The cpython cells cannot run where their interpreter is missing: they are skipped
/// with one line, not failed, so a machine without Python still runs everything else.
fn skip_without_interpreter(exp: &Experiment, cells: Vec<Cell>) -> Vec<Cell> {
    let is_cpython = |c: &Cell| matches!(c.model, Model::Cpython(_));
    let skipped = cells.iter().filter(|c| is_cpython(c)).count();
    if skipped == 0 || crate::model::cpython::interpreter_found(&exp.settings) {
        return cells;
    }
    eprintln!(
        "{}: {} not found: skipping {skipped} cpython_* cells; set [models.cpython] python = \"/path/to/python3\"",
        exp.name, exp.settings.python
    );
    cells.into_iter().filter(|c| !is_cpython(c)).collect()
}

fn run_experiment(
    p: &mut Prepared<'_>,
    opts: &RunOptions,
    env: &Environment,
    ns_per_hash: f64,
    progress: &mut Progress,
) -> anyhow::Result<RunOutcome> {
    let exp = p.exp;
    let mut outcome = RunOutcome::default();
    // The embedded server runs as a child process, outside the measured time, for the
    // whole experiment; dropping the handle stops it on every way out of this function.
    let mut server = start_server(p)?;
    let mut build_env = BuildEnv {
        server_url: server.as_ref().map(|s| s.base_url().to_string()),
    };
    let mut workloads: HashMap<usize, Arc<dyn Workload>> = HashMap::new();
    let mut warmed: std::collections::HashSet<usize> = Default::default();
    // Results that must agree across models and runs of one workload configuration.
    let mut ballots: HashMap<String, Ballot> = HashMap::new();
    let cell_by_id: HashMap<&str, &Cell> = p.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    for r in p.rows.iter().filter(|r| r.check == Check::Pass) {
        if let (Some(cell), Some(fp)) = (cell_by_id.get(r.cell.as_str()), fingerprint_of(&r.detail))
        {
            ballots
                .entry(workload_key(cell))
                .or_default()
                .cast(&cell.id, cell.model.name(), fp);
        }
    }
    while let Some((ci, repetition)) = p.schedule.next_repetition() {
        if crate::signals::interrupted() {
            outcome.interrupted = true;
            break;
        }
        if p.schedule.beyond_estimate() {
            progress.extend(1);
        }
        let cell = p.cells[ci].clone();
        let label = cell.label();
        let calibration = Calibration {
            ns_per_hash,
            request_latency_s: sequential_latency(&p.rows, &cell),
        };
        // A server that died between repetitions is restarted before the next one.
        restart_dead_server(
            &mut server,
            &mut build_env,
            Duration::ZERO,
            (&*progress, &exp.name, &mut workloads),
        )?;
        let workload = match workloads.get(&ci) {
            Some(w) => w.clone(),
            None => {
                let w = cell
                    .workload
                    .build(&build_env)
                    .with_context(|| format!("{label}: cannot set up the workload"))?;
                workloads.insert(ci, w.clone());
                w
            }
        };
        let measure = |record_phases: bool| {
            measure_repetition(
                &cell,
                &workload,
                &build_env,
                exp.timeout,
                env.logical_cores,
                &calibration,
                record_phases,
            )
        };
        if warmed.insert(ci) {
            for k in 1..=exp.warmup {
                let what = format!("warm-up {k}/{}", exp.warmup);
                progress.start(&exp.name, &label, &what);
                let rep = measure(false);
                progress.finish(
                    &exp.name,
                    &label,
                    &what,
                    &format!(
                        "{} {}",
                        report::seconds(rep.wall_s),
                        rep.verdict.check.as_str()
                    ),
                );
            }
        }
        let what = format!("rep {repetition}/{}", exp.repetitions.describe());
        progress.start(&exp.name, &label, &what);
        // Phases only for the repetition whose timeline tasks.csv keeps.
        let record_phases =
            !p.tasks.recorded.contains(&cell.id) && crate::results::phases::worth_recording(&cell);
        let mut rep = measure(record_phases);
        if rep.interrupted {
            outcome.interrupted = true;
            break;
        }
        // The repetition that met a dead server fails for that reason, not its symptoms.
        // A dying process closes its sockets before its exit can be reaped, so a failed
        // repetition waits a moment for the exit to show.
        let grace = if rep.verdict.check == Check::Fail {
            Duration::from_millis(300)
        } else {
            Duration::ZERO
        };
        if let Some(why) = restart_dead_server(
            &mut server,
            &mut build_env,
            grace,
            (&*progress, &exp.name, &mut workloads),
        )? {
            rep.verdict = Verdict::fail(format!("embedded server exited ({why})"));
        }
        if let Some(fp) = rep.verdict.fingerprint.clone()
            && rep.verdict.check == Check::Pass
        {
            let ballot = ballots.entry(workload_key(&cell)).or_default();
            if let Err(why) = ballot.judge(&cell.id, cell.model.name(), &fp) {
                rep.verdict = Verdict::fail(format!("{}: {why}", cell.model.name()));
            }
        }
        let row = rep.row(exp, &cell, repetition, &env.host_id, ns_per_hash);
        p.runs.append(&row.columns())?;
        if !p.tasks.recorded.contains(&cell.id) {
            p.tasks.append(&cell, &rep.records)?;
            p.phases.append(&cell, &rep.phases)?;
        }
        if row.check == Check::Fail {
            outcome.failed = true;
            progress.note(&format!(
                "{}: {label} rep {repetition} failed: {}",
                exp.name, row.detail
            ));
        }
        progress.finish(
            &exp.name,
            &label,
            &what,
            &format!("{} {}", report::seconds(row.wall_s), row.check.as_str()),
        );
        if row.check != Check::Fail {
            p.schedule.record(ci, row.wall_s);
        }
        p.rows.push(row);
        if rep.abandoned {
            // The abandoned model still uses it: the next repetition gets a fresh one.
            workloads.remove(&ci);
        }
        if p.schedule.finished(ci) {
            p.runs.sync_data()?;
            p.tasks.sync_data()?;
            p.phases.sync_data()?;
            progress.cell_done();
            workloads.remove(&ci);
        }
    }
    let summary = write_summary(exp, &p.dir, &p.rows, env.logical_cores)?;
    // A cell can fail only in the summary: its digest passed alone but not beside the others.
    outcome.failed |= summary.iter().any(|s| s.check == Check::Fail);
    if !outcome.interrupted {
        progress.clear();
    }
    report::print_summary(&exp.name, &summary, env.logical_cores);
    if opts.charts && !outcome.interrupted {
        outcome.failed |= !render_charts(&p.dir, exp);
    }
    let command = format!(
        "conclab run {} --out {}",
        exp.path.display(),
        opts.out.display()
    );
    let verdicts = write_findings(exp, &p.dir, &summary, Some(env), command)?;
    outcome.claims_failed |= verdicts.iter().any(|v| v.verdict == claims::Verdict::Fails);
    Ok(outcome)
}

/// Judges the claims against the summary and writes claims.csv and report.md (with the
/// charts on disk); prints the verdicts.
pub fn write_findings(
    exp: &Experiment,
    dir: &Path,
    summary: &[summary::SummaryRow],
    env: Option<&Environment>,
    command: String,
) -> anyhow::Result<Vec<ClaimResult>> {
    let verdicts = claims::judge_all(&exp.name, &exp.claims, summary);
    claims::write(&dir.join("claims.csv"), &verdicts)?;
    claims::print(&verdicts);
    let charts = report_md::charts_in(dir);
    let hosts = crate::rebuild::hosts_of(dir);
    report_md::Report {
        exp,
        summary,
        claims: &verdicts,
        charts: &charts,
        env,
        hosts: hosts.as_ref(),
        command,
    }
    .write(dir)?;
    Ok(verdicts)
}

/// Draws the experiment's charts; a failure is reported and makes the exit code 1, but
/// the CSV files are already written, so nothing is lost.
fn render_charts(dir: &Path, exp: &Experiment) -> bool {
    let opts = crate::chart::ChartOptions {
        timeline_workers: exp.chart.timeline_workers,
        ..Default::default()
    };
    match crate::chart::render_experiment(dir, &opts) {
        Ok(files) => {
            crate::report::say(&format!(
                "  charts: {} PNG files in {}",
                files.len(),
                dir.display()
            ));
            true
        }
        Err(e) => {
            eprintln!("error: {}: charts not drawn: {e:#}", exp.name);
            false
        }
    }
}

fn start_server(p: &Prepared<'_>) -> anyhow::Result<Option<ServerChild>> {
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
fn restart_dead_server(
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

/// Rewrites summary.csv from every row of the experiment's current cells.
pub fn write_summary(
    exp: &Experiment,
    dir: &Path,
    rows: &[RunRow],
    cores: usize,
) -> anyhow::Result<Vec<summary::SummaryRow>> {
    let ids: Vec<String> = expand(exp).into_iter().map(|c| c.id).collect();
    let axes: Vec<String> = exp.axes.iter().map(|a| a.name.clone()).collect();
    let s = summary::summarize(&ids, rows, cores);
    summary::write(&dir.join("summary.csv"), &axes, &s)?;
    Ok(s)
}

/// The median single-request time of the sequential cell with the same axis values: the
/// wait the ideal bound assumes for real URLs.
fn sequential_latency(rows: &[RunRow], cell: &Cell) -> Option<f64> {
    let p50: Vec<f64> = rows
        .iter()
        .filter(|r| r.model == "sequential" && r.axes == cell.axes && r.check != Check::Fail)
        .filter_map(|r| r.task_p50_s)
        .collect();
    crate::results::stats::median(&p50)
}

fn workload_key(cell: &Cell) -> String {
    serde_json::to_string(&cell.workload).unwrap_or_default()
}

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
}

impl Repetition {
    fn row(
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
            experiment: exp.name.clone(),
            cell: cell.id.clone(),
            workload: cell.workload.kind().to_string(),
            model: cell.model.name().to_string(),
            workers: cell.workers,
            axes: cell.axes.clone(),
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
            detail: self.verdict.detail.clone(),
            ideal_s: self.ideal_s.filter(|i| *i > 0.0),
            task_p50_s: measure::quantile(&durations, 0.5),
            task_p99_s: measure::quantile(&durations, 0.99),
            started_at: self.started_at.clone(),
            host: host.to_string(),
            in_flight: (self.wall_s > 0.0).then(|| busy / self.wall_s),
            hashes,
            calibrated_ns_per_hash: hashes.map(|_| ns_per_hash),
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
    Repetition {
        wall_s: wall.as_secs_f64(),
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
    }
}
