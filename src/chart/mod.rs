//! Charts of one experiment's typed results: time, speedup and the task timeline, one set
//! per combination of the extra matrix axes.

pub mod compare;
mod draw;
mod palette;
mod phases;
mod speedup;
mod text;
mod time;
mod timeline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub use draw::{
    Chart, LegendMark, axes, frame, linear_ticks, log_ticks, model_line, reference_line,
    short_number, whisker, worker_axis, worker_ticks,
};
pub use palette::{FAILED, FONT, model_colour};

use crate::results::experiment_results::ExperimentResults;
use crate::results::outputs::Output;
use crate::results::stats::MedianCi;
use crate::results::summary::SummaryRow;
use crate::results::tasks::TaskSpan;

#[derive(Debug, Clone, PartialEq)]
pub struct ChartOptions {
    pub width: u32,
    pub height: u32,
    /// The worker count whose timeline is drawn; default: `[chart] timeline_workers` of
    /// the experiment, else the largest one the worker-dependent models share.
    pub timeline_workers: Option<usize>,
}

impl Default for ChartOptions {
    fn default() -> Self {
        ChartOptions {
            width: 1600,
            height: 1000,
            timeline_workers: None,
        }
    }
}

/// The values of the extra axes that one set of charts is drawn for.
type AxisValues = Vec<(String, String)>;

/// One cell of the summary, as the charts place it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub model: String,
    pub workers: usize,
    /// Repetitions behind the median.
    pub n: usize,
    pub median: f64,
    /// The median's interval (min and max in summaries written before intervals).
    pub low: f64,
    pub high: f64,
    pub ideal: Option<f64>,
    pub speedup: Option<f64>,
    pub speedup_ci: Option<MedianCi>,
    /// The coverage of the median's interval.
    pub coverage: f64,
    /// `flaky`, `fail` or `disputed` cells are marked in the legend.
    pub check: crate::workload::Check,
    /// What ran the cell (summary.csv's `implementation`; empty in older summaries).
    pub implementation: String,
}

/// The legend's mark for a model some of whose cells failed or are disputed: the check
/// and the worker counts, so no line is read as a clean result.
pub fn failure_mark(pts: &[&Point]) -> String {
    let mut marks: Vec<String> = pts
        .iter()
        .filter(|p| p.check.failed())
        .map(|p| format!("{} w={}", p.check.as_str(), p.workers))
        .collect();
    marks.dedup();
    if marks.is_empty() {
        String::new()
    } else {
        format!(" [{}]", marks.join(", "))
    }
}

/// A model's name in a legend, with what ran it where another program did, a free-threaded
/// build said short enough for a legend: `ft_pool (CPython 3.13.5, no GIL)`.
pub fn model_label(model: &str, points: &[&Point]) -> String {
    match points
        .iter()
        .map(|p| p.implementation.as_str())
        .find(|i| !i.is_empty() && !i.starts_with("conclab "))
    {
        Some(i) => {
            let short = i
                .replace(" free-threading (GIL disabled)", ", no GIL")
                .replace(
                    " free-threading (GIL enabled)",
                    ", free-threaded build, GIL on",
                );
            format!("{model} ({short})")
        }
        None => model.to_string(),
    }
}

/// One task of a recorded timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub model: String,
    pub workers: usize,
    pub lane: usize,
    pub start: f64,
    pub end: f64,
    pub ok: bool,
}

/// What every chart of one axis combination needs.
pub struct Group<'a> {
    pub experiment: &'a str,
    pub workload: &'a str,
    /// `iterations=1000 sync=none`, empty without extra axes.
    pub axes_label: String,
    pub machine: &'a str,
    pub cores: usize,
    pub points: Vec<Point>,
    pub spans: Vec<Span>,
    /// What the tasks were doing, where phases.csv says (empty for older results).
    pub phases: phases::PhaseIndex,
    /// The worker count whose timeline is drawn, when the user chose one.
    pub timeline_workers: Option<usize>,
    /// How each model is drawn (interpreter variants in their base model's colour).
    pub looks: palette::Looks,
}

impl Group<'_> {
    /// Models in palette order, each with its points sorted by workers.
    pub fn models(&self) -> Vec<(String, Vec<&Point>)> {
        let mut by: BTreeMap<(usize, String), Vec<&Point>> = BTreeMap::new();
        for p in &self.points {
            by.entry((self.looks.rank(&p.model), p.model.clone()))
                .or_default()
                .push(p);
        }
        by.into_iter()
            .map(|((_, m), mut ps)| {
                ps.sort_by_key(|p| p.workers);
                (m, ps)
            })
            .collect()
    }

    pub fn title(&self, what: &str) -> String {
        let axes = if self.axes_label.is_empty() {
            String::new()
        } else {
            format!(" [{}]", self.axes_label)
        };
        format!("{} — {}{axes}: {what}", self.experiment, self.workload)
    }
}

