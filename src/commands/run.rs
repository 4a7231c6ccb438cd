//! `conclab run`: every selected cell of every experiment, measured, verified and written
//! as it finishes; cells that already have their repetitions are skipped.

use std::path::PathBuf;

use crate::engine::{Measured, Prepared, Selected, prepare, run_experiment};
use crate::error::UsageError;
use crate::experiment::Experiment;
use crate::machine::Watch;
use crate::progress::Progress;
use crate::report;
use crate::results::claims;
use crate::results::environment::{Environment, check_same_machine, row_hosts};
use crate::results::experiment_results::ExperimentResults;
use crate::results::files;
use crate::results::lock::lock;
use crate::results::outputs::{write_all, write_index};
use crate::selection::{Filter, Shard, check_filters};
use crate::workload::hash_chain;

/// The run's settings, free of the command-line parser.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub out: PathBuf,
    pub only: Vec<Filter>,
    pub fresh: bool,
    pub charts: bool,
    pub shard: Option<Shard>,
    pub quiet: bool,
    /// Resume a folder measured on another machine, keeping each machine apart.
    pub by_host: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct RunOutcome {
    /// Some cell failed a check, errored or timed out; or a chart could not be drawn.
    pub failed: bool,
    pub interrupted: bool,
    /// Some claim fails (not merely unclear): exit 1 under `run --strict`.
    pub claims_failed: bool,
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
    // Rows of another machine are never pooled with this one's: checked for every folder
    // before anything is written to any.
    if !opts.fresh {
        for exp in experiments {
            let dir = opts.out.join(&exp.name);
            check_same_machine(&dir, &env, row_hosts(&dir.join(files::RUNS)), opts.by_host)?;
        }
    }
    let mut prepared = Vec::new();
    for (exp, lock) in experiments.iter().zip(locks) {
        let selected = Selected {
            out: &opts.out,
            only: &opts.only,
            shard: opts.shard,
            fresh: opts.fresh,
            by_host: opts.by_host,
        };
        prepared.push(prepare(exp, &selected, &env, lock)?);
    }
    let total: u64 = prepared
        .iter()
        .map(|p| p.schedule.least_remaining() + p.warmups())
        .sum();
    let cells: usize = prepared.iter().map(|p| p.schedule.cells_to_run()).sum();
    let mut progress = Progress::new(total, cells, opts.quiet);
    // The machine is watched only where it decides figures: cells that compute.
    let watching = prepared.iter().any(Prepared::computes);
    let mut watch = Watch::new(env.logical_cores);
    if watching {
        progress.note("probing the machine (hash rate, capacity of its cores)");
        watch.probe("start");
    }
    let mut outcome = RunOutcome::default();
    for (i, p) in prepared.iter_mut().enumerate() {
        if watching && i > 0 && p.computes() {
            watch.probe("between");
        }
        let ns_per_hash = watch
            .best_ns_per_hash()
            .unwrap_or_else(hash_chain::calibrate_ns_per_hash);
        // One experiment that cannot run (its server would not start, a file cannot be
        // written) is reported and the others still run.
        let o = match run_experiment(p, &env, ns_per_hash, &mut progress)
            .and_then(|measured| finish(p, opts, &env, measured, &mut progress))
        {
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
            env.record(&p.dir)?;
        }
        if let Some(w) = watch.warning() {
            report::say(&format!("\nwarning: {w}"));
        }
    }
    if let Err(e) = write_index(&opts.out) {
        eprintln!("error: {e:#}");
        outcome.failed = true;
    }
    Ok(outcome)
}

/// Makes the outputs of an experiment whose repetitions have run: the summary of every
/// row, the table, the charts (unless interrupted or not wanted), claims and report.md.
fn finish(
    p: &Prepared<'_>,
    opts: &RunOptions,
    env: &Environment,
    measured: Measured,
    progress: &mut Progress,
) -> anyhow::Result<RunOutcome> {
    let exp = p.exp;
    let results =
        ExperimentResults::from_runs(exp, &p.dir, p.rows.clone(), Some(env.clone()), opts.by_host)?;
    if !measured.interrupted {
        progress.clear();
    }
    let command = format!(
        "conclab run {} --out {}",
        exp.path.display(),
        opts.out.display()
    );
    let charts = (opts.charts && !measured.interrupted).then(|| crate::chart::ChartOptions {
        timeline_workers: exp.chart.timeline_workers,
        ..Default::default()
    });
    let all_made = write_all(&super::outputs(charts, false, command), &results, true)?;
    Ok(RunOutcome {
        // A cell can fail only in the summary: its digest passed alone but not beside
        // the others.
        failed: measured.failed || !all_made || results.summary.iter().any(|s| s.check.failed()),
        interrupted: measured.interrupted,
        claims_failed: results
            .claims
            .iter()
            .any(|v| v.verdict == claims::Verdict::Fails),
    })
}
