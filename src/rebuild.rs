//! Derived results rebuilt from CSV files alone: `conclab chart DIR` and `conclab merge`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::machine::Watch;
use crate::results::csv_file::{self, AppendCsv};
use crate::results::environment::{Environment, logical_cores};
use crate::results::{phases, runs, tasks};
use crate::spec::Experiment;

/// The experiment a results folder was produced by (its resolved `experiment.toml`).
pub fn experiment_of(dir: &Path) -> anyhow::Result<Experiment> {
    let file = dir.join("experiment.toml");
    if !file.is_file() {
        bail!(
            "{} is not a conclab results folder: it has no experiment.toml",
            dir.display()
        );
    }
    Ok(crate::spec::load(&file, &[])?)
}

fn environment_of(dir: &Path) -> Option<Environment> {
    std::fs::read_to_string(dir.join("environment.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Environment>(&t).ok())
}

/// Rewrites summary.csv of `dir` from its runs.csv and prints the table.
pub fn rebuild_summary(
    dir: &Path,
) -> anyhow::Result<(
    Experiment,
    Vec<crate::results::summary::SummaryRow>,
    Option<Environment>,
)> {
    let exp = experiment_of(dir)?;
    let path = dir.join("runs.csv");
    if !path.is_file() {
        bail!(
            "{} has no runs.csv: run the experiment first",
            dir.display()
        );
    }
    let (_, rows) = runs::read(&path)?;
    let env = environment_of(dir);
    let cores = env.as_ref().map_or_else(logical_cores, |e| e.logical_cores);
    let summary = crate::runner::write_summary(&exp, dir, &rows, cores)?;
    if summary.is_empty() {
        bail!(
            "{}: no rows of the experiment's current cells",
            path.display()
        );
    }
    crate::report::print_summary(&exp.name, &summary, cores);
    let samples = env.as_ref().map(|e| e.samples.clone()).unwrap_or_default();
    if let Some(w) = Watch::from_samples(cores, samples).warning() {
        crate::report::say(&format!("  warning: {w}"));
    }
    Ok((exp, summary, env))
}

/// The file a results folder was made from, as its experiment.toml records it.
fn source_of(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("experiment.toml")).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("# source = "))?;
    toml::from_str::<toml::Table>(&format!("s = {line}"))
        .ok()?
        .get("s")?
        .as_str()
        .map(str::to_string)
}

/// claims.csv, report.md, and index.md of the folder above, from the rebuilt summary.
fn write_findings(
    dir: &Path,
    exp: &Experiment,
    summary: &[crate::results::summary::SummaryRow],
    env: Option<&Environment>,
) -> anyhow::Result<()> {
    let root = dir.parent().filter(|p| !p.as_os_str().is_empty());
    let source =
        source_of(dir).unwrap_or_else(|| dir.join("experiment.toml").display().to_string());
    let out = root.map_or_else(|| ".".to_string(), |r| r.display().to_string());
    let command = format!(
        "conclab run {source} --out {out}\nconclab chart {}",
        dir.display()
    );
    crate::runner::write_findings(exp, dir, summary, env, command)?;
    crate::results::report_md::write_index(root.unwrap_or(Path::new(".")))
}

/// `conclab chart DIR`: summary.csv and every chart, from the folder's CSV files alone.
pub fn rebuild_charts(dir: &Path, (width, height): (u32, u32)) -> anyhow::Result<Vec<PathBuf>> {
    let (exp, summary, env) = rebuild_summary(dir)?;
    let opts = crate::chart::ChartOptions {
        width,
        height,
        timeline_workers: exp.chart.timeline_workers,
    };
    let files = crate::chart::render_experiment(dir, &opts)?;
    crate::report::say(&format!(
        "  charts: {} PNG files in {}",
        files.len(),
        dir.display()
    ));
    write_findings(dir, &exp, &summary, env.as_ref())?;
    Ok(files)
}

/// Combines shard folders of one experiment into `out` (rows already in `out` are kept).
pub fn merge(dirs: &[PathBuf], out: &Path) -> anyhow::Result<Experiment> {
    let first = experiment_of(&dirs[0])?;
    for d in &dirs[1..] {
        let other = experiment_of(d)?;
        if other.name != first.name {
            bail!(
                "{} holds experiment \"{}\" but {} holds \"{}\"; merge shards of one experiment",
                d.display(),
                other.name,
                dirs[0].display(),
                first.name
            );
        }
    }
    let _lock = crate::results::lock::lock(out).map_err(crate::runner::UsageError)?;
    for f in ["experiment.toml", "environment.json"] {
        let from = dirs[0].join(f);
        if from.is_file() && !out.join(f).is_file() {
            std::fs::copy(&from, out.join(f))
                .with_context(|| format!("cannot copy {}", from.display()))?;
        }
    }
    let axes: Vec<String> = first.axes.iter().map(|a| a.name.clone()).collect();
    let (mut runs_out, existing) = runs::open(&out.join("runs.csv"), &axes)?;
    let mut seen: HashSet<(String, u32, String)> = existing
        .iter()
        .map(|r| (r.cell.clone(), r.repetition, r.started_at.clone()))
        .collect();
    let mut tasks_out = AppendCsv::open(&out.join("tasks.csv"), &tasks::header(&axes))?;
    let mut phases_out = AppendCsv::open(&out.join("phases.csv"), &phases::header(&axes))?.0;
    let mut timelines: HashSet<String> = tasks_out
        .1
        .iter()
        .filter_map(|r| r.get("cell").cloned())
        .collect();
    for d in dirs {
        let (_, rows) = runs::read(&d.join("runs.csv"))?;
        for r in rows {
            if seen.insert((r.cell.clone(), r.repetition, r.started_at.clone())) {
                runs_out.append_unflushed(&r.columns())?;
            }
        }
        let task_file = d.join("tasks.csv");
        if task_file.is_file() {
            let (_, rows) = csv_file::read(&task_file)?;
            let new_cells: HashSet<String> = rows
                .iter()
                .filter_map(|r| r.get("cell").cloned())
                .filter(|c| !timelines.contains(c))
                .collect();
            for r in rows
                .iter()
                .filter(|r| r.get("cell").is_some_and(|c| new_cells.contains(c)))
            {
                let cols: Vec<(&str, String)> =
                    r.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                tasks_out.0.append_unflushed(&cols)?;
            }
            // A timeline's phases come from the folder its tasks came from.
            let phase_file = d.join("phases.csv");
            if phase_file.is_file() {
                let (_, rows) = csv_file::read(&phase_file)?;
                for r in rows
                    .iter()
                    .filter(|r| r.get("cell").is_some_and(|c| new_cells.contains(c)))
                {
                    let cols: Vec<(&str, String)> =
                        r.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                    phases_out.append_unflushed(&cols)?;
                }
            }
            timelines.extend(new_cells);
        }
    }
    runs_out.flush()?;
    tasks_out.0.flush()?;
    phases_out.flush()?;
    drop((runs_out, tasks_out, phases_out));
    rebuild_charts(out, (1600, 1000))?;
    experiment_of(out)
}
