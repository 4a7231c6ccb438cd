//! `conclab compare OLD NEW`: two runs of the same experiments, cell by cell: a table,
//! compare.csv, compare.md and a chart of the ratios.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::chart::compare as chart;
use crate::console::{say, seconds};
use crate::error::UsageError;
use crate::results::atomic;
use crate::results::compare::{Comparison, Matching, Verdict, compare as judge, read_run};
use crate::results::environment::Environment;
use crate::results::files;
use crate::results::{fmt_opt, fmt_s};

/// What `compare` was asked, free of clap.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareOptions {
    pub old: PathBuf,
    pub new: PathBuf,
    /// Default: `NEW/compare/`.
    pub out: Option<PathBuf>,
    /// Relative; None: from the runs' own spread.
    pub noise: Option<f64>,
    /// Keep machines apart: a cell matches only one measured on the same host.
    pub by_host: bool,
    /// Compare runs of different machines as if they were one.
    pub any_host: bool,
}

/// One experiment's comparison, with the folders it came from.
pub struct ExperimentComparison {
    pub name: String,
    pub old: PathBuf,
    pub new: PathBuf,
    pub comparison: Comparison,
}

/// Everything compared, and where the files went.
pub struct CompareOutcome {
    pub experiments: Vec<ExperimentComparison>,
    /// Experiments (of two results roots) found in one only.
    pub only_old: Vec<String>,
    pub only_new: Vec<String>,
    pub out: PathBuf,
}

impl CompareOutcome {
    pub fn count(&self, v: Verdict) -> usize {
        self.experiments.iter().map(|e| e.comparison.count(v)).sum()
    }
}

fn is_experiment(dir: &Path) -> bool {
    dir.join(files::RUNS).is_file() || dir.join(files::EXPERIMENT).is_file()
}

/// The experiment folders of a results root, by name.
fn experiments_in(root: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(root)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", root.display())))?;
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(files::RUNS).is_file())
        .filter_map(|p| Some((p.file_name()?.to_string_lossy().to_string(), p)))
        .collect();
    out.sort();
    Ok(out)
}

type Pairs = (Vec<(String, PathBuf, PathBuf)>, Vec<String>, Vec<String>);

/// The experiment folders to compare: the two folders themselves, or those of the same
/// name in two results roots (and the names found in one root only).
fn pair_folders(old: &Path, new: &Path) -> Result<Pairs, UsageError> {
    for d in [old, new] {
        if !d.is_dir() {
            return Err(UsageError(format!("{} is not a folder", d.display())));
        }
    }
    match (is_experiment(old), is_experiment(new)) {
        (true, true) => {
            let name = new
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().to_string());
            Ok((vec![(name, old.into(), new.into())], vec![], vec![]))
        }
        (false, false) => {
            let (o, n) = (
                experiments_in(old).map_err(|e| UsageError(e.to_string()))?,
                experiments_in(new).map_err(|e| UsageError(e.to_string()))?,
            );
            let pairs: Vec<(String, PathBuf, PathBuf)> = o
                .iter()
                .filter_map(|(name, od)| {
                    let (_, nd) = n.iter().find(|(m, _)| m == name)?;
                    Some((name.clone(), od.clone(), nd.clone()))
                })
                .collect();
            if pairs.is_empty() {
                return Err(UsageError(format!(
                    "{} and {} hold no experiment folder (with a runs.csv) of the same name",
                    old.display(),
                    new.display()
                )));
            }
            let names = |v: &[(String, PathBuf)], other: &[(String, PathBuf)]| {
                v.iter()
                    .filter(|(a, _)| !other.iter().any(|(b, _)| a == b))
                    .map(|(a, _)| a.clone())
                    .collect()
            };
            Ok((pairs, names(&o, &n), names(&n, &o)))
        }
        _ => Err(UsageError(format!(
            "give two experiment folders (each with a runs.csv) or two results roots; {} is {} and {} is {}",
            old.display(),
            kind_of(old),
            new.display(),
            kind_of(new)
        ))),
    }
}

fn kind_of(d: &Path) -> &'static str {
    if is_experiment(d) {
        "an experiment folder"
    } else {
        "a results root"
    }
}

/// Refuses runs of different machines unless asked: their times say as much about the
/// machines as about the change.
fn check_machines(old: &Path, new: &Path, opts: &CompareOptions) -> Result<(), UsageError> {
    if opts.by_host || opts.any_host {
        return Ok(());
    }
    let fingerprint = |d: &Path| Environment::read(d).and_then(|e| e.fingerprint);
    if let (Some(a), Some(b)) = (fingerprint(old), fingerprint(new)) {
        let diff = a.differences(&b);
        if !diff.is_empty() {
            return Err(UsageError(format!(
                "{} and {} were measured on different machines ({}): their ratios would measure the machines too.\ncompare with --any-host to compare them anyway, or --by-host to match only cells of the same host",
                old.display(),
                new.display(),
                diff.join(", ")
            )));
        }
    }
    Ok(())
}

