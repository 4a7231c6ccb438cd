//! The machine a run measured: `environment.json`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    pub host: String,
    pub os: String,
    pub logical_cores: usize,
    pub physical_cores: usize,
    pub cpu_model: String,
    pub conclab_version: String,
    pub started_at: String,
    /// What the machine delivered while the run went on: single-thread hash time and
    /// capacity samples, each with its time (see [`crate::machine`]).
    #[serde(default)]
    pub samples: Vec<crate::machine::Sample>,
}

impl Environment {
    /// Writes `environment.json` into an experiment's results folder.
    pub fn write(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        let path = dir.join("environment.json");
        std::fs::write(&path, serde_json::to_string_pretty(self)? + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
    }

    pub fn detect() -> Environment {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Environment {
            host: hostname(),
            os: os_name(),
            logical_cores: logical_cores(),
            physical_cores: physical_cores(&cpuinfo).unwrap_or_else(logical_cores),
            cpu_model: cpuinfo
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_else(|| std::env::consts::ARCH.to_string()),
            conclab_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            samples: Vec::new(),
        }
    }
}

pub fn logical_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn os_name() -> String {
    let pretty = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("PRETTY_NAME="))
                .map(|l| l["PRETTY_NAME=".len()..].trim_matches('"').to_string())
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .ok();
    match (pretty, kernel) {
        (Some(p), Some(k)) => format!("{p} (Linux {k})"),
        (Some(p), None) => p,
        (None, Some(k)) => format!("Linux {k}"),
        (None, None) => std::env::consts::OS.to_string(),
    }
}

/// Distinct (physical id, core id) pairs in /proc/cpuinfo.
fn physical_cores(cpuinfo: &str) -> Option<usize> {
    let mut cores = std::collections::HashSet::new();
    let mut package = "0";
    for line in cpuinfo.lines() {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim() {
                "physical id" => package = v.trim(),
                "core id" => {
                    cores.insert((package.to_string(), v.trim().to_string()));
                }
                _ => {}
            }
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_physical_cores_across_hyperthreads() {
        let info = "processor : 0\nphysical id : 0\ncore id : 0\n\nprocessor : 1\nphysical id : 0\ncore id : 0\n\nprocessor : 2\nphysical id : 0\ncore id : 1\n";
        assert_eq!(super::physical_cores(info), Some(2));
        assert_eq!(super::physical_cores(""), None);
    }
}
