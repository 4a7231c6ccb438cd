//! `phases.csv`: what each task of a timeline was doing (holding or waiting for the
//! interpreter lock, computing, waiting), for the repetition `tasks.csv` records.

use std::path::Path;

use super::csv_file::AppendCsv;
use super::fmt_s;
use crate::experiment::Cell;
use crate::workload::{Phase, PhaseKind};

pub struct PhasesFile {
    file: AppendCsv,
}

pub fn header(axes: &[String]) -> Vec<String> {
    super::csv_file::header_with_axes(
        &["cell", "model", "workers"],
        axes,
        &["task", "lane", "phase", "start_s", "end_s"],
    )
}

/// Whether phases say more about `cell` than its task spans do: the lock's turn-taking
/// of a model that records them (an emulated GIL), computing against waiting in the
/// workloads that do both.
pub fn worth_recording(cell: &Cell) -> bool {
    cell.model.records_phases() || cell.workload.def().phases
}

impl PhasesFile {
    pub fn open(path: &Path, axes: &[String]) -> anyhow::Result<PhasesFile> {
        let (file, _) = AppendCsv::open(path, &header(axes))?;
        Ok(PhasesFile { file })
    }

    pub fn sync_data(&mut self) -> anyhow::Result<()> {
        self.file.sync_data()
    }

    /// Appends the phases of one repetition of `cell`.
    pub fn append(&mut self, cell: &Cell, phases: &[Phase]) -> anyhow::Result<()> {
        if phases.is_empty() {
            return Ok(());
        }
        for p in phases {
            let mut row = super::tasks::cell_columns(cell);
            row.extend([
                ("task", p.task.to_string()),
                ("lane", p.lane.to_string()),
                ("phase", p.kind.as_str().to_string()),
                ("start_s", fmt_s(p.start_s)),
                ("end_s", fmt_s(p.end_s)),
            ]);
            self.file.append_unflushed(&row)?;
        }
        self.file.flush()
    }
}

/// One stretch of what a task was doing, as phases.csv keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSpan {
    pub cell: String,
    pub model: String,
    pub workers: usize,
    pub axes: Vec<(String, String)>,
    pub lane: usize,
    pub kind: PhaseKind,
    pub start_s: f64,
    pub end_s: f64,
}

/// Every phase of a phases.csv; none when the folder has no such file (older results).
pub fn read(path: &Path) -> anyhow::Result<Vec<PhaseSpan>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let (_, spans) = super::csv_file::read_typed(path, ("workers", "task"), |r, axes| {
        let phase = r.text("phase");
        Ok(PhaseSpan {
            cell: r.text("cell"),
            model: r.text("model"),
            workers: r.number("workers")? as usize,
            axes: r.axes(axes),
            lane: r.number("lane")? as usize,
            kind: PhaseKind::parse(&phase)
                .ok_or_else(|| anyhow::anyhow!("column phase: \"{phase}\" is not a phase"))?,
            start_s: r.number("start_s")?,
            end_s: r.number("end_s")?,
        })
    })?;
    Ok(spans)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_phase_that_is_none_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phases.csv");
        std::fs::write(
            &path,
            "cell,model,workers,task,lane,phase,start_s,end_s\nc,gil_threads,2,0,0,held,0,1\nc,gil_threads,2,1,0,nap,0,1\n",
        )
        .unwrap();
        let err = format!("{:#}", super::read(&path).unwrap_err());
        assert!(
            err.contains("line 3") && err.contains("\"nap\" is not a phase"),
            "{err}"
        );
    }
}