/// Models whose cells all have one worker count.
pub fn is_fixed(points: &[&Point]) -> bool {
    points.iter().all(|p| p.workers == points[0].workers)
}

/// Which models are drawn as flat reference lines: those with one worker count that either
/// ignore workers by definition or stand beside models that vary them. When no model
/// varies its workers, points say more than lines.
pub fn flat_lines(models: &[(String, Vec<&Point>)]) -> Vec<bool> {
    let varying = models.iter().any(|(_, p)| !is_fixed(p));
    models
        .iter()
        .map(|(m, p)| is_fixed(p) && (varying || ignores_workers(m)))
        .collect()
}

/// The most models one panel holds: beyond it, lines and points hide each other.
pub const PANEL_MODELS: usize = 8;

/// The panels a chart of `models` is drawn in, as (title, indices into `models`): one
/// untitled panel up to [`PANEL_MODELS`] models; beyond, one per family (conclab's models,
/// the CPython models, models of the user's own), each split again past the limit.
pub fn panels(
    models: &[(String, Vec<&Point>)],
    looks: &palette::Looks,
) -> Vec<(String, Vec<usize>)> {
    if models.len() <= PANEL_MODELS {
        return vec![(String::new(), (0..models.len()).collect())];
    }
    let mut families: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
    for (i, (m, points)) in models.iter().enumerate() {
        let family = crate::model::Model::builtin(m)
            .and_then(|m| m.about())
            .map(|a| a.family);
        // A variant's panel is its interpreter's, named as its rows name it.
        let implementation = points
            .iter()
            .map(|p| p.implementation.as_str())
            .find(|s| !s.is_empty());
        let key = match family {
            Some(crate::model::Family::Conclab) => (0, "conclab's models".into()),
            Some(crate::model::Family::Cpython) => (1, "CPython models".into()),
            None if looks.base_of(m).is_some() => (
                2,
                implementation.unwrap_or("interpreter variants").to_string(),
            ),
            None => (3, "other models".into()),
        };
        families.entry(key).or_default().push(i);
    }
    let mut out = Vec::new();
    for ((_, name), members) in families {
        let parts = members.len().div_ceil(PANEL_MODELS);
        for (k, chunk) in members.chunks(members.len().div_ceil(parts)).enumerate() {
            let title = if parts == 1 {
                name.to_string()
            } else {
                format!("{name} ({}/{parts})", k + 1)
            };
            out.push((title, chunk.to_vec()));
        }
    }
    out
}

/// The areas of `n` panels side by side, in rows of at most two.
pub fn panel_areas<'b>(
    plot: &plotters::drawing::DrawingArea<
        plotters::prelude::BitMapBackend<'b>,
        plotters::coord::Shift,
    >,
    n: usize,
) -> Vec<plotters::drawing::DrawingArea<plotters::prelude::BitMapBackend<'b>, plotters::coord::Shift>>
{
    if n <= 1 {
        return vec![plot.clone()];
    }
    let cols = 2;
    let rows = n.div_ceil(cols);
    plot.split_evenly((rows, cols))
        .into_iter()
        .take(n)
        .collect()
}

/// Whether a built-in model ignores the file's worker counts.
fn ignores_workers(model: &str) -> bool {
    crate::model::Model::builtin(model).is_some_and(|m| m.fixed_workers(1).is_some())
}

impl From<&SummaryRow> for Point {
    fn from(s: &SummaryRow) -> Point {
        Point {
            model: s.model.clone(),
            workers: s.workers,
            n: s.stats.n,
            median: s.stats.median,
            low: s.stats.ci.low,
            high: s.stats.ci.high,
            ideal: s.ideal_s,
            speedup: s.speedup,
            speedup_ci: s.speedup_ci,
            check: s.check,
            coverage: s.stats.ci.coverage,
            implementation: s.implementation.clone(),
        }
    }
}

impl From<&TaskSpan> for Span {
    fn from(t: &TaskSpan) -> Span {
        Span {
            model: t.model.clone(),
            workers: t.workers,
            lane: t.lane,
            start: t.start_s,
            end: t.end_s,
            ok: t.ok,
        }
    }
}

/// The legend entry for whiskers, with the coverage they really have (the least of the
/// chart's points): `| median interval, 75% (min–max of 3)`.
pub fn whisker_legend(points: &[Point], speedup: bool) -> String {
    let least = points
        .iter()
        .filter_map(|p| match speedup {
            true => p.speedup_ci.map(|c| (c.coverage, p.n)),
            false => Some((p.coverage, p.n)),
        })
        .min_by(|a, b| a.0.total_cmp(&b.0));
    let what = if speedup { "speedup" } else { "median" };
    match least {
        Some((c, n)) => format!(
            "| {what} interval, {}",
            crate::results::intervals::coverage_label(c, n)
        ),
        None => format!("| {what} interval"),
    }
}

