//! `conclab run`: every selected cell of every experiment, measured, verified and written
//! as it finishes; cells that already have their repetitions are skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::ideal::ideal_seconds;
use crate::measure::{self, CpuTimes};
use crate::model::supervisor::{GRACE, OwnedJob, Supervised, supervise};
use crate::progress::Progress;
use crate::report;
use crate::results::environment::Environment;
use crate::results::runs::{self, RunRow};
use crate::results::summary;
use crate::results::tasks::TasksFile;
use crate::results::{archive, csv_file::AppendCsv};
use crate::selection::{Filter, Shard, check_filters, select};
use crate::server::{ServerChild, ServerConfig};
use crate::spec::duration::format_duration;
use crate::spec::matrix::expand;
use crate::spec::{Cell, Experiment, Order};
use crate::workload::{
    BuildEnv, Calibration, Cancel, Check, TaskRecord, TaskResult, Verdict, Workload,
    WorkloadConfig, hash_chain,
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
    /// (index into `cells`, repetition number), in running order.
    schedule: Vec<(usize, u32)>,
}

pub fn run(experiments: &[Experiment], opts: &RunOptions) -> anyhow::Result<RunOutcome> {
    for exp in experiments {
        check_filters(exp, &opts.only).map_err(UsageError)?;
    }
    let env = Environment::detect();
    let mut prepared = Vec::new();
    for exp in experiments {
        prepared.push(prepare(exp, opts, &env)?);
    }
    let total: u64 = prepared
        .iter()
        .map(|p| p.schedule.len() as u64 + warmups(p))
        .sum();
    let cells: usize = prepared
        .iter()
        .map(|p| {
            p.schedule
                .iter()
                .map(|(c, _)| *c)
                .collect::<std::collections::HashSet<_>>()
                .len()
        })
        .sum();
    let mut progress = Progress::new(total, cells, opts.quiet);
    let ns_per_hash = hash_chain::calibrate_ns_per_hash();
    let mut outcome = RunOutcome::default();
    for p in &mut prepared {
        // One experiment that cannot run (its server would not start, a file cannot be
        // written) is reported and the others still run.
        let o = match run_experiment(p, opts, &env, ns_per_hash, &mut progress) {
            Ok(o) => o,
            Err(e) => {
                progress.note(&format!("error: {}: {e:#}", p.exp.name));
                RunOutcome {
                    failed: true,
                    interrupted: false,
                }
            }
        };
        outcome.failed |= o.failed;
        outcome.interrupted |= o.interrupted;
        if o.interrupted {
            break;
        }
    }
    progress.clear();
    Ok(outcome)
}