/// Compares, prints the table and writes compare.csv, compare.md and the chart(s) into
/// the output folder. Bad input is a [`UsageError`].
pub fn compare(opts: &CompareOptions) -> anyhow::Result<CompareOutcome> {
    let (pairs, only_old, only_new) = pair_folders(&opts.old, &opts.new)?;
    let mut experiments = Vec::new();
    for (name, old, new) in pairs {
        check_machines(&old, &new, opts)?;
        let read = |d: &Path| read_run(d).map_err(|e| UsageError(format!("{e:#}")));
        let (a, b) = (read(&old)?, read(&new)?);
        let matching = Matching {
            by_host: opts.by_host,
            implementation: a.has_implementation && b.has_implementation,
        };
        let comparison = judge(&a.times(matching), &b.times(matching), opts.noise);
        experiments.push(ExperimentComparison {
            name,
            old,
            new,
            comparison,
        });
    }
    if experiments.iter().all(|e| e.comparison.compared.is_empty()) {
        let unmatched: Vec<String> = experiments
            .iter()
            .flat_map(|e| &e.comparison.only_old)
            .take(5)
            .map(|k| k.label())
            .collect();
        return Err(UsageError(format!(
            "no cell of {} matches a cell of {} (by model, workers, axes and workload){}",
            opts.old.display(),
            opts.new.display(),
            if unmatched.is_empty() {
                String::new()
            } else {
                format!("; the old run has e.g. {}", unmatched.join(", "))
            }
        ))
        .into());
    }
    let out = opts.out.clone().unwrap_or_else(|| opts.new.join("compare"));
    let outcome = CompareOutcome {
        experiments,
        only_old,
        only_new,
        out,
    };
    print_table(&outcome);
    std::fs::create_dir_all(&outcome.out)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", outcome.out.display())))?;
    write_csv(&outcome)?;
    let charts = write_charts(&outcome)?;
    write_md(&outcome, &charts)?;
    say(&format!(
        "wrote {}",
        outcome.out.join("compare.csv").display()
    ));
    Ok(outcome)
}

fn ratio_text(r: f64) -> String {
    format!("{r:.3}x")
}