/// The charts as an output of the results: drawn into the results folder.
pub struct Charts {
    pub options: ChartOptions,
}

impl Output for Charts {
    fn name(&self) -> &str {
        "charts"
    }

    /// The CSV files are already written when charts fail, so nothing is lost.
    fn essential(&self) -> bool {
        false
    }

    fn not_made(&self) -> String {
        "charts not drawn".into()
    }

    fn write(&self, results: &ExperimentResults) -> anyhow::Result<()> {
        let files = render(results, &self.options)?;
        crate::console::say(&format!(
            "  charts: {} PNG files in {}",
            files.len(),
            results.dir().display()
        ));
        Ok(())
    }
}

/// Draws the charts of a results folder as its files stand (summary.csv as written).
pub fn render_experiment(dir: &Path, opts: &ChartOptions) -> anyhow::Result<Vec<PathBuf>> {
    render(&ExperimentResults::read_as_written(dir)?, opts)
}

/// Draws every chart of `results` into its folder; returns the files, in drawing order.
pub fn render(results: &ExperimentResults, opts: &ChartOptions) -> anyhow::Result<Vec<PathBuf>> {
    palette::register_fonts();
    let rows = &results.summary;
    anyhow::ensure!(
        !rows.is_empty(),
        "{}: no rows to chart",
        results.folder.summary().display()
    );
    let dir = results.dir();
    let (cores, machine) = machine(results);
    let no_hosts = Default::default();
    let hosts = results.hosts.as_ref().unwrap_or(&no_hosts);
    let timeline_workers = opts.timeline_workers.or_else(|| {
        results
            .experiment
            .as_ref()
            .and_then(|e| e.chart.timeline_workers)
    });
    let experiment = rows[0].experiment.clone();
    let workload = rows[0].workload.clone();
    let looks = results
        .experiment
        .as_ref()
        .map(|e| palette::Looks::of(&e.models))
        .unwrap_or_default();
    let axes = &results.summary_axes;
    let combo = |values: &[(String, String)]| -> Option<AxisValues> {
        axes.iter()
            .map(|a| {
                let v = values.iter().find(|(k, _)| k == a)?;
                Some((a.clone(), v.1.clone()))
            })
            .collect()
    };
    // tasks.csv and phases.csv lack the `host` axis of a `merge --by-host` folder: their
    // rows go with the first summary row of their cell (merge keeps one timeline per cell).
    let mut key_of_cell: BTreeMap<&str, AxisValues> = BTreeMap::new();
    for r in rows {
        key_of_cell
            .entry(r.cell.as_str())
            .or_insert_with(|| combo(&r.axes).unwrap_or_default());
    }
    let timeline_key = |cell: &str, values: &[(String, String)]| -> AxisValues {
        combo(values)
            .or_else(|| key_of_cell.get(cell).cloned())
            .unwrap_or_else(|| {
                axes.iter()
                    .map(|a| {
                        let v = values.iter().find(|(k, _)| k == a);
                        (a.clone(), v.map(|v| v.1.clone()).unwrap_or_default())
                    })
                    .collect()
            })
    };
    let mut groups: BTreeMap<AxisValues, (Vec<Point>, Vec<Span>)> = BTreeMap::new();
    let mut order: Vec<AxisValues> = Vec::new();
    for r in rows {
        let key = combo(&r.axes).unwrap_or_default();
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().0.push(Point::from(r));
    }
    for t in &results.tasks {
        if let Some(g) = groups.get_mut(&timeline_key(&t.cell, &t.axes)) {
            g.1.push(Span::from(t));
        }
    }
    let mut phases: BTreeMap<AxisValues, phases::PhaseIndex> = BTreeMap::new();
    for p in &results.phases {
        phases
            .entry(timeline_key(&p.cell, &p.axes))
            .or_default()
            .push(p);
    }
    let mut written = Vec::new();
    for key in order {
        let (points, spans) = groups.remove(&key).expect("grouped above");
        let mut phases = phases.remove(&key).unwrap_or_default();
        phases.sort();
        let suffix: String = key
            .iter()
            .map(|(k, v)| format!("-{k}={}", v.replace(['/', '\\', ' '], "_")))
            .collect();
        // A `merge --by-host` folder: each machine's charts name that machine.
        let host = key
            .iter()
            .find(|(k, _)| k == "host")
            .map(|(_, v)| v.as_str());
        let (group_cores, group_machine) = match host.and_then(|h| hosts.get(h)) {
            Some(f) => (
                f.logical_cores,
                format!(
                    "{} logical cores ({} physical), {} · host {} · conclab {}",
                    f.logical_cores,
                    f.physical_cores,
                    f.cpu_model,
                    host.unwrap_or_default(),
                    f.conclab_version
                ),
            ),
            None => (cores, machine.clone()),
        };
        let group = Group {
            experiment: &experiment,
            workload: &workload,
            axes_label: key
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            machine: &group_machine,
            cores: group_cores,
            points,
            spans,
            phases,
            timeline_workers,
            looks: looks.clone(),
        };
        let size = (opts.width, opts.height);
        for (name, draw) in [
            (
                "time",
                time::draw as fn(&Group, &Path, (u32, u32)) -> anyhow::Result<()>,
            ),
            ("speedup", speedup::draw),
            ("timeline", timeline::draw),
        ] {
            let path = dir.join(format!("{name}{suffix}.png"));
            draw(&group, &path, size).with_context(|| format!("cannot draw {}", path.display()))?;
            written.push(path);
        }
    }
    Ok(written)
}

