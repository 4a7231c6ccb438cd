//! What is made from an experiment's results: one [`Output`] per file or printout, and
//! the list that `run`, `chart` and `merge` all write.

use std::path::Path;

use super::experiment_results::ExperimentResults;
use super::report_md;

/// One thing made from the typed results: a file of the folder, or lines on stdout.
pub trait Output {
    /// What it is, in an error message: `charts`, `summary.csv`.
    fn name(&self) -> &str;

    /// A failure of an output that is not essential is reported and the others are still
    /// made (charts are drawn from files that are already safe on the disk).
    fn essential(&self) -> bool {
        true
    }

    /// What the user is told when it failed and the others went on.
    fn not_made(&self) -> String {
        format!("{} not written", self.name())
    }

    fn write(&self, results: &ExperimentResults) -> anyhow::Result<()>;
}

/// `summary.csv`, rewritten whole: it is derived from runs.csv, so replacing it loses nothing.
pub struct SummaryCsv;

impl Output for SummaryCsv {
    fn name(&self) -> &str {
        super::files::SUMMARY
    }

    fn write(&self, results: &ExperimentResults) -> anyhow::Result<()> {
        super::summary::write(
            &results.folder.summary(),
            &results.summary_axes,
            &results.summary,
        )
    }
}

/// `claims.csv`, and the verdicts printed.
pub struct ClaimsCsv;

impl Output for ClaimsCsv {
    fn name(&self) -> &str {
        super::files::CLAIMS
    }

    fn write(&self, results: &ExperimentResults) -> anyhow::Result<()> {
        super::claims::write(&results.folder.claims(), &results.claims)?;
        super::claims::print(&results.claims);
        Ok(())
    }
}

/// `report.md`, linking the charts on disk when it is written.
pub struct ReportMd {
    /// The command that reproduces the folder.
    pub command: String,
}

impl Output for ReportMd {
    fn name(&self) -> &str {
        super::files::REPORT
    }

    fn write(&self, results: &ExperimentResults) -> anyhow::Result<()> {
        let charts = results.charts_on_disk();
        report_md::Report {
            exp: results.experiment()?,
            summary: &results.summary,
            claims: &results.claims,
            charts: &charts,
            env: results.environment.as_ref(),
            hosts: results.hosts.as_ref(),
            command: self.command.clone(),
        }
        .write(results.dir())
    }
}

/// Makes every output in order. Returns whether all were made. A failure ends the list,
/// except, when `lenient`, that of an output that is not essential: it is reported on
/// stderr and the rest are still made.
pub fn write_all(
    outputs: &[Box<dyn Output + '_>],
    results: &ExperimentResults,
    lenient: bool,
) -> anyhow::Result<bool> {
    let mut all = true;
    for o in outputs {
        match o.write(results) {
            Ok(()) => {}
            Err(e) if lenient && !o.essential() => {
                eprintln!("error: {}: {}: {e:#}", results.name(), o.not_made());
                all = false;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(all)
}

/// `index.md` of a results root: every experiment folder under it with its verdicts.
pub fn write_index(root: &Path) -> anyhow::Result<()> {
    report_md::write_index(root)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::results::files::Folder;

    /// An output that records that it ran, and fails when told to.
    struct Probe<'a> {
        name: &'static str,
        fails: bool,
        essential: bool,
        ran: &'a RefCell<Vec<&'static str>>,
    }

    impl Output for Probe<'_> {
        fn name(&self) -> &str {
            self.name
        }
        fn essential(&self) -> bool {
            self.essential
        }
        fn write(&self, _: &ExperimentResults) -> anyhow::Result<()> {
            self.ran.borrow_mut().push(self.name);
            if self.fails {
                anyhow::bail!("{} broke", self.name)
            }
            Ok(())
        }
    }

    fn empty() -> ExperimentResults {
        ExperimentResults {
            experiment: None,
            folder: Folder::new(Path::new(".")),
            cores: 1,
            runs: Vec::new(),
            summary: Vec::new(),
            summary_axes: Vec::new(),
            claims: Vec::new(),
            tasks: Vec::new(),
            phases: Vec::new(),
            environment: None,
            hosts: None,
        }
    }

    #[test]
    fn a_failed_output_that_is_not_essential_stops_only_a_strict_list() {
        let ran = RefCell::new(Vec::new());
        let list = |ran| -> Vec<Box<dyn Output + '_>> {
            vec![
                Box::new(Probe {
                    name: "a",
                    fails: false,
                    essential: true,
                    ran,
                }),
                Box::new(Probe {
                    name: "charts",
                    fails: true,
                    essential: false,
                    ran,
                }),
                Box::new(Probe {
                    name: "c",
                    fails: false,
                    essential: true,
                    ran,
                }),
            ]
        };
        let results = empty();
        assert!(!write_all(&list(&ran), &results, true).unwrap());
        assert_eq!(*ran.borrow(), ["a", "charts", "c"]);
        ran.borrow_mut().clear();
        assert!(write_all(&list(&ran), &results, false).is_err());
        assert_eq!(*ran.borrow(), ["a", "charts"]);
    }
}
