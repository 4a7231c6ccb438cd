//! `phases.csv`: what each task of a timeline was doing (holding or waiting for the
//! interpreter lock, computing, waiting), for the repetition `tasks.csv` records.

use std::path::Path;

use super::csv_file::AppendCsv;
use super::fmt_s;
use crate::experiment::Cell;
use crate::model::{Model, ModelKind};
use crate::workload::Phase;

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
/// under `gil_threads`, computing against waiting in the workloads that do both.
pub fn worth_recording(cell: &Cell) -> bool {
    cell.model == Model::Rust(ModelKind::GilThreads) || cell.workload.def().phases
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
