//! `tasks.csv`: the timeline of the first measured repetition of each cell, one row per task.

use std::collections::HashSet;
use std::path::Path;

use super::csv_file::AppendCsv;
use super::fmt_s;
use crate::spec::Cell;
use crate::workload::{Output, TaskRecord};

pub struct TasksFile {
    file: AppendCsv,
    /// Cells whose timeline is already in the file.
    pub recorded: HashSet<String>,
}

pub fn header(axes: &[String]) -> Vec<String> {
    super::csv_file::header_with_axes(
        &["cell", "model", "workers"],
        axes,
        &[
            "task",
            "lane",
            "start_s",
            "end_s",
            "ok",
            "detail",
            "status",
            "bytes",
            "latency_s",
            "error",
        ],
    )
}

impl TasksFile {
    pub fn open(path: &Path, axes: &[String]) -> anyhow::Result<TasksFile> {
        let (file, rows) = AppendCsv::open(path, &header(axes))?;
        let recorded = rows.iter().filter_map(|r| r.get("cell").cloned()).collect();
        Ok(TasksFile { file, recorded })
    }

    /// Waits until the timelines written so far are on the disk.
    pub fn sync_data(&mut self) -> anyhow::Result<()> {
        self.file.sync_data()
    }

    /// Appends the timeline of one repetition of `cell`.
    pub fn append(&mut self, cell: &Cell, records: &[TaskRecord]) -> anyhow::Result<()> {
        let workers = cell.workers.to_string();
        for r in records {
            let detail = match &r.result.output {
                Output::Done => String::new(),
                Output::Digest(d) => d.chars().take(16).collect(),
                Output::Error(e) => e.clone(),
                Output::Http(h) => h.error.clone().unwrap_or_default(),
            };
            let mut row = vec![
                ("cell", cell.id.clone()),
                ("model", cell.model.name().to_string()),
                ("workers", workers.clone()),
            ];
            row.extend(cell.axes.iter().map(|(k, v)| (k.as_str(), v.clone())));
            row.extend([
                ("task", r.task.to_string()),
                ("lane", r.lane.to_string()),
                ("start_s", fmt_s(r.start_s)),
                ("end_s", fmt_s(r.end_s)),
                ("ok", r.result.ok.to_string()),
                ("detail", detail),
            ]);
            if let Output::Http(h) = &r.result.output {
                row.extend([
                    (
                        "status",
                        h.status.map(|s| s.to_string()).unwrap_or_default(),
                    ),
                    ("bytes", h.bytes.to_string()),
                    ("latency_s", fmt_s(h.latency_s)),
                    ("error", h.error.clone().unwrap_or_default()),
                ]);
            }
            self.file.append_unflushed(&row)?;
        }
        self.file.flush()?;
        self.recorded.insert(cell.id.clone());
        Ok(())
    }
}
