//! A temporary lab for integration tests: experiment files in, the real binary run, CSV read back.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub const PASS_1000: &str = "e907f4045ca9cdf3db84faeae1d10edc5ff5d8f306045eaf3da545af7b06316842b503f620ba85debb21fe4ecceb2adb994fb158653a62925552202c2a057855";

pub struct Lab {
    pub dir: tempfile::TempDir,
}

pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<HashMap<String, String>>,
}

impl Csv {
    pub fn column(&self, name: &str) -> Vec<&str> {
        self.rows
            .iter()
            .map(|r| r.get(name).map(String::as_str).unwrap_or(""))
            .collect()
    }
}

impl Lab {
    pub fn new() -> Lab {
        Lab {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("conclab").unwrap();
        c.current_dir(self.path());
        c
    }

    /// `conclab run <args> --out results -q --no-charts`, returning the output.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd()
            .arg("run")
            .args(args)
            .args(["--out", "results", "-q", "--no-charts"])
            .output()
            .unwrap()
    }

    pub fn csv(&self, rel: &str) -> Csv {
        let mut r =
            csv::Reader::from_path(self.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        let rows = r
            .records()
            .map(|rec| {
                header
                    .iter()
                    .cloned()
                    .zip(rec.unwrap().iter().map(str::to_string))
                    .collect()
            })
            .collect();
        Csv { header, rows }
    }
}

pub fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Starts `conclab run FILE --out results -q --no-charts` in the background, its stderr
/// piped.
pub fn spawn_run(lab: &Lab, file: &str) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("conclab"))
        .args(["run", file, "--out", "results", "-q", "--no-charts"])
        .current_dir(lab.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (at most a minute) until `results/<experiment>/runs.csv` holds `rows` rows.
pub fn wait_for_rows(lab: &Lab, experiment: &str, rows: usize) {
    let runs = lab.path().join(format!("results/{experiment}/runs.csv"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(&runs)
        .map(|t| t.lines().count())
        .unwrap_or(0)
        < rows + 1
    {
        assert!(std::time::Instant::now() < deadline, "no row written");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Pids of the processes whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // The parent pid is the second field after the command name in parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

/// Whether `pid` is a live conclab process (not gone, not a zombie).
pub fn conclab_alive(pid: u32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    cmdline
        .split(|b| *b == 0)
        .next()
        .is_some_and(|a| a.ends_with(b"conclab"))
}

/// (rows, distinct (cell, repetition) pairs) of a runs.csv: equal when nothing is doubled.
pub fn unique_pairs(lab: &Lab, rel: &str) -> (usize, usize) {
    let runs = lab.csv(rel);
    let pairs: std::collections::HashSet<(String, String)> = runs
        .rows
        .iter()
        .map(|r| (r["cell"].clone(), r["repetition"].clone()))
        .collect();
    (runs.rows.len(), pairs.len())
}
