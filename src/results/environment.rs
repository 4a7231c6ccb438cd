//! The machine a run measured: `environment.json`, with its fingerprint and host id.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::files;
use crate::error::UsageError;

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
    /// What makes two machines' numbers comparable; absent in folders written before it.
    #[serde(default)]
    pub fingerprint: Option<Fingerprint>,
    /// [`Fingerprint::host_id`]: what runs.csv's `host` column holds.
    #[serde(default)]
    pub host_id: String,
}

/// The machine's properties that decide the numbers; equal fingerprints may be pooled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub cpu_model: String,
    pub logical_cores: usize,
    pub physical_cores: usize,
    /// MemTotal of /proc/meminfo; 0 when unknown.
    pub memory_kib: u64,
    pub kernel: String,
    pub conclab_version: String,
}

impl Fingerprint {
    /// Each field as `name`, `value`, in a fixed order: the host id hashes them so.
    fn fields(&self) -> [(&'static str, String); 6] {
        [
            ("cpu_model", self.cpu_model.clone()),
            ("logical_cores", self.logical_cores.to_string()),
            ("physical_cores", self.physical_cores.to_string()),
            ("memory_kib", self.memory_kib.to_string()),
            ("kernel", self.kernel.clone()),
            ("conclab_version", self.conclab_version.clone()),
        ]
    }

    /// A short id, stable across runs of one machine and independent of its host name
    /// (every VM here is called `vm`): the first 8 hex digits of SHA-256 of the fields.
    pub fn host_id(&self) -> String {
        let mut h = Sha256::new();
        for (k, v) in self.fields() {
            h.update(format!("{k}={v}\n").as_bytes());
        }
        hex::encode(h.finalize())[..8].to_string()
    }

    /// The fields that differ, as `name: mine vs theirs`.
    pub fn differences(&self, other: &Fingerprint) -> Vec<String> {
        self.fields()
            .into_iter()
            .zip(other.fields())
            .filter(|((_, a), (_, b))| a != b)
            .map(|((k, a), (_, b))| format!("{k}: {a} vs {b}"))
            .collect()
    }
}

/// `hosts.json`: the machines a `merge --by-host` folder keeps apart, by host id. Its
/// presence makes `host` an axis of the folder's summary and charts.
pub type Hosts = BTreeMap<String, Fingerprint>;

/// The `hosts.json` of a results folder, if it has one.
pub fn read_hosts(dir: &Path) -> Option<Hosts> {
    std::fs::read_to_string(dir.join(files::HOSTS))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

pub fn write_hosts(dir: &Path, hosts: &Hosts) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(hosts)? + "\n";
    super::atomic::write(&dir.join(files::HOSTS), text.as_bytes())
}

impl Environment {
    /// Writes `environment.json` into an experiment's results folder, whole or not at all.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        super::atomic::write(&dir.join(files::ENVIRONMENT), text.as_bytes())
    }

    /// Writes this run's environment over the folder's, keeping the machine samples of
    /// the folder's earlier runs on this machine before this run's: a folder's samples
    /// accumulate. Another machine's (after `--fresh` or `--by-host`) describe not this one.
    pub fn record(&self, dir: &Path) -> anyhow::Result<()> {
        let mut samples = Environment::load(dir)?
            .filter(|e| e.machine().is_none_or(|id| id == self.host_id))
            .map_or_else(Vec::new, |e| e.samples);
        samples.extend(self.samples.iter().cloned());
        Environment {
            samples,
            ..self.clone()
        }
        .write(dir)
    }

    /// The `environment.json` of a results folder; none when absent or unreadable (older
    /// folders, or copied without it).
    pub fn read(dir: &Path) -> Option<Environment> {
        Environment::load(dir).ok().flatten()
    }

