//! An experiment's results read once into types: every output, the printed table and
//! the charts take an [`ExperimentResults`]; none of them reads a CSV file itself.

use crate::model::kind::Baselines;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;

use super::claims::{self, ClaimResult};
use super::environment::{Environment, Hosts, logical_cores, read_hosts};
use super::files::{self, Folder};
use super::phases::{self, PhaseSpan};
use super::runs::{self, RunRow};
use super::summarize::summarize;
use super::summary::{self, SummaryRow};
use super::tasks::{self, TaskSpan};
use crate::experiment::Experiment;

pub struct ExperimentResults {
    /// The experiment as its resolved experiment.toml says; absent only for a folder of
    /// bare CSV files, which can be charted but not judged.
    pub experiment: Option<Experiment>,
    pub folder: Folder,
    /// The logical cores the figures are reckoned against.
    pub cores: usize,
    /// Every repetition of runs.csv (empty when the summary was read as written).
    pub runs: Vec<RunRow>,
    /// One row per cell, in the experiment's order.
    pub summary: Vec<SummaryRow>,
    /// The axis columns of the summary: the experiment's, then `host` in a by-host folder.
    pub summary_axes: Vec<String>,
    pub claims: Vec<ClaimResult>,
    /// The recorded timelines: one repetition's tasks per cell, and their phases.
    pub tasks: Vec<TaskSpan>,
    pub phases: Vec<PhaseSpan>,
    pub environment: Option<Environment>,
    pub hosts: Option<Hosts>,
}

impl ExperimentResults {
    /// The results of `runs`: summarised (per machine, `by_host`), the claims judged, the
    /// timelines read from the folder.
    pub fn from_runs(
        experiment: &Experiment,
        dir: &Path,
        runs: Vec<RunRow>,
        environment: Option<Environment>,
        by_host: bool,
    ) -> anyhow::Result<ExperimentResults> {
        let folder = Folder::new(dir);
        let cores = environment
            .as_ref()
            .map_or_else(logical_cores, |e| e.logical_cores);
        let hosts = read_hosts(dir);
        let ids: Vec<String> = crate::experiment::expand::expand(experiment)
            .into_iter()
            .map(|c| c.id)
            .collect();
        let mut summary_axes: Vec<String> =
            experiment.axes.iter().map(|a| a.name.clone()).collect();
        let baselines = experiment.baselines();
        let summary = match hosts.as_ref().filter(|_| by_host) {
            Some(hosts) => {
                summary_axes.push("host".to_string());
                summarize_by_host(&ids, &runs, hosts, cores, &baselines)
            }
            None => summarize(&ids, &runs, cores, &baselines),
        };
        let claims = claims::judge_all(&experiment.name, &experiment.claims, &summary);
        Ok(ExperimentResults {
            experiment: Some(experiment.clone()),
            tasks: tasks::read(&folder.tasks())?,
            phases: phases::read(&folder.phases())?,
            folder,
            cores,
            runs,
            summary,
            summary_axes,
            claims,
            environment,
            hosts,
        })
    }

    /// A results folder's results, the summary rebuilt from its runs.csv.
    pub fn read(dir: &Path) -> anyhow::Result<ExperimentResults> {
        let exp = experiment_of(dir)?;
        let path = dir.join(files::RUNS);
        if !path.is_file() {
            bail!(
                "{} has no runs.csv: run the experiment first",
                dir.display()
            );
        }
        let (_, rows) = runs::read(&path)?;
        let results = Self::from_runs(&exp, dir, rows, Environment::read(dir), true)?;
        if results.summary.is_empty() {
            bail!(
                "{}: no rows of the experiment's current cells",
                path.display()
            );
        }
        Ok(results)
    }

    /// A folder's results with its summary.csv as written, for charts of any folder,
    /// even one of bare CSV files.
    pub fn read_as_written(dir: &Path) -> anyhow::Result<ExperimentResults> {
        let folder = Folder::new(dir);
        let (summary_axes, summary) = summary::read(&folder.summary())?;
        if summary.is_empty() {
            bail!("{}: no rows to chart", folder.summary().display());
        }
        let experiment = folder
            .experiment()
            .is_file()
            .then(|| experiment_of(dir))
            .transpose()?;
        let environment = Environment::read(dir);
        let claims = experiment
            .as_ref()
            .map(|e| claims::judge_all(&e.name, &e.claims, &summary))
            .unwrap_or_default();
        Ok(ExperimentResults {
            experiment,
            cores: environment
                .as_ref()
                .map_or_else(logical_cores, |e| e.logical_cores),
            tasks: tasks::read(&folder.tasks())?,
            phases: phases::read(&folder.phases())?,
            hosts: read_hosts(dir),
            folder,
            runs: Vec::new(),
            summary,
            summary_axes,
            claims,
            environment,
        })
    }

    /// The experiment, for outputs that cannot do without it.
    pub fn experiment(&self) -> anyhow::Result<&Experiment> {
        self.experiment.as_ref().ok_or_else(|| {
            anyhow::anyhow!("{} has no experiment.toml", self.folder.dir().display())
        })
    }

    pub fn name(&self) -> &str {
        match &self.experiment {
            Some(e) => &e.name,
            None => self.summary.first().map_or("", |s| s.experiment.as_str()),
        }
    }

    pub fn dir(&self) -> &Path {
        self.folder.dir()
    }

    /// The charts of the folder as they are on disk, in name order.
    pub fn charts_on_disk(&self) -> Vec<PathBuf> {
        super::report_md::charts_in(self.dir())
    }
}

/// One summary per machine, each row with `host` as its last axis; speedups and flags
/// are reckoned within a machine, against its own cores.
fn summarize_by_host(
    ids: &[String],
    rows: &[RunRow],
    hosts: &Hosts,
    cores: usize,
    baselines: &Baselines,
) -> Vec<SummaryRow> {
    let mut by_host: BTreeMap<&str, Vec<RunRow>> = BTreeMap::new();
    for r in rows {
        by_host.entry(r.host.as_str()).or_default().push(r.clone());
    }
    let mut out = Vec::new();
    for (host, rows) in by_host {
        let cores = hosts.get(host).map_or(cores, |f| f.logical_cores);
        for mut s in summarize(ids, &rows, cores, baselines) {
            s.id.axes.push(("host".to_string(), host.to_string()));
            out.push(s);
        }
    }
    out
}

/// The experiment a results folder was produced by (its resolved `experiment.toml`).
pub fn experiment_of(dir: &Path) -> anyhow::Result<Experiment> {
    let file = dir.join(files::EXPERIMENT);
    if !file.is_file() {
        bail!(
            "{} is not a conclab results folder: it has no experiment.toml",
            dir.display()
        );
    }
    Ok(crate::experiment::load(&file, &[])?)
}
