//! The names of the files a results folder holds: spelled here once, used everywhere.

use std::path::{Path, PathBuf};

pub const RUNS: &str = "runs.csv";
pub const TASKS: &str = "tasks.csv";
pub const PHASES: &str = "phases.csv";
pub const SUMMARY: &str = "summary.csv";
pub const CLAIMS: &str = "claims.csv";
pub const REPORT: &str = "report.md";
pub const EXPERIMENT: &str = "experiment.toml";
pub const ENVIRONMENT: &str = "environment.json";
/// The machines a `merge --by-host` folder keeps apart.
pub const HOSTS: &str = "hosts.json";
/// Of a results root, not of one experiment's folder.
pub const INDEX: &str = "index.md";

/// The files `run --fresh` moves aside (by stem): those a run appends to or derives.
pub const ARCHIVED: [&str; 4] = ["runs", "tasks", "phases", "summary"];

/// One experiment's results folder, its files by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Folder(pub PathBuf);

impl Folder {
    pub fn new(dir: &Path) -> Folder {
        Folder(dir.to_path_buf())
    }
    pub fn dir(&self) -> &Path {
        &self.0
    }
    pub fn runs(&self) -> PathBuf {
        self.0.join(RUNS)
    }
    pub fn tasks(&self) -> PathBuf {
        self.0.join(TASKS)
    }
    pub fn phases(&self) -> PathBuf {
        self.0.join(PHASES)
    }
    pub fn summary(&self) -> PathBuf {
        self.0.join(SUMMARY)
    }
    pub fn claims(&self) -> PathBuf {
        self.0.join(CLAIMS)
    }
    pub fn report(&self) -> PathBuf {
        self.0.join(REPORT)
    }
    pub fn experiment(&self) -> PathBuf {
        self.0.join(EXPERIMENT)
    }
    pub fn environment(&self) -> PathBuf {
        self.0.join(ENVIRONMENT)
    }
    pub fn hosts(&self) -> PathBuf {
        self.0.join(HOSTS)
    }
}