    /// The `environment.json` of a results folder: none when absent (a folder of bare CSV
    /// files); one that cannot be read is an error naming it, never taken as an older
    /// conclab's, since the machine it names decides what may be pooled.
    pub fn load(dir: &Path) -> Result<Option<Environment>, UsageError> {
        let path = dir.join(files::ENVIRONMENT);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(UsageError(format!("cannot read {}: {e}", path.display()))),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            UsageError(format!(
                "{} is not a conclab environment file ({e}): restore it, or move the folder aside and run again",
                path.display()
            ))
        })
    }

    /// The host id of the machine this environment describes, for folders written before
    /// the id was stored.
    pub fn machine(&self) -> Option<String> {
        match (&self.host_id, &self.fingerprint) {
            (id, _) if !id.is_empty() => Some(id.clone()),
            (_, Some(f)) => Some(f.host_id()),
            _ => None,
        }
    }

    pub fn detect() -> Environment {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let fingerprint = Fingerprint {
            cpu_model: cpuinfo
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_else(|| std::env::consts::ARCH.to_string()),
            logical_cores: logical_cores(),
            physical_cores: physical_cores(&cpuinfo).unwrap_or_else(logical_cores),
            memory_kib: memory_kib(&meminfo).unwrap_or(0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| std::env::consts::OS.to_string()),
            conclab_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        Environment {
            host: hostname(),
            os: os_name(),
            logical_cores: fingerprint.logical_cores,
            physical_cores: fingerprint.physical_cores,
            cpu_model: fingerprint.cpu_model.clone(),
            conclab_version: fingerprint.conclab_version.clone(),
            started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            samples: Vec::new(),
            host_id: fingerprint.host_id(),
            fingerprint: Some(fingerprint),
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

/// MemTotal of /proc/meminfo, in KiB.
fn memory_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
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

/// The host ids of a runs.csv's rows; none when it is absent or unreadable (a torn file
/// is repaired when it is opened, and its rows checked then by their cells).
pub fn row_hosts(path: &std::path::Path) -> Vec<String> {
    let Ok(mut r) = csv::Reader::from_path(path) else {
        return Vec::new();
    };
    let Some(col) = r
        .headers()
        .ok()
        .and_then(|h| h.iter().position(|c| c == "host"))
    else {
        return Vec::new();
    };
    let mut hosts: Vec<String> = r
        .records()
        .filter_map(|rec| rec.ok()?.get(col).map(str::to_string))
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Refuses to add this machine's rows to a folder measured on another: its
/// environment.json or its rows (`hosts`, runs.csv's host column) name a machine other
/// than `mine`. With `by_host` the machines are kept apart instead, and the folder's
/// hosts.json lists them.
pub fn check_same_machine(
    dir: &Path,
    mine: &Environment,
    hosts: impl IntoIterator<Item = String>,
    by_host: bool,
) -> anyhow::Result<()> {
    let folder = Environment::load(dir)?;
    let mut others: Vec<String> = folder.iter().filter_map(Environment::machine).collect();
    others.extend(hosts);
    others.retain(|h| !h.is_empty() && *h != mine.host_id);
    others.sort();
    others.dedup();
    if others.is_empty() {
        return Ok(());
    }
    if !by_host {
        return Err(UsageError(format!(
            "{} holds rows measured on machine {} and this is machine {}: their numbers must not be pooled; run with --by-host to keep each machine apart, --fresh to start over, or --out for another folder",
            dir.display(),
            others.join(", "),
            mine.host_id
        ))
        .into());
    }
    let mut hosts = read_hosts(dir).unwrap_or_default();
    if let Some((Some(id), f)) =
        folder.and_then(|e| e.fingerprint.clone().map(|f| (e.machine(), f)))
    {
        hosts.entry(id).or_insert(f);
    }
    if let Some(f) = &mine.fingerprint {
        hosts.insert(mine.host_id.clone(), f.clone());
    }
    write_hosts(dir, &hosts)
}

#[cfg(test)]
mod tests {
    use super::Fingerprint;

    fn vm() -> Fingerprint {
        Fingerprint {
            cpu_model: "AMD EPYC 7B13".into(),
            logical_cores: 2,
            physical_cores: 1,
            memory_kib: 8_000_000,
            kernel: "6.8.0".into(),
            conclab_version: "0.1.0".into(),
        }
    }

    #[test]
    fn host_id_is_stable_and_follows_the_fingerprint() {
        let id = vm().host_id();
        assert_eq!(id.len(), 8);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(vm().host_id(), id, "same fields, same id");
        let big = Fingerprint {
            logical_cores: 64,
            ..vm()
        };
        assert_ne!(big.host_id(), id, "a different core count, a different id");
        assert_eq!(vm().differences(&big), vec!["logical_cores: 2 vs 64"]);
        assert!(vm().differences(&vm()).is_empty());
    }

    #[test]
    fn reads_memory_and_old_files_without_a_fingerprint() {
        let info = "MemTotal:        8148020 kB\nMemFree:  1 kB\n";
        assert_eq!(super::memory_kib(info), Some(8_148_020));
        let old = r#"{"host":"vm","os":"Linux","logical_cores":2,"physical_cores":1,"cpu_model":"x","conclab_version":"0.1.0","started_at":"2026-11-30T00:00:00Z"}"#;
        let env: super::Environment = serde_json::from_str(old).unwrap();
        assert!(env.fingerprint.is_none() && env.host_id.is_empty());
    }

    #[test]
    fn counts_physical_cores_across_hyperthreads() {
        let info = "processor : 0\nphysical id : 0\ncore id : 0\n\nprocessor : 1\nphysical id : 0\ncore id : 0\n\nprocessor : 2\nphysical id : 0\ncore id : 1\n";
        assert_eq!(super::physical_cores(info), Some(2));
        assert_eq!(super::physical_cores(""), None);
    }
}
