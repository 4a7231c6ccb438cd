//! `report.md` of one results folder and `index.md` of a results root: what a run found, to read at a glance.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::claims::{self, ClaimResult};
use super::environment::{Environment, Hosts};
use super::files;
use super::summary::SummaryRow;
use crate::console::{seconds, seconds_range};
use crate::experiment::Experiment;

/// Everything report.md is made of.
pub struct Report<'a> {
    pub exp: &'a Experiment,
    pub summary: &'a [SummaryRow],
    pub claims: &'a [ClaimResult],
    /// The charts, as files of the folder.
    pub charts: &'a [PathBuf],
    pub env: Option<&'a Environment>,
    /// The machines of a `merge --by-host` folder (its hosts.json), compared side by side.
    pub hosts: Option<&'a Hosts>,
    /// The command that reproduces the folder.
    pub command: String,
}

/// A `|` inside a cell would end it.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A link target relative to the folder, with spaces and parentheses escaped.
fn link(name: &str) -> String {
    name.replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29")
}

impl Report<'_> {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let exp = self.exp;
        let _ = writeln!(s, "# {}\n", exp.name);
        if !exp.description.is_empty() {
            let _ = writeln!(s, "{}\n", exp.description);
        }
        if !self.claims.is_empty() {
            let _ = writeln!(s, "## Claims: {}\n", claims::one_line(self.claims));
            let _ = writeln!(s, "| verdict | claim | cell | expect | value | interval |");
            let _ = writeln!(s, "|---|---|---|---|---|---|");
            for c in self.claims {
                let interval = match (c.ci_low, c.ci_high, c.ci_coverage) {
                    (Some(lo), Some(hi), Some(cov)) => {
                        format!("{lo:.3}-{hi:.3} ({:.1}%)", (cov * 1000.0).floor() / 10.0)
                    }
                    (Some(lo), Some(hi), None) => format!("{lo:.3}-{hi:.3}"),
                    _ => "-".into(),
                };
                let _ = writeln!(
                    s,
                    "| **{}** | {} | `{}` | `{}` | {} | {} |",
                    c.verdict.as_str(),
                    cell(&c.say),
                    cell(&c.cell),
                    cell(&c.expect),
                    cell(&c.value),
                    interval
                );
            }
            let _ = writeln!(
                s,
                "\n`holds`: the whole interval is on the claimed side; `fails`: all of it is on the other side; `unclear`: it straddles the bound, or its coverage (in brackets) is short of 95% one-sided: the `value` says how many repetitions it needs.\n"
            );
        }
        self.table(&mut s);
        self.failures(&mut s);
        if let Some(hosts) = self.hosts {
            self.machines(&mut s, hosts);
        }
        if !self.charts.is_empty() {
            let _ = writeln!(s, "## Charts\n");
            for c in self.charts {
                let Some(name) = c.file_name().map(|n| n.to_string_lossy().to_string()) else {
                    continue;
                };
                let stem = name.trim_end_matches(".png").trim_end_matches(".svg");
                let _ = writeln!(s, "![{stem}]({})\n", link(&name));
            }
        }
        if let Some(env) = self.env {
            let _ = writeln!(s, "## Environment\n");
            if env.host_id.is_empty() {
                let _ = writeln!(s, "- host: {}", env.host);
            } else {
                let _ = writeln!(s, "- host: {} (id {})", env.host, env.host_id);
            }
            let _ = writeln!(s, "- OS: {}", env.os);
            let _ = writeln!(
                s,
                "- CPU: {} ({} logical, {} physical cores)",
                env.cpu_model, env.logical_cores, env.physical_cores
            );
            let _ = writeln!(s, "- conclab {}", env.conclab_version);
            let _ = writeln!(s, "- started: {}", env.started_at);
            let _ = writeln!(
                s,
                "- the machine's capacity and calibration samples: [environment.json](environment.json)\n"
            );
        }
        let _ = writeln!(s, "## Reproduce\n");
        let _ = writeln!(s, "```sh\n{}\n```\n", self.command);
        let _ = writeln!(
            s,
            "Files: [summary.csv](summary.csv), [runs.csv](runs.csv), [claims.csv](claims.csv), [experiment.toml](experiment.toml)."
        );
        s
    }

    fn table(&self, s: &mut String) {
        let Some(first) = self.summary.first() else {
            return;
        };
        let axes: Vec<&str> = first.axes.iter().map(|(k, _)| k.as_str()).collect();
        let _ = writeln!(s, "## Summary\n");
        let mut head = "| model | workers |".to_string();
        for a in &axes {
            head.push_str(&format!(" {a} |"));
        }
        head.push_str(" median [interval] | speedup [interval] | cores busy x per-core speed | vs ideal | check | flags | implementation |");
        let _ = writeln!(s, "{head}");
        let _ = writeln!(s, "|{}", "---|".repeat(9 + axes.len()));
        for r in self.summary {
            let mut line = format!("| {} | {} |", r.model, r.workers);
            for (_, v) in &r.axes {
                line.push_str(&format!(" {} |", cell(v)));
            }
            let speedup = speedup(r);
            let busy = match (r.cores_busy(), r.core_speed) {
                (Some(p), Some(c)) => format!("{p:.2} x {c:.2}"),
                (Some(p), None) => format!("{p:.2}"),
                (None, _) => "-".to_string(),
            };
            let vs_ideal = r
                .vs_ideal
                .map_or_else(|| "-".into(), |v| format!("{v:.2}x"));
            let check = if r.check == crate::workload::Check::Pass {
                "pass".to_string()
            } else {
                format!("{} ({})", r.check.as_str(), cell(&r.check_detail()))
            };
            let flags: Vec<&str> = r.flags.iter().map(|f| f.as_str()).collect();
            line.push_str(&format!(
                " {} | {speedup} | {busy} | {vs_ideal} | {check} | {} | {} |",
                median(r),
                flags.join(";"),
                cell(&r.implementation)
            ));
            let _ = writeln!(s, "{line}");
        }
        let _ = writeln!(
            s,
            "\nMedians of {} repetition(s) per cell; {} (the least coverage of any row; `ci_coverage` and `speedup_ci_coverage` in summary.csv give each row's).\n",
            self.summary.iter().map(|r| r.stats.n).max().unwrap_or(0),
            super::intervals::interval_legend(self.summary),
        );
    }

    /// One line per cell whose verdict is not clean: failed repetitions or a disputed
    /// digest, with the first failure's message in full (the table shortens nothing, but
    /// a line is easier to quote).
    fn failures(&self, s: &mut String) {
        let failing: Vec<&SummaryRow> = self.summary.iter().filter(|r| r.check.failed()).collect();
        if failing.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "## Failures
"
        );
        for r in failing {
            let _ = writeln!(
                s,
                "- {}: **{}**, {}",
                r.label(),
                r.check.as_str(),
                r.check_detail()
            );
        }
        let _ = writeln!(s);
    }

    /// Each machine's fingerprint, then every cell measured on more than one machine with
    /// each machine's median and speedup side by side (reckoned within that machine).
    fn machines(&self, s: &mut String, hosts: &Hosts) {
        let _ = writeln!(s, "## Machines compared\n");
        let _ = writeln!(
            s,
            "| host | CPU | logical cores | physical cores | memory | kernel | conclab |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for (id, f) in hosts {
            let memory = if f.memory_kib == 0 {
                "unknown".to_string()
            } else {
                format!("{:.1} GiB", f.memory_kib as f64 / (1024.0 * 1024.0))
            };
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {memory} | {} | {} |",
                cell(id),
                cell(&f.cpu_model),
                f.logical_cores,
                f.physical_cores,
                cell(&f.kernel),
                cell(&f.conclab_version)
            );
        }
        // One cell definition (model, workers, the axes but host) -> each host's row.
        type Key = (String, usize, Vec<(String, String)>);
        let mut cells: BTreeMap<Key, BTreeMap<&str, &SummaryRow>> = BTreeMap::new();
        let mut axes: Vec<&str> = Vec::new();
        for r in self.summary {
            let Some((_, host)) = r.axes.iter().find(|(k, _)| k == "host") else {
                continue;
            };
            let others: Vec<(String, String)> = r
                .axes
                .iter()
                .filter(|(k, _)| k != "host")
                .cloned()
                .collect();
            if axes.is_empty() {
                axes = r
                    .axes
                    .iter()
                    .filter(|(k, _)| k != "host")
                    .map(|(k, _)| k.as_str())
                    .collect();
            }
            cells
                .entry((r.model.clone(), r.workers, others))
                .or_default()
                .insert(host.as_str(), r);
        }
        cells.retain(|_, by_host| by_host.len() > 1);
        if cells.is_empty() {
            let _ = writeln!(s, "\nNo cell was measured on more than one machine.\n");
            return;
        }
        let ids: Vec<&str> = hosts.keys().map(String::as_str).collect();
        let mut head = "| model | workers |".to_string();
        for a in &axes {
            head.push_str(&format!(" {a} |"));
        }
        for id in &ids {
            head.push_str(&format!(" {id} median [interval] | {id} speedup |"));
        }
        let _ = writeln!(s, "\n{head}");
        let _ = writeln!(s, "|{}", "---|".repeat(2 + axes.len() + 2 * ids.len()));
        for ((model, workers, others), by_host) in &cells {
            let mut line = format!("| {model} | {workers} |");
            for (_, v) in others {
                line.push_str(&format!(" {} |", cell(v)));
            }
            for id in &ids {
                match by_host.get(id) {
                    Some(r) => line.push_str(&format!(" {} | {} |", median(r), speedup(r))),
                    None => line.push_str(" - | - |"),
                }
            }
            let _ = writeln!(s, "{line}");
        }
        let _ = writeln!(
            s,
            "\nSpeedups are reckoned within each machine, against its own sequential baseline; the machines' rows are never pooled.\n"
        );
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        super::atomic::write(&dir.join(files::REPORT), self.markdown().as_bytes())
    }
}

