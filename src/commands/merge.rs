//! `conclab merge`: shard folders of one experiment combined into one, then charted.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::error::UsageError;
use crate::experiment::Experiment;
use crate::results::csv_file::{self, AppendCsv};
use crate::results::environment::{
    Environment, Fingerprint, Hosts, read_hosts, row_hosts, write_hosts,
};
use crate::results::experiment_results::experiment_of;
use crate::results::files::{self, Folder};
use crate::results::{phases, runs, tasks};

/// Refuses rows measured on different machines, naming their host ids and the fields
/// that differ: those of the shards, and those already in `out`. With `by_host`, returns
/// every machine to keep apart instead. An unreadable environment.json is an error.
fn check_machines(dirs: &[PathBuf], out: &Path, by_host: bool) -> anyhow::Result<Hosts> {
    let mut hosts = Hosts::new();
    let mut first: Option<(PathBuf, Fingerprint)> = None;
    let mut differences = Vec::new();
    // Which folder holds rows (or an environment) of which machine.
    let mut machines: Vec<(String, PathBuf)> = Vec::new();
    let folders = std::iter::once(out.to_path_buf())
        .filter(|o| o.join(files::ENVIRONMENT).is_file() || o.join(files::RUNS).is_file())
        .chain(dirs.iter().cloned());
    for d in folders {
        for h in row_hosts(&d.join(files::RUNS)) {
            machines.push((h, d.clone()));
        }
        let Some(env) = Environment::load(&d)? else {
            eprintln!(
                "warning: {} has no environment.json; its rows are checked by their host column alone",
                d.display()
            );
            continue;
        };
        let (Some(id), Some(f)) = (env.machine(), env.fingerprint) else {
            continue;
        };
        machines.push((id.clone(), d.clone()));
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
    machines.retain(|(h, _)| !h.is_empty());
    machines.sort();
    machines.dedup();
    let mut ids: Vec<&str> = machines.iter().map(|(h, _)| h.as_str()).collect();
    ids.dedup();
    if ids.len() > 1 && !by_host {
        let wheres: Vec<String> = machines
            .iter()
            .map(|(h, d)| format!("{h} in {}", d.display()))
            .collect();
        let mut why = format!(
            "rows of different machines must not be pooled: {}",
            wheres.join(", ")
        );
        if !differences.is_empty() {
            why.push_str(&format!("\n  {}", differences.join("\n  ")));
        }
        why.push_str("\nmerge with --by-host to keep each machine apart (host becomes an axis)");
        return Err(UsageError(why).into());
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
    let hosts = check_machines(dirs, out, by_host)?;
    let _lock = crate::results::lock::lock(out).map_err(UsageError)?;
    if by_host {
        let mut all = read_hosts(out).unwrap_or_default();
        all.extend(hosts);
        write_hosts(out, &all)?;
    }
    for f in [files::EXPERIMENT, files::ENVIRONMENT] {
        let from = dirs[0].join(f);
        if from.is_file() && !out.join(f).is_file() {
            std::fs::copy(&from, out.join(f))
                .with_context(|| format!("cannot copy {}", from.display()))?;
        }
    }
    let axes: Vec<String> = first.axes.iter().map(|a| a.name.clone()).collect();
    let into = Folder::new(out);
    let (mut runs_out, existing) = runs::open(&into.runs(), &axes)?;
    let mut seen: HashSet<(String, u32, String)> = existing
        .iter()
        .map(|r| (r.cell.clone(), r.repetition, r.started_at.clone()))
        .collect();
    let mut tasks_out = AppendCsv::open(&into.tasks(), &tasks::header(&axes))?;
    let mut phases_out = AppendCsv::open(&into.phases(), &phases::header(&axes))?.0;
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
        let shard = Folder::new(d);
        let (_, rows) = runs::read(&shard.runs())?;
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
        let task_file = shard.tasks();
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
            let phase_file = shard.phases();
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
    super::chart::rebuild_charts(out, (1600, 1000))?;
    experiment_of(out)
}