fn print_table(o: &CompareOutcome) {
    for e in &o.experiments {
        let c = &e.comparison;
        say(&format!(
            "{}: {} -> {} (noise {}%{})",
            e.name,
            e.old.display(),
            e.new.display(),
            fmt_opt(Some(c.noise * 100.0), 1),
            if c.noise_from_spread {
                ", from the runs' spread"
            } else {
                ""
            }
        ));
        let labels: Vec<String> = c.compared.iter().map(|x| x.key.label()).collect();
        let w = labels.iter().map(|l| l.len()).max().unwrap_or(4).max(4);
        say(&format!(
            "  {:w$}  {:>10}  {:>10}  {:>8}  {:>17}  verdict",
            "cell", "old", "new", "ratio", "95% interval"
        ));
        for (x, label) in c.compared.iter().zip(&labels) {
            say(&format!(
                "  {label:w$}  {:>10}  {:>10}  {:>8}  {:>17}  {}",
                seconds(x.old.median),
                seconds(x.new.median),
                ratio_text(x.ratio),
                format!("{:.3}-{:.3}", x.ci.low, x.ci.high),
                x.verdict
            ));
        }
        for (which, keys) in [("old", &c.only_old), ("new", &c.only_new)] {
            if !keys.is_empty() {
                eprintln!(
                    "{}: {} cell(s) only in the {which} run: {}",
                    e.name,
                    keys.len(),
                    keys.iter()
                        .map(|k| k.label())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
    for (which, names) in [("old", &o.only_old), ("new", &o.only_new)] {
        if !names.is_empty() {
            eprintln!(
                "experiment(s) only in the {which} run: {}",
                names.join(", ")
            );
        }
    }
    let total: usize = o
        .experiments
        .iter()
        .map(|e| e.comparison.compared.len())
        .sum();
    say(&format!(
        "{total} cell(s): {} same, {} slower, {} faster, {} unclear",
        o.count(Verdict::Same),
        o.count(Verdict::Slower),
        o.count(Verdict::Faster),
        o.count(Verdict::Unclear)
    ));
}

fn write_csv(o: &CompareOutcome) -> anyhow::Result<()> {
    let all = || o.experiments.iter().flat_map(|e| &e.comparison.compared);
    let axes: BTreeSet<String> = all()
        .flat_map(|x| x.key.axes.iter().map(|(k, _)| k.clone()))
        .collect();
    let implementation = all().any(|x| x.key.implementation.is_some());
    let host = all().any(|x| x.key.host.is_some());
    let mut header: Vec<String> = ["experiment", "workload", "model", "workers"]
        .map(String::from)
        .to_vec();
    header.extend(axes.iter().cloned());
    if implementation {
        header.push("implementation".into());
    }
    if host {
        header.push("host".into());
    }
    header.extend(
        [
            "old_median_s",
            "new_median_s",
            "ratio",
            "ratio_ci_low",
            "ratio_ci_high",
            "verdict",
            "old_n",
            "new_n",
            "ratio_ci_coverage",
        ]
        .map(String::from),
    );
    let mut records = Vec::new();
    for e in &o.experiments {
        for x in &e.comparison.compared {
            let k = &x.key;
            let mut r = vec![
                e.name.clone(),
                k.workload.clone(),
                k.model.clone(),
                k.workers.to_string(),
            ];
            r.extend(axes.iter().map(|a| {
                k.axes
                    .iter()
                    .find(|(n, _)| n == a)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            }));
            if implementation {
                r.push(k.implementation.clone().unwrap_or_default());
            }
            if host {
                r.push(k.host.clone().unwrap_or_default());
            }
            r.extend([
                fmt_s(x.old.median),
                fmt_s(x.new.median),
                fmt_opt(Some(x.ratio), 4),
                fmt_opt(Some(x.ci.low), 4),
                fmt_opt(Some(x.ci.high), 4),
                x.verdict.to_string(),
                x.old.n.to_string(),
                x.new.n.to_string(),
                fmt_opt(Some(x.ci.coverage), 4),
            ]);
            records.push(r);
        }
    }
    atomic::write_csv(&o.out.join("compare.csv"), &header, records)
}

/// compare.png for one experiment, compare-<name>.png each for several; their names.
fn write_charts(o: &CompareOutcome) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for e in &o.experiments {
        let c = &e.comparison;
        if c.compared.is_empty() {
            continue;
        }
        let file = if o.experiments.len() == 1 {
            "compare.png".to_string()
        } else {
            format!("compare-{}.png", e.name)
        };
        let subtitle = format!(
            "{} -> {}; bars: the ratio's interval ({} cells)",
            e.old.display(),
            e.new.display(),
            c.compared.len()
        );
        chart::draw(
            c,
            &format!("{}: new time / old time per cell", e.name),
            &subtitle,
            &o.out.join(&file),
            chart::size(c.compared.len(), (1600, 700)),
        )?;
        names.push(file);
    }
    Ok(names)
}

fn write_md(o: &CompareOutcome, charts: &[String]) -> anyhow::Result<()> {
    let total: usize = o
        .experiments
        .iter()
        .map(|e| e.comparison.compared.len())
        .sum();
    let share = |v: Verdict| {
        if total == 0 {
            0.0
        } else {
            100.0 * o.count(v) as f64 / total as f64
        }
    };
    let mut s = String::from("# conclab compare\n\n");
    s.push_str(&format!(
        "{total} matched cell(s): **{} same ({:.0}%)**, {} slower, {} faster, {} unclear.\n\n",
        o.count(Verdict::Same),
        share(Verdict::Same),
        o.count(Verdict::Slower),
        o.count(Verdict::Faster),
        o.count(Verdict::Unclear)
    ));
    s.push_str(
        "The ratio is the new run's median over the old run's (above 1: slower). Its interval \
         holds every ratio of the two medians' intervals, at the coverage shown. A change below \
         the noise threshold is `same`; a larger one is `slower` or `faster` only when its \
         interval leaves 1 on that side, else `unclear`; with fewer than 6 repetitions a side \
         every cell is `unclear`.\n",
    );
    for e in &o.experiments {
        let c = &e.comparison;
        s.push_str(&format!(
            "\n## {}\n\n`{}` -> `{}`; noise threshold {}%{}.\n\n",
            e.name,
            e.old.display(),
            e.new.display(),
            fmt_opt(Some(c.noise * 100.0), 1),
            if c.noise_from_spread {
                " (from the runs' spread)"
            } else {
                ""
            }
        ));
        s.push_str("| cell | old median | new median | ratio | interval (coverage) | verdict |\n|---|---|---|---|---|---|\n");
        for x in &c.compared {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:.3}-{:.3} ({:.1}%) | {} |\n",
                x.key.label(),
                seconds(x.old.median),
                seconds(x.new.median),
                ratio_text(x.ratio),
                x.ci.low,
                x.ci.high,
                x.ci.coverage * 100.0,
                x.verdict
            ));
        }
        for (which, keys) in [("old", &c.only_old), ("new", &c.only_new)] {
            if !keys.is_empty() {
                s.push_str(&format!("\nOnly in the {which} run:\n\n"));
                for k in keys {
                    s.push_str(&format!("- {}\n", k.label()));
                }
            }
        }
    }
    for (which, names) in [("old", &o.only_old), ("new", &o.only_new)] {
        if !names.is_empty() {
            s.push_str(&format!(
                "\nExperiments only in the {which} run: {}\n",
                names.join(", ")
            ));
        }
    }
    for c in charts {
        s.push_str(&format!("\n![{c}]({c})\n"));
    }
    atomic::write(&o.out.join("compare.md"), s.as_bytes())
}