fn warmups(p: &Prepared<'_>) -> u64 {
    let mut seen = std::collections::HashSet::new();
    p.schedule.iter().filter(|(c, _)| seen.insert(*c)).count() as u64 * p.exp.warmup as u64
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
) -> anyhow::Result<Prepared<'e>> {
    let dir = opts.out.join(&exp.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
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
    std::fs::write(dir.join("experiment.toml"), exp.resolved_toml())
        .with_context(|| format!("cannot write {}", dir.display()))?;
    std::fs::write(
        dir.join("environment.json"),
        serde_json::to_string_pretty(env)? + "\n",
    )?;
    let cells = select(expand(exp), &opts.only, opts.shard);
    let counts = done_counts(&rows);
    let needed: Vec<(u32, u32)> = cells
        .iter()
        .map(|c| {
            let (done, last) = counts.get(c.id.as_str()).copied().unwrap_or((0, 0));
            (exp.repetitions.saturating_sub(done), last)
        })
        .collect();
    let mut schedule = Vec::new();
    match exp.order {
        Order::Grouped => {
            for (i, (n, last)) in needed.iter().enumerate() {
                schedule.extend((1..=*n).map(|k| (i, last + k)));
            }
        }
        Order::Interleaved => {
            let rounds = needed.iter().map(|(n, _)| *n).max().unwrap_or(0);
            for k in 1..=rounds {
                for (i, (n, last)) in needed.iter().enumerate() {
                    if k <= *n {
                        schedule.push((i, last + k));
                    }
                }
            }
        }
    }
    Ok(Prepared {
        exp,
        dir,
        cells,
        runs,
        rows,
        tasks,
        schedule,
    })
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
    let server = start_server(p)?;
    let build_env = BuildEnv {
        server_url: server.as_ref().map(|s| s.base_url().to_string()),
    };
    let mut workloads: HashMap<usize, Arc<dyn Workload>> = HashMap::new();
    let mut remaining: HashMap<usize, usize> = HashMap::new();
    for (c, _) in &p.schedule {
        *remaining.entry(*c).or_default() += 1;
    }
    // Results that must agree across models and runs of one workload configuration.
    let mut fingerprints: HashMap<String, (String, String)> = HashMap::new();
    let cell_by_id: HashMap<&str, &Cell> = p.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    for r in p.rows.iter().filter(|r| r.check == Check::Pass) {
        if let (Some(cell), Some(fp)) = (
            cell_by_id.get(r.cell.as_str()),
            r.detail.strip_prefix("digest "),
        ) {
            let fp: String = fp.chars().take(16).collect();
            fingerprints
                .entry(workload_key(cell))
                .or_insert((fp, cell.label()));
        }
    }
    let schedule = p.schedule.clone();
    for (ci, repetition) in schedule {
        if crate::signals::interrupted() {
            outcome.interrupted = true;
            break;
        }
        let cell = p.cells[ci].clone();
        let label = cell.label();
        let calibration = Calibration {
            ns_per_hash,
            request_latency_s: sequential_latency(&p.rows, &cell),
        };
        let workload = match workloads.get(&ci) {
            Some(w) => w.clone(),
            None => {
                let w = cell
                    .workload
                    .build(&build_env)
                    .with_context(|| format!("{label}: cannot set up the workload"))?;
                workloads.insert(ci, w.clone());
                for k in 1..=exp.warmup {
                    let what = format!("warm-up {k}/{}", exp.warmup);
                    progress.start(&exp.name, &label, &what);
                    let rep = measure_repetition(
                        &cell,
                        &w,
                        &build_env,
                        exp.timeout,
                        env.logical_cores,
                        &calibration,
                    );
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
                w
            }
        };
        let what = format!("rep {repetition}/{}", exp.repetitions);
        progress.start(&exp.name, &label, &what);
        let mut rep = measure_repetition(
            &cell,
            &workload,
            &build_env,
            exp.timeout,
            env.logical_cores,
            &calibration,
        );
        if rep.interrupted {
            outcome.interrupted = true;
            break;
        }
        if let Some(fp) = rep.verdict.fingerprint.clone() {
            match fingerprints.get(&workload_key(&cell)) {
                Some((want, by)) if *want != fp && rep.verdict.check == Check::Pass => {
                    rep.verdict = Verdict::fail(format!("digest {fp} differs from {want} ({by})"));
                }
                Some(_) => {}
                None if rep.verdict.check == Check::Pass => {
                    fingerprints.insert(workload_key(&cell), (fp, label.clone()));
                }
                None => {}
            }
        }
        let row = rep.row(exp, &cell, repetition, &env.host);
        p.runs.append(&row.columns())?;
        if !p.tasks.recorded.contains(&cell.id) {
            p.tasks.append(&cell, &rep.records)?;
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
        p.rows.push(row);
        if rep.abandoned {
            // The abandoned model still uses it: the next repetition gets a fresh one.
            workloads.remove(&ci);
        }
        let left = remaining.get_mut(&ci).expect("scheduled");
        *left -= 1;
        if *left == 0 {
            p.runs.sync_data()?;
            p.tasks.sync_data()?;
            progress.cell_done();
            workloads.remove(&ci);
        }
    }
    let summary = write_summary(exp, &p.dir, &p.rows, env.logical_cores)?;
    if !outcome.interrupted {
        progress.clear();
    }
    report::print_summary(&exp.name, &summary, env.logical_cores);
    if opts.charts && !outcome.interrupted {
        outcome.failed |= !render_charts(&p.dir, exp);
    }
    Ok(outcome)
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
    let needed = p
        .schedule
        .iter()
        .any(|(c, _)| matches!(&p.cells[*c].workload, WorkloadConfig::Http(h) if h.urls.is_none()));
    if !needed {
        return Ok(None);
    }
    let exe = crate::model::process_pool::executable()?;
    let server = ServerChild::spawn(&exe, &ServerConfig::default())
        .with_context(|| format!("{}: cannot start the embedded HTTP server", p.exp.name))?;
    Ok(Some(server))
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
    pub verdict: Verdict,
    pub ideal_s: Option<f64>,
    pub started_at: String,
    pub interrupted: bool,
    /// The model did not stop after its cancel and still runs, detached, on `workload`.
    pub abandoned: bool,
}

impl Repetition {
    fn row(&self, exp: &Experiment, cell: &Cell, repetition: u32, host: &str) -> RunRow {
        let mut durations: Vec<f64> = self
            .records
            .iter()
            .filter(|r| r.result.ok)
            .map(|r| r.end_s - r.start_s)
            .collect();
        durations.sort_by(f64::total_cmp);
        let ok = self.records.iter().filter(|r| r.result.ok).count();
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
) -> Repetition {
    let tasks = workload.tasks();
    let ideal_s = cell
        .workload
        .cost(calibration)
        .map(|cost| ideal_seconds(cell.model, cell.workers, tasks, cost, cores));
    workload.start_repetition();
    measure::reset_peak_rss();
    let cancel = Cancel::new();
    let started_at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let (cpu0, children0) = (measure::cpu_self(), measure::cpu_children());
    let epoch = Instant::now();
    let job = OwnedJob {
        workload: workload.clone(),
        workers: cell.workers,
        settings: cell.settings.clone(),
        cancel: cancel.clone(),
        epoch,
        env: env.clone(),
    };
    let Supervised {
        result,
        wall,
        timed_out,
        abandoned,
    } = supervise(cell.model, job, timeout, GRACE);
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
        verdict,
        ideal_s,
        started_at,
        interrupted,
        abandoned,
    }
}
