//! Derived results rebuilt from CSV files alone: `conclab chart DIR` and `conclab merge`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::experiment::Experiment;
use crate::machine::Watch;
use crate::results::csv_file::{self, AppendCsv};
use crate::results::environment::{Environment, Fingerprint, logical_cores};
use crate::results::runs::RunRow;
use crate::results::summary::{self, SummaryRow};
use crate::results::{phases, runs, tasks};
use crate::runner::UsageError;

/// `hosts.json`: the machines a `merge --by-host` folder keeps apart, by host id. Its
/// presence makes `host` an axis of the folder's summary and charts.
pub type Hosts = BTreeMap<String, Fingerprint>;

pub fn hosts_of(dir: &Path) -> Option<Hosts> {
    std::fs::read_to_string(dir.join("hosts.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// One summary per machine, each row with `host` as its last axis; speedups and flags
/// are reckoned within a machine, against its own cores.
fn write_summary_by_host(
    exp: &Experiment,
    dir: &Path,
    rows: &[RunRow],
    hosts: &Hosts,
    cores: usize,
) -> anyhow::Result<Vec<SummaryRow>> {
    let ids: Vec<String> = crate::experiment::expand::expand(exp)
        .into_iter()
        .map(|c| c.id)
        .collect();
    let mut by_host: BTreeMap<&str, Vec<RunRow>> = BTreeMap::new();
    for r in rows {
        by_host.entry(r.host.as_str()).or_default().push(r.clone());
    }
    let mut out = Vec::new();
    for (host, rows) in by_host {
        let cores = hosts.get(host).map_or(cores, |f| f.logical_cores);
        for mut s in summary::summarize(&ids, &rows, cores) {
            s.axes.push(("host".to_string(), host.to_string()));
            out.push(s);
        }
    }
    let mut axes: Vec<String> = exp.axes.iter().map(|a| a.name.clone()).collect();
    axes.push("host".to_string());
    summary::write(&dir.join("summary.csv"), &axes, &out)?;
    Ok(out)
}

/// The experiment a results folder was produced by (its resolved `experiment.toml`).
pub fn experiment_of(dir: &Path) -> anyhow::Result<Experiment> {
    let file = dir.join("experiment.toml");
    if !file.is_file() {
        bail!(
            "{} is not a conclab results folder: it has no experiment.toml",
            dir.display()
        );
    }
    Ok(crate::experiment::load(&file, &[])?)
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
    let summary = match hosts_of(dir) {
        Some(hosts) => write_summary_by_host(&exp, dir, &rows, &hosts, cores)?,
        None => crate::runner::write_summary(&exp, dir, &rows, cores)?,
    };
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

/// Refuses shards measured on machines with different fingerprints, naming the fields
/// that differ; with `by_host`, returns every machine to keep apart instead.
fn check_machines(dirs: &[PathBuf], by_host: bool) -> anyhow::Result<Hosts> {
    let mut hosts = Hosts::new();
    let mut first: Option<(&PathBuf, Fingerprint)> = None;
    let mut differences = Vec::new();
    for d in dirs {
        let Some((id, f)) = environment_of(d).and_then(|e| e.fingerprint.map(|f| (e.host_id, f)))
        else {
            eprintln!(
                "warning: {} has no machine fingerprint (written by an older conclab); its rows are merged as if measured on the same machine",
                d.display()
            );
            continue;
        };
        // Keyed by the id the folder's rows carry.
        let id = if id.is_empty() { f.host_id() } else { id };
        hosts.insert(id, f.clone());
        match &first {
            None => first = Some((d, f)),
            Some((d0, f0)) => {
                let diff = f0.differences(&f);
                if !diff.is_empty() {
                    differences.push(format!(
                        "{} vs {}: {}",
                        d0.display(),
                        d.display(),
                        diff.join(", ")
                    ));
                }
            }
        }
    }
    if !differences.is_empty() && !by_host {
        return Err(UsageError(format!(
            "the shards were measured on different machines, whose numbers must not be pooled:\n  {}\nmerge with --by-host to keep each machine apart (host becomes an axis)",
            differences.join("\n  ")
        ))
        .into());
    }
    Ok(hosts)
}

/// Combines shard folders of one experiment into `out` (rows already in `out` are kept).
/// Shards from machines with different fingerprints are refused unless `by_host`, which
/// keeps each machine apart. Shards that repeat a (cell, repetition) of one machine, and
/// cells no shard measured, are reported as warnings.
pub fn merge(dirs: &[PathBuf], out: &Path, by_host: bool) -> anyhow::Result<Experiment> {
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
    let hosts = check_machines(dirs, by_host)?;
    let _lock = crate::results::lock::lock(out).map_err(UsageError)?;
    if by_host {
        let mut all = hosts_of(out).unwrap_or_default();
        all.extend(hosts);
        std::fs::write(
            out.join("hosts.json"),
            serde_json::to_string_pretty(&all)? + "\n",
        )
        .with_context(|| format!("cannot write {}", out.join("hosts.json").display()))?;
    }
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
    // Which shard measured each (host, cell, repetition): a second shard is an overlap.
    let mut measured_by: HashMap<(String, String, u32), usize> = HashMap::new();
    let mut overlaps: Vec<String> = Vec::new();
    let mut cells_seen: HashSet<String> = existing.iter().map(|r| r.cell.clone()).collect();
    for (i, d) in dirs.iter().enumerate() {
        let (_, rows) = runs::read(&d.join("runs.csv"))?;
        for r in rows {
            let key = (r.host.clone(), r.cell.clone(), r.repetition);
            let by = *measured_by.entry(key).or_insert(i);
            if by != i {
                overlaps.push(format!(
                    "{} repetition {} (in {} and {})",
                    r.cell,
                    r.repetition,
                    dirs[by].display(),
                    d.display()
                ));
            }
            cells_seen.insert(r.cell.clone());
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
    if !overlaps.is_empty() {
        eprintln!(
            "warning: {} repetition(s) measured by more than one shard (both kept; were the shards given the same --shard?): {}",
            overlaps.len(),
            overlaps
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let missing: Vec<String> = crate::experiment::expand::expand(&first)
        .into_iter()
        .map(|c| c.id)
        .filter(|id| !cells_seen.contains(id))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "warning: {} cell(s) in no shard: {}; run the missing shard (the same command resumes it) and merge again",
            missing.len(),
            missing.join(", ")
        );
    }
    rebuild_charts(out, (1600, 1000))?;
    experiment_of(out)
}