/// A row's median with its interval.
fn median(r: &SummaryRow) -> String {
    format!(
        "{} [{}]",
        seconds(r.stats.median),
        seconds_range(r.stats.ci.low, r.stats.ci.high)
    )
}

/// A row's speedup with its interval, `-` without a baseline.
fn speedup(r: &SummaryRow) -> String {
    match (r.speedup, r.speedup_ci) {
        (Some(v), Some(c)) => format!("{v:.2}x [{:.2}-{:.2}]", c.low, c.high),
        (Some(v), None) => format!("{v:.2}x"),
        _ => "-".into(),
    }
}

/// The charts of a folder as they are on disk, in name order: the PNGs the chart step wrote.
pub fn charts_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "png" || x == "svg"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Rewrites `index.md` of a results root: every experiment folder under it with its
/// one-line verdict.
pub fn write_index(root: &Path) -> anyhow::Result<()> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("cannot read {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(files::EXPERIMENT).is_file())
        .collect();
    dirs.sort();
    let mut s =
        String::from("# conclab results\n\n| experiment | claims | report |\n|---|---|---|\n");
    for d in &dirs {
        let Some(name) = d.file_name().map(|n| n.to_string_lossy().to_string()) else {
            continue;
        };
        let verdicts = claims::read_verdicts(&d.join(files::CLAIMS));
        let line = if verdicts.is_empty() {
            "no claims".to_string()
        } else {
            let holds = verdicts
                .iter()
                .filter(|v| **v == claims::Verdict::Holds)
                .count();
            format!(
                "{holds} of {} claim{} hold",
                verdicts.len(),
                if verdicts.len() == 1 { "" } else { "s" }
            )
        };
        let report = if d.join(files::REPORT).is_file() {
            format!("[report.md]({}/report.md)", link(&name))
        } else {
            "-".into()
        };
        let _ = writeln!(
            s,
            "| [{}]({}/) | {line} | {report} |",
            cell(&name),
            link(&name)
        );
    }
    super::atomic::write(&root.join(files::INDEX), s.as_bytes())
}
