//! `probe`: a model that exists only in the test build, to prove that a model is one file
//! and one registry line: every generic part (the checker, the schema, the matrix, the
//! runner, summary, claims, the printed table and the charts) must take it as it is.

use std::time::Duration;

use super::descriptor::{Descriptor, Rgb, RustModel, Setting, SettingValue, Workers};
use super::{Concurrency, Execution, Job, ModelKind, Scheduler, run_task};
use crate::workload::Worker;

/// A pause on the calling thread before each task.
pub const PAUSE: &str = "pause";

pub static MODEL: RustModel = RustModel {
    // One task at a time, whatever `workers` says: its ideal is sequential's.
    about: Descriptor {
        settings: &[Setting {
            key: PAUSE,
            doc: "wait this long before each task (default 1us)",
            default: SettingValue::Duration(Duration::from_micros(1)),
        }],
        ..Descriptor::conclab(
            Workers::Taken,
            |_, _| Concurrency { waits: 1, cpu: 1 },
            Rgb(255, 0, 255),
        )
    },
    scheduler: &Probe,
};

/// Runs the tasks on the calling thread, last first.
pub struct Probe;

impl Scheduler for Probe {
    fn run(&self, job: &Job<'_>) -> anyhow::Result<Execution> {
        let pause = job.settings.duration(ModelKind::Probe, PAUSE);
        let mut worker = Worker::new(0, job.cancel).with_phases(job.phases);
        let mut records = Vec::new();
        for task in (0..job.workload.tasks()).rev() {
            if job.cancel.is_set() {
                break;
            }
            std::thread::sleep(pause);
            records.push(run_task(
                job.workload.as_ref(),
                task,
                &mut worker,
                job.epoch,
            ));
        }
        Ok(Execution {
            records,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::Parser;

    use super::*;
    use crate::experiment::expand::expand;
    use crate::experiment::{Experiment, parse_experiment};
    use crate::model::Model;

    const FILE: &str = "name = \"probe-lab\"\nrepetitions = 2\n[workload]\nkind = \"sleep\"\ntasks = 3\nduration = \"1ms\"\n[matrix]\nmodel = [\"sequential\", \"probe\"]\nworkers = [1, 2]\n";

    fn parse(text: &str) -> Result<Experiment, Vec<String>> {
        parse_experiment("/lab/p.toml", text, Path::new("/lab/p.toml"), &[])
            .map_err(|e| e.diagnostics.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn the_registry_line_makes_it_a_builtin_model() {
        assert!(ModelKind::ALL.contains(&ModelKind::Probe));
        assert_eq!(ModelKind::Probe.name(), "probe");
        assert_eq!(Model::builtin("probe"), Some(Model::Rust(ModelKind::Probe)));
        assert!(Model::builtin_names().contains(&"probe"));
        assert_eq!(crate::model::baseline_of("probe"), "sequential");
        let Rgb(r, g, b) = MODEL.about.colour;
        assert_eq!(
            crate::chart::model_colour("probe"),
            plotters::style::RGBColor(r, g, b)
        );
    }

    #[test]
    fn its_setting_is_checked_written_back_and_part_of_its_cells() {
        let plain = parse(FILE).unwrap();
        let paused = parse(&format!("{FILE}[models.probe]\npause = \"2ms\"\n")).unwrap();
        assert_eq!(
            paused.settings.duration(ModelKind::Probe, PAUSE),
            Duration::from_millis(2)
        );
        let ids = |e: &Experiment| expand(e).into_iter().map(|c| c.id).collect::<Vec<_>>();
        let (a, b) = (ids(&plain), ids(&paused));
        assert_eq!(a[0], b[0], "sequential does not read the pause");
        assert_ne!(a[1], b[1], "the pause defines the probe's cells");
        assert_eq!(ids(&parse(&paused.resolved_toml()).unwrap()), b);
        assert!(
            paused
                .resolved_toml()
                .contains("[models.probe]\npause = \"2ms\"")
        );
        let typo = parse(&format!("{FILE}[models.probe]\npaus = \"2ms\"\n")).unwrap_err();
        assert!(typo[0].contains("did you mean \"pause\"?"), "{typo:?}");
        let zero = parse(&format!("{FILE}[models.probe]\npause = \"0ms\"\n")).unwrap_err();
        assert!(zero[0].contains("must be a duration > 0"), "{zero:?}");
    }

    #[test]
    fn the_schema_lists_it_with_its_setting() {
        let s = crate::experiment::schema::schema();
        let names = &s["properties"]["matrix"]["properties"]["model"]["items"]["anyOf"][0]["enum"];
        assert!(names.as_array().unwrap().contains(&"probe".into()));
        let pause = &s["properties"]["models"]["properties"]["probe"]["properties"]["pause"];
        assert_eq!(pause["$ref"], "#/$defs/duration");
    }

    #[test]
    fn it_runs_every_task_alone() {
        let config = crate::workload::WorkloadConfig::Sleep(crate::workload::sleep::SleepConfig {
            tasks: 3,
            duration: Duration::from_millis(1),
        });
        let alone =
            crate::model::run_alone(ModelKind::Probe, &config, 2, &Default::default()).unwrap();
        assert_eq!(alone.verdict.check, crate::workload::Check::Pass);
        assert_eq!(alone.execution.records.len(), 3);
    }

    /// The whole run, in-process: the table, summary.csv with its speedup against
    /// sequential, claims.csv and the charts all take the probe as they take any model.
    #[test]
    fn a_run_writes_its_rows_claims_and_charts() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("probe-lab.toml");
        let claim = "[[claims]]\nsay = \"the probe runs\"\ncell = { model = \"probe\", workers = 2 }\nexpect = \"check == pass\"\n";
        std::fs::write(&file, format!("{FILE}{claim}")).unwrap();
        let out = dir.path().join("results");
        let cli = crate::cli::Cli::parse_from([
            "conclab".as_ref(),
            "run".as_ref(),
            file.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "-q".as_ref(),
        ]);
        assert_eq!(crate::app::main(cli), crate::error::EXIT_OK);
        let folder = out.join("probe-lab");
        let summary = std::fs::read_to_string(folder.join("summary.csv")).unwrap();
        let probe: Vec<&str> = summary.lines().filter(|l| l.contains(",probe,")).collect();
        assert_eq!(probe.len(), 2, "{summary}");
        let header: Vec<&str> = summary.lines().next().unwrap().split(',').collect();
        let speedup = header.iter().position(|c| *c == "speedup").unwrap();
        assert!(
            probe
                .iter()
                .all(|l| !l.split(',').nth(speedup).unwrap().is_empty()),
            "a speedup against sequential: {summary}"
        );
        let claims = std::fs::read_to_string(folder.join("claims.csv")).unwrap();
        assert!(claims.contains("the probe runs"), "{claims}");
        assert!(claims.contains(",holds,"), "{claims}");
        for chart in ["time.png", "speedup.png", "timeline.png"] {
            assert!(folder.join(chart).is_file(), "{chart}");
        }
    }
}
