//! The verbs at the top of the house: each reads its input, drives the engine or the
//! results, and makes the same list of outputs.

pub mod chart;
pub mod compare;
pub mod merge;
pub mod plan;
pub mod reference;
pub mod run;
pub mod serve;

use crate::chart::{ChartOptions, Charts};
use crate::report::Table;
use crate::results::outputs::{ClaimsCsv, Output, ReportMd, SummaryCsv};

/// What `run`, `chart` and `merge` make of an experiment's results, in this order:
/// summary.csv, the table, the charts (when asked for), claims.csv, report.md (last: it
/// links the charts on disk). `command` is the one report.md gives to reproduce them.
pub fn outputs(
    charts: Option<ChartOptions>,
    machine_warning: bool,
    command: String,
) -> Vec<Box<dyn Output>> {
    let mut list: Vec<Box<dyn Output>> =
        vec![Box::new(SummaryCsv), Box::new(Table { machine_warning })];
    if let Some(options) = charts {
        list.push(Box::new(Charts { options }));
    }
    list.push(Box::new(ClaimsCsv));
    list.push(Box::new(ReportMd { command }));
    list
}
