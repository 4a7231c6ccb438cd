//! `tasks.csv`: the timeline of the first measured repetition of each cell, one row per task.

use std::collections::HashSet;
use std::path::Path;

use super::csv_file::AppendCsv;
use super::fmt_s;
use crate::experiment::Cell;
use crate::workload::http::{HttpOutcome, outcome_key};
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
        for r in records {
            let mut row = cell_columns(cell);
            row.extend([
                ("task", r.task.to_string()),
                ("lane", r.lane.to_string()),
                ("start_s", fmt_s(r.start_s)),
                ("end_s", fmt_s(r.end_s)),
                ("ok", r.result.ok.to_string()),
                ("detail", detail(&r.result.output)),
            ]);
            row.extend(http_columns(&r.result.output));
            self.file.append_unflushed(&row)?;
        }
        self.file.flush()?;
        self.recorded.insert(cell.id.clone());
        Ok(())
    }
}

/// `detail`: what a task gave, in a few characters; for a task of steps, each step's in
/// order (`200 | done | e907f4045ca9cdf3`).
fn detail(output: &Output) -> String {
    match output {
        Output::Done => String::new(),
        Output::Digest(d) => d.chars().take(16).collect(),
        Output::Error(e) => e.clone(),
        Output::Http(h) => h.error.clone().unwrap_or_default(),
        Output::Steps(steps) => steps
            .iter()
            .map(|s| match s {
                Output::Done => "done".to_string(),
                Output::Http(h) => outcome_key(h),
                other => detail(other),
            })
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

/// `status`, `bytes`, `latency_s` and `error` of a request. For a task of steps: every
/// request's status (`200|503`), their bytes and latencies summed, and in `error` the step
/// that failed the task (`step 2: timeout`), whatever its kind.
fn http_columns(output: &Output) -> Vec<(&'static str, String)> {
    let columns = |requests: &[&HttpOutcome]| {
        let statuses: Vec<String> = requests
            .iter()
            .map(|h| h.status.map(|s| s.to_string()).unwrap_or_default())
            .collect();
        vec![
            ("status", statuses.join("|")),
            (
                "bytes",
                requests.iter().map(|h| h.bytes).sum::<u64>().to_string(),
            ),
            (
                "latency_s",
                fmt_s(requests.iter().map(|h| h.latency_s).sum::<f64>()),
            ),
        ]
    };
    match output {
        Output::Http(h) => {
            let mut c = columns(&[h]);
            c.push(("error", h.error.clone().unwrap_or_default()));
            c
        }
        Output::Steps(steps) => {
            let requests: Vec<&HttpOutcome> = steps
                .iter()
                .filter_map(|s| match s {
                    Output::Http(h) => Some(h),
                    _ => None,
                })
                .collect();
            let mut c = if requests.is_empty() {
                Vec::new()
            } else {
                columns(&requests)
            };
            if let Some(step) = steps.iter().position(|s| !s.succeeded()) {
                let why = match &steps[step] {
                    Output::Http(h) => h.error.clone().unwrap_or_default(),
                    other => detail(other),
                };
                c.push(("error", format!("step {}: {why}", step + 1)));
            }
            c
        }
        _ => Vec::new(),
    }
}

/// The columns that name a cell in tasks.csv and phases.csv: cell, model, workers, axes.
pub fn cell_columns(cell: &Cell) -> Vec<(&str, String)> {
    let mut row = vec![
        ("cell", cell.id.clone()),
        ("model", cell.model.name().to_string()),
        ("workers", cell.workers.to_string()),
    ];
    row.extend(cell.axes.iter().map(|(k, v)| (k.as_str(), v.clone())));
    row
}

/// One task of a recorded timeline, as tasks.csv keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpan {
    pub cell: String,
    pub model: String,
    pub workers: usize,
    /// The axis values the file names; a `merge --by-host` folder's lack `host`.
    pub axes: Vec<(String, String)>,
    pub lane: usize,
    pub start_s: f64,
    pub end_s: f64,
    pub ok: bool,
}

/// Every task span of a tasks.csv; none when the folder has no such file.
pub fn read(path: &Path) -> anyhow::Result<Vec<TaskSpan>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let (_, spans) = super::csv_file::read_typed(path, ("workers", "task"), |r, axes| {
        Ok(TaskSpan {
            cell: r.text("cell"),
            model: r.text("model"),
            workers: r.number("workers")? as usize,
            axes: r.axes(axes),
            lane: r.number("lane")? as usize,
            start_s: r.number("start_s")?,
            end_s: r.number("end_s")?,
            ok: r.text("ok") == "true",
        })
    })?;
    Ok(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(status: u16, error: Option<&str>) -> Output {
        Output::Http(HttpOutcome {
            status: Some(status),
            bytes: 100,
            latency_s: 0.25,
            error: error.map(String::from),
        })
    }

    #[test]
    fn a_task_of_steps_shows_each_step_and_sums_its_requests() {
        let ok = Output::Steps(vec![
            request(200, None),
            Output::Done,
            Output::Digest("e907f4045ca9cdf3db84".into()),
            request(200, None),
        ]);
        assert_eq!(detail(&ok), "200 | done | e907f4045ca9cdf3 | 200");
        assert_eq!(
            http_columns(&ok),
            [
                ("status", "200|200".to_string()),
                ("bytes", "200".to_string()),
                ("latency_s", fmt_s(0.5)),
            ]
        );
        let failed = Output::Steps(vec![Output::Done, request(503, Some("status"))]);
        assert_eq!(detail(&failed), "done | 503");
        assert_eq!(
            http_columns(&failed).last(),
            Some(&("error", "step 2: status".to_string()))
        );
        let cancelled = Output::Steps(vec![Output::Error("cancelled".into())]);
        assert_eq!(
            http_columns(&cancelled),
            [("error", "step 1: cancelled".to_string())],
            "no request, no request columns"
        );
        // A single request keeps the columns it always had.
        assert_eq!(
            http_columns(&request(200, None)),
            [
                ("status", "200".to_string()),
                ("bytes", "100".to_string()),
                ("latency_s", fmt_s(0.25)),
                ("error", String::new()),
            ]
        );
    }
}
