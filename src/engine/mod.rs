//! The run loop: an experiment's results folder opened, its cells' repetitions run in
//! the schedule's order, each verified and appended as it finishes.

mod repetition;
pub mod schedule;
mod supervision;

pub use repetition::{Repetition, measure_repetition};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::experiment::expand::expand;
use crate::experiment::{Cell, Experiment};
use crate::model::ModelKind;
use crate::progress::Progress;
use crate::report;
use crate::results::environment::Environment;
use crate::results::files::Folder;
use crate::results::lock::FolderLock;
use crate::results::phases::PhasesFile;
use crate::results::runs::{self, RunRow};
use crate::results::tasks::TasksFile;
use crate::results::{archive, atomic, csv_file::AppendCsv};
use crate::selection::{Filter, Shard, select};
use crate::workload::{BuildEnv, Calibration, Check, Verdict, Workload};
use schedule::Schedule;
use supervision::{restart_dead_server, start_server};

/// Which cells to run and how: the part of the run's settings the loop needs.
#[derive(Debug, Clone)]
pub struct Selected<'o> {
    pub out: &'o std::path::Path,
    pub only: &'o [Filter],
    pub shard: Option<Shard>,
    /// Archive the folder's results first and start afresh.
    pub fresh: bool,
    /// The folder keeps machines apart: only this machine's rows count towards its cells.
    pub by_host: bool,
}

/// How an experiment's repetitions went.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Some repetition failed a check, errored or timed out.
    pub failed: bool,
    pub interrupted: bool,
}

/// One experiment ready to run: its files open and its schedule drawn up.
pub struct Prepared<'e> {
    pub exp: &'e Experiment,
    pub dir: PathBuf,
    pub cells: Vec<Cell>,
    runs: AppendCsv,
    /// Every row of runs.csv: those found there, then those this run appended.
    pub rows: Vec<RunRow>,
    tasks: TasksFile,
    phases: PhasesFile,
    /// Which repetition of which cell runs next.
    pub schedule: Schedule,
    /// This run is the folder's only writer while it holds this.
    _lock: FolderLock,
}

impl Prepared<'_> {
    /// The warm-ups still to run: each cell that runs gets them once.
    pub fn warmups(&self) -> u64 {
        self.schedule.cells_to_run() as u64 * self.exp.warmup as u64
    }

    /// Whether some cell still to run computes: only then is the machine watched.
    pub fn computes(&self) -> bool {
        (0..self.cells.len())
            .any(|c| self.schedule.wants_more(c) && self.cells[c].workload.hashes().is_some())
    }
}

/// Opens the experiment's results folder (locked by the caller), writes its
/// experiment.toml and environment.json, and draws up the schedule of what is left.
pub fn prepare<'e>(
    exp: &'e Experiment,
    opts: &Selected<'_>,
    env: &Environment,
    lock: FolderLock,
) -> anyhow::Result<Prepared<'e>> {
    let dir = opts.out.join(&exp.name);
    let folder = Folder::new(&dir);
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
    let (runs, rows) = runs::open(&folder.runs(), &axes)?;
    let tasks = TasksFile::open(&folder.tasks(), &axes)?;
    let phases = PhasesFile::open(&folder.phases(), &axes)?;
    atomic::write(&folder.experiment(), exp.resolved_toml().as_bytes())?;
    env.record(&dir)?;
    let cells = skip_without_interpreter(exp, select(expand(exp), opts.only, opts.shard));
    let existing = cells
        .iter()
        .map(|c| {
            let mine = rows
                .iter()
                .filter(|r| r.cell == c.id && (!opts.by_host || r.host == env.host_id));
            let last = mine.clone().map(|r| r.repetition).max().unwrap_or(0);
            let walls = mine
                .filter(|r| r.check != Check::Fail)
                .map(|r| r.wall_s)
                .collect();
            (walls, last)
        })
        .collect();
    let mut schedule = Schedule::new(exp.order, exp.repetitions, existing);
    schedule.decide_claims(&schedule::claimed(&exp.claims, &cells, &exp.baselines()));
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
    let why = |c: &Cell| c.model.unavailable(&exp.settings);
    let skipped = cells.iter().filter(|c| why(c).is_some()).count();
    let Some(missing) = cells.iter().find_map(why) else {
        return cells;
    };
    eprintln!(
        "{}: {}: skipping {skipped} {}; {}",
        exp.name, missing.what, missing.cells, missing.fix
    );
    cells.into_iter().filter(|c| why(c).is_none()).collect()
}

/// Runs the experiment's scheduled repetitions, appending each row as it finishes.
pub fn run_experiment(
    p: &mut Prepared<'_>,
    env: &Environment,
    ns_per_hash: f64,
    progress: &mut Progress,
) -> anyhow::Result<Measured> {
    let exp = p.exp;
    let mut outcome = Measured::default();
    // The embedded server runs as a child process, outside the measured time, for the
    // whole experiment; dropping the handle stops it on every way out of this function.
    let mut server = start_server(p)?;
    let mut build_env = BuildEnv {
        server_url: server.as_ref().map(|s| s.base_url().to_string()),
    };
    let mut workloads: HashMap<usize, Arc<dyn Workload>> = HashMap::new();
    let mut warmed: std::collections::HashSet<usize> = Default::default();
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
        // Whether a digest is right is decided with every model's repetitions in, by
        // the summary: until then a passing digest is only provisionally so.
        let provisional = if row.fingerprint.is_some() {
            " (digest provisional)"
        } else {
            ""
        };
        progress.finish(
            &exp.name,
            &label,
            &what,
            &format!(
                "{} {}{provisional}",
                report::seconds(row.wall_s),
                row.check.as_str()
            ),
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
    Ok(outcome)
}

/// The median single-request time of the sequential cell with the same axis values: the
/// wait the ideal bound assumes for real URLs.
fn sequential_latency(rows: &[RunRow], cell: &Cell) -> Option<f64> {
    let p50: Vec<f64> = rows
        .iter()
        .filter(|r| r.model == ModelKind::Sequential.name())
        .filter(|r| r.axes == cell.axes && r.check != Check::Fail)
        .filter_map(|r| r.task_p50_s)
        .collect();
    crate::results::stats::median(&p50)
}
