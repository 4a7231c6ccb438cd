//! `conclab chart DIR`: summary.csv, the charts and the findings rebuilt from a results
//! folder's CSV files alone.

use std::path::Path;

use crate::chart::ChartOptions;
use crate::results::experiment_results::ExperimentResults;
use crate::results::files;
use crate::results::outputs::{write_all, write_index};

/// The file a results folder was made from, as its experiment.toml records it.
fn source_of(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(files::EXPERIMENT)).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("# source = "))?;
    toml::from_str::<toml::Table>(&format!("s = {line}"))
        .ok()?
        .get("s")?
        .as_str()
        .map(str::to_string)
}

/// `conclab chart DIR`: summary.csv, the table, every chart, claims.csv and report.md
/// from the folder's files alone, then index.md of the folder above.
pub fn rebuild_charts(dir: &Path, (width, height): (u32, u32)) -> anyhow::Result<()> {
    let results = ExperimentResults::read(dir)?;
    let exp = results.experiment()?;
    let root = dir.parent().filter(|p| !p.as_os_str().is_empty());
    let source =
        source_of(dir).unwrap_or_else(|| dir.join(files::EXPERIMENT).display().to_string());
    let out = root.map_or_else(|| ".".to_string(), |r| r.display().to_string());
    let command = format!(
        "conclab run {source} --out {out}\nconclab chart {}",
        dir.display()
    );
    let charts = ChartOptions {
        width,
        height,
        timeline_workers: exp.chart.timeline_workers,
    };
    write_all(
        &super::outputs(Some(charts), true, command),
        &results,
        false,
    )?;
    write_index(root.unwrap_or(Path::new(".")))
}
