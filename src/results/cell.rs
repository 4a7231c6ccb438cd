//! Which cell a row is of: the identity runs.csv and summary.csv rows share, with its
//! columns written and read in one place.

use std::collections::HashMap;

use super::csv_file::Field;

/// The leading columns of runs.csv and summary.csv; the axes follow them.
pub const LEADING: [&str; 5] = ["experiment", "cell", "workload", "model", "workers"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellId {
    pub experiment: String,
    /// The cell's id (pinned by the experiment's matrix, never recomputed here).
    pub cell: String,
    pub workload: String,
    pub model: String,
    pub workers: usize,
    /// The values of the experiment's extra axes, in its order.
    pub axes: Vec<(String, String)>,
}

impl CellId {
    /// `thread_pool w=2` plus any extra axes.
    pub fn label(&self) -> String {
        let axes: String = self.axes.iter().map(|(k, v)| format!(" {k}={v}")).collect();
        format!("{} w={}{axes}", self.model, self.workers)
    }

    /// The leading columns, then the axes in the row's own order.
    pub fn columns(&self) -> Vec<(&str, String)> {
        let mut c = vec![
            ("experiment", self.experiment.clone()),
            ("cell", self.cell.clone()),
            ("workload", self.workload.clone()),
            ("model", self.model.clone()),
            ("workers", self.workers.to_string()),
        ];
        c.extend(self.axes.iter().map(|(k, v)| (k.as_str(), v.clone())));
        c
    }

    /// The leading columns, then the value of each of `axes` (empty where the row has none).
    pub fn record(&self, axes: &[String]) -> Vec<String> {
        let mut rec = vec![
            self.experiment.clone(),
            self.cell.clone(),
            self.workload.clone(),
            self.model.clone(),
            self.workers.to_string(),
        ];
        rec.extend(axes.iter().map(|a| {
            self.axes
                .iter()
                .find(|(k, _)| k == a)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        }));
        rec
    }

    /// Reads the identity of a row; `axes` names the axis columns. Only `workers` must
    /// be there and be a number.
    pub fn read(row: &Field<'_>, axes: &[String]) -> anyhow::Result<CellId> {
        Ok(CellId {
            experiment: row.text("experiment"),
            cell: row.text("cell"),
            workload: row.text("workload"),
            model: row.text("model"),
            workers: row.number("workers")? as usize,
            axes: row.axes(axes),
        })
    }

    pub fn from_map(m: &HashMap<String, String>, axes: &[String]) -> Option<CellId> {
        let id = Self::read(&Field(m), axes).ok()?;
        // A count of workers is a whole number: "2.5" is a malformed row, not 2.
        m.get("workers")?.parse::<usize>().ok()?;
        Some(id)
    }
}