fn machine(results: &ExperimentResults) -> (usize, String) {
    match &results.environment {
        Some(e) => (
            e.logical_cores,
            format!(
                "{} logical cores ({} physical), {} · {} · conclab {}",
                e.logical_cores, e.physical_cores, e.cpu_model, e.host, e.conclab_version
            ),
        ),
        None => (
            results.cores,
            "machine unknown (no environment.json)".into(),
        ),
    }
}

#[cfg(test)]
mod panel_tests {
    use super::*;

    fn point(model: &str) -> Point {
        Point {
            model: model.into(),
            workers: 1,
            n: 1,
            median: 1.0,
            low: 1.0,
            high: 1.0,
            ideal: None,
            speedup: None,
            speedup_ci: None,
            coverage: 0.75,
            check: crate::workload::Check::Pass,
            implementation: String::new(),
        }
    }

    #[test]
    fn more_than_eight_models_split_by_family_and_none_holds_more_than_eight() {
        let names = [
            "sequential",
            "threads",
            "thread_pool",
            "rayon",
            "process_pool",
            "async",
            "async_pool",
            "async_blocking",
            "gil_threads",
            "cpython_sequential",
            "cpython_threads",
        ];
        let points: Vec<Point> = names.iter().map(|m| point(m)).collect();
        let models: Vec<(String, Vec<&Point>)> =
            points.iter().map(|p| (p.model.clone(), vec![p])).collect();
        assert_eq!(
            panels(&models[..8], &Default::default()).len(),
            1,
            "eight fit on one panel"
        );
        let ps = panels(&models, &Default::default());
        assert!(ps.iter().all(|(_, m)| m.len() <= PANEL_MODELS));
        let cpython = ps.iter().find(|(t, _)| t == "CPython models").unwrap();
        assert_eq!(cpython.1, vec![9, 10]);
        let conclab: usize = ps
            .iter()
            .filter(|(t, _)| t.starts_with("conclab"))
            .map(|(_, m)| m.len())
            .sum();
        assert_eq!(conclab, 9);
    }

    #[test]
    fn a_variant_is_drawn_in_its_base_colour_in_a_panel_of_its_interpreter() {
        let text = "[workload]\nkind = \"sleep\"\n[matrix]\nmodel = [\"sequential\", \"threads\", \"thread_pool\", \"rayon\", \"process_pool\", \"async\", \"cpython_sequential\", \"cpython_thread_pool\", \"ft_pool\"]\n[models.ft_pool]\nbase = \"cpython_thread_pool\"\npython = \"python3.13t\"\n";
        let path = Path::new("/lab/ft.toml");
        let e = crate::experiment::parse_experiment("ft.toml", text, path, &[]).unwrap();
        let looks = palette::Looks::of(&e.models);
        assert_eq!(looks.colour("ft_pool"), model_colour("cpython_thread_pool"));
        assert_eq!(looks.colour("threads"), model_colour("threads"));
        assert!(looks.rank("ft_pool") > looks.rank("cpython_thread_pool"));
        assert!(
            looks.rank("mine") > looks.rank("ft_pool"),
            "models of one's own last"
        );
        let mut points: Vec<Point> = e.models.iter().map(|m| point(m.name())).collect();
        let ft = "CPython 3.13.5 free-threading (GIL disabled)";
        points.last_mut().unwrap().implementation = ft.into();
        let models: Vec<(String, Vec<&Point>)> =
            points.iter().map(|p| (p.model.clone(), vec![p])).collect();
        let ps = panels(&models, &looks);
        let titles: Vec<&str> = ps.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(titles, ["conclab's models", "CPython models", ft]);
        assert_eq!(ps[2].1, vec![8]);
        // Without the experiment's models the variant is one of the user's own.
        let unknown = panels(&models, &Default::default());
        assert_eq!(unknown[2].0, "other models");
    }
}
