//! Charts of one experiment's results, drawn from its CSV files alone: time, speedup and
//! the task timeline, one set per combination of the extra matrix axes.

mod palette;
mod phases;
mod speedup;
mod text;
mod time;
mod timeline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use plotters::coord::Shift;
use plotters::prelude::*;

pub use palette::{FAILED, FONT, model_colour};

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
/// A CSV row by column name.
type Row = BTreeMap<String, String>;

/// One cell of summary.csv.
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
    pub speedup_ci: Option<(f64, f64)>,
}

/// One task of tasks.csv.
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
}

impl Group<'_> {
    /// Models in palette order, each with its points sorted by workers.
    pub fn models(&self) -> Vec<(String, Vec<&Point>)> {
        let mut by: BTreeMap<(usize, String), Vec<&Point>> = BTreeMap::new();
        for p in &self.points {
            by.entry((palette::model_rank(&p.model), p.model.clone()))
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

/// Whether a built-in model ignores the file's worker counts.
fn ignores_workers(model: &str) -> bool {
    crate::model::Model::builtin(model).is_some_and(|m| m.fixed_workers(1).is_some())
}

pub fn render_experiment(dir: &Path, opts: &ChartOptions) -> anyhow::Result<Vec<PathBuf>> {
    palette::register_fonts();
    let summary_path = dir.join("summary.csv");
    let (axes, rows) = read_table(&summary_path, "n")?;
    if rows.is_empty() {
        bail!("{}: no rows to chart", summary_path.display());
    }
    let tasks_path = dir.join("tasks.csv");
    let (_, task_rows) = if tasks_path.is_file() {
        read_table(&tasks_path, "task")?
    } else {
        (Vec::new(), Vec::new())
    };
    let phases_path = dir.join("phases.csv");
    let (_, phase_rows) = if phases_path.is_file() {
        read_table(&phases_path, "task")?
    } else {
        (Vec::new(), Vec::new())
    };
    let (cores, machine) = machine(dir);
    let hosts: BTreeMap<String, crate::results::environment::Fingerprint> =
        std::fs::read_to_string(dir.join("hosts.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
    let timeline_workers = opts
        .timeline_workers
        .or_else(|| configured_timeline_workers(dir));
    let experiment = rows[0].get("experiment").cloned().unwrap_or_default();
    let workload = rows[0].get("workload").cloned().unwrap_or_default();

    let combo = |r: &BTreeMap<String, String>| -> Vec<(String, String)> {
        axes.iter()
            .map(|a| (a.clone(), r.get(a).cloned().unwrap_or_default()))
            .collect()
    };
    // tasks.csv and phases.csv lack the `host` axis of a `merge --by-host` folder: their
    // rows go with the first summary row of their cell (merge keeps one timeline per cell).
    let mut key_of_cell: BTreeMap<String, AxisValues> = BTreeMap::new();
    for r in &rows {
        if let Some(c) = r.get("cell") {
            key_of_cell.entry(c.clone()).or_insert_with(|| combo(r));
        }
    }
    let timeline_key = |r: &BTreeMap<String, String>| -> AxisValues {
        if axes.iter().all(|a| r.contains_key(a)) {
            return combo(r);
        }
        r.get("cell")
            .and_then(|c| key_of_cell.get(c))
            .cloned()
            .unwrap_or_else(|| combo(r))
    };
    let mut groups: BTreeMap<AxisValues, (Vec<Point>, Vec<Span>)> = BTreeMap::new();
    let mut order: Vec<Vec<(String, String)>> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let key = combo(r);
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        let point = parse_point(r)
            .with_context(|| format!("{}: line {}", summary_path.display(), i + 2))?;
        groups.entry(key).or_default().0.push(point);
    }
    for (i, r) in task_rows.iter().enumerate() {
        let span =
            parse_span(r).with_context(|| format!("{}: line {}", tasks_path.display(), i + 2))?;
        if let Some(g) = groups.get_mut(&timeline_key(r)) {
            g.1.push(span);
        }
    }
    let mut phases: BTreeMap<AxisValues, phases::PhaseIndex> = BTreeMap::new();
    for (i, r) in phase_rows.iter().enumerate() {
        phases
            .entry(timeline_key(r))
            .or_default()
            .push(r)
            .with_context(|| format!("{}: line {}", phases_path.display(), i + 2))?;
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

/// Reads a CSV into maps; the axis columns are those between `workers` and `end_marker`.
fn read_table(path: &Path, end_marker: &str) -> anyhow::Result<(Vec<String>, Vec<Row>)> {
    if !path.is_file() {
        bail!("{} is missing: run the experiment first", path.display());
    }
    let (header, rows) = crate::results::csv_file::read(path)?;
    let start = header.iter().position(|h| h == "workers").map(|i| i + 1);
    let end = header.iter().position(|h| h == end_marker);
    let (Some(start), Some(end)) = (start, end) else {
        bail!(
            "{}: not a conclab file (it needs the columns \"workers\" and \"{end_marker}\")",
            path.display()
        );
    };
    let axes = header
        .get(start..end)
        .map(|s| s.to_vec())
        .unwrap_or_default();
    Ok((
        axes,
        rows.into_iter().map(|r| r.into_iter().collect()).collect(),
    ))
}

fn number(r: &BTreeMap<String, String>, key: &str) -> anyhow::Result<f64> {
    let v = r.get(key).map(String::as_str).unwrap_or("");
    v.parse()
        .map_err(|_| anyhow::anyhow!("column {key}: \"{v}\" is not a number"))
}

fn optional(r: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    r.get(key)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

fn parse_point(r: &BTreeMap<String, String>) -> anyhow::Result<Point> {
    Ok(Point {
        model: r.get("model").cloned().unwrap_or_default(),
        workers: number(r, "workers")? as usize,
        n: number(r, "n")? as usize,
        median: number(r, "median_s")?,
        low: optional(r, "median_ci_low_s").map_or_else(|| number(r, "min_s"), Ok)?,
        high: optional(r, "median_ci_high_s").map_or_else(|| number(r, "max_s"), Ok)?,
        ideal: optional(r, "ideal_s"),
        speedup: optional(r, "speedup"),
        speedup_ci: optional(r, "speedup_ci_low").zip(optional(r, "speedup_ci_high")),
    })
}

fn parse_span(r: &BTreeMap<String, String>) -> anyhow::Result<Span> {
    Ok(Span {
        model: r.get("model").cloned().unwrap_or_default(),
        workers: number(r, "workers")? as usize,
        lane: number(r, "lane")? as usize,
        start: number(r, "start_s")?,
        end: number(r, "end_s")?,
        ok: r.get("ok").is_some_and(|v| v == "true"),
    })
}

fn machine(dir: &Path) -> (usize, String) {
    let env = std::fs::read_to_string(dir.join("environment.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<crate::results::environment::Environment>(&t).ok());
    match env {
        Some(e) => (
            e.logical_cores,
            format!(
                "{} logical cores ({} physical), {} · {} · conclab {}",
                e.logical_cores, e.physical_cores, e.cpu_model, e.host, e.conclab_version
            ),
        ),
        None => (
            crate::results::environment::logical_cores(),
            "machine unknown (no environment.json)".into(),
        ),
    }
}

fn configured_timeline_workers(dir: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join("experiment.toml")).ok()?;
    let table: toml::Table = text.parse().ok()?;
    table
        .get("chart")?
        .get("timeline_workers")?
        .as_integer()
        .map(|n| n as usize)
}

/// Title, subtitle and a legend column on the right; returns the plotting area.
pub fn frame<'b>(
    root: &DrawingArea<BitMapBackend<'b>, Shift>,
    title: &str,
    subtitle: &str,
    legend: &[(String, RGBColor, LegendMark)],
) -> anyhow::Result<DrawingArea<BitMapBackend<'b>, Shift>> {
    root.fill(&WHITE)?;
    let (w, _) = root.dim_in_pixel();
    let (top, body) = root.split_vertically(100);
    text::draw(
        &top,
        title,
        &(FONT, 34).into_font().style(FontStyle::Bold).color(&BLACK),
        (30, 14),
    )?;
    text::draw(
        &top,
        subtitle,
        &(FONT, 21).into_font().color(&RGBColor(80, 80, 80)),
        (30, 60),
    )?;
    let label_font = (FONT, 21).into_font().color(&BLACK);
    let widest = legend
        .iter()
        .map(|(label, _, _)| text::size(label, &label_font))
        .map(|(lw, _)| lw + 52 + 24)
        .max()
        .unwrap_or(0);
    let legend_width = widest.max(330).min(w * 2 / 5);
    let (plot, side) = body.split_horizontally(w - legend_width);
    let mut y = 30;
    for (label, colour, mark) in legend {
        let x = 10;
        match mark {
            LegendMark::Line => side.draw(&PathElement::new(
                vec![(x, y), (x + 40, y)],
                colour.stroke_width(4),
            ))?,
            LegendMark::Dashed => {
                for k in 0..4 {
                    side.draw(&PathElement::new(
                        vec![(x + k * 11, y), (x + k * 11 + 6, y)],
                        colour.stroke_width(3),
                    ))?;
                }
            }
            LegendMark::Bar => side.draw(&Rectangle::new(
                [(x, y - 8), (x + 40, y + 8)],
                colour.filled(),
            ))?,
        }
        let beside = label_font.pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Left,
            plotters::style::text_anchor::VPos::Center,
        ));
        text::draw(&side, label, &beside, (x + 52, y))?;
        y += 36;
    }
    Ok(plot)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LegendMark {
    Line,
    Dashed,
    Bar,
}

/// Log-2 positions of the worker counts, and a padded axis range around them.
pub fn worker_axis(workers: &[usize]) -> (f64, f64) {
    let lo = workers.iter().copied().min().unwrap_or(1).max(1) as f64;
    let hi = workers.iter().copied().max().unwrap_or(1).max(1) as f64;
    (lo / 1.4, hi * 1.4)
}

#[cfg(test)]
mod tests {
    #[test]
    fn worker_axis_pads_both_ends() {
        let (lo, hi) = super::worker_axis(&[1, 2, 6]);
        assert!(lo < 1.0 && hi > 6.0);
        let (lo, hi) = super::worker_axis(&[]);
        assert!(lo < 1.0 && hi > 1.0);
    }
}

pub type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Axes with ticks exactly where we want them (the real worker counts, round seconds):
/// light grid lines and labels at `xs` and `ys`, plus the axis descriptions.
pub fn axes(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    chart: &mut Chart<'_, '_>,
    xs: &[(f64, String)],
    ys: &[(f64, String)],
    x_desc: &str,
    y_desc: &str,
) -> anyhow::Result<()> {
    let (xr, yr) = (chart.x_range(), chart.y_range());
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(0)
        .draw()?;
    let grid = RGBColor(225, 225, 225).stroke_width(1);
    chart.draw_series(
        xs.iter()
            .map(|(x, _)| PathElement::new(vec![(*x, yr.start), (*x, yr.end)], grid)),
    )?;
    chart.draw_series(
        ys.iter()
            .map(|(y, _)| PathElement::new(vec![(xr.start, *y), (xr.end, *y)], grid)),
    )?;
    let below = (FONT, 21)
        .into_font()
        .color(&BLACK)
        .pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ));
    let left = (FONT, 21)
        .into_font()
        .color(&BLACK)
        .pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Right,
            plotters::style::text_anchor::VPos::Center,
        ));
    for (x, label) in xs {
        let (px, py) = chart.backend_coord(&(*x, yr.start));
        text::draw(root, label, &below, (px, py + 8))?;
    }
    for (y, label) in ys {
        let (px, py) = chart.backend_coord(&(xr.start, *y));
        text::draw(root, label, &left, (px - 8, py))?;
    }
    // The axis titles, drawn here rather than by the mesh so their text is spaced evenly.
    let desc = (FONT, 23).into_font().color(&BLACK);
    let (left_px, bottom_px) = chart.backend_coord(&(xr.start, yr.start));
    let (right_px, top_px) = chart.backend_coord(&(xr.end, yr.end));
    if !x_desc.is_empty() {
        let centred = desc.pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ));
        text::draw(
            root,
            x_desc,
            &centred,
            ((left_px + right_px) / 2, bottom_px + 44),
        )?;
    }
    if !y_desc.is_empty() {
        text::draw_vertical(
            root,
            y_desc,
            &desc,
            (left_px - 84, (top_px + bottom_px) / 2),
        )?;
    }
    Ok(())
}

/// One model's values against workers: a thick line with a marker at every point.
pub fn model_line(
    chart: &mut Chart<'_, '_>,
    xy: &[(f64, f64)],
    colour: RGBColor,
) -> anyhow::Result<()> {
    chart.draw_series(LineSeries::new(xy.to_vec(), colour.stroke_width(4)))?;
    chart.draw_series(
        xy.iter()
            .map(|(x, y)| Circle::new((*x, *y), 7, colour.filled())),
    )?;
    Ok(())
}

/// A vertical whisker from `lo` to `hi` at `x`, capped `cap` wide on both sides.
pub fn whisker(
    chart: &mut Chart<'_, '_>,
    x: f64,
    (lo, hi): (f64, f64),
    cap: f64,
    colour: RGBColor,
) -> anyhow::Result<()> {
    let style = colour.stroke_width(2);
    chart.draw_series([
        PathElement::new(vec![(x, lo), (x, hi)], style),
        PathElement::new(vec![(x - cap, lo), (x + cap, lo)], style),
        PathElement::new(vec![(x - cap, hi), (x + cap, hi)], style),
    ])?;
    Ok(())
}

/// The legend entry for whiskers: what an interval is depends on the repetitions.
pub fn whisker_legend(points: &[Point]) -> String {
    if points.iter().all(|p| p.n >= 6) {
        "| 95% interval of the median".into()
    } else {
        "| interval (min–max when n<6)".into()
    }
}

/// A model that ignores workers: a flat line across the chart at `y` and a marker at the
/// concurrency it really used. Its value goes in the legend: labels on the plot would sit
/// on their own line and on each other (several models share a value).
pub fn reference_line(
    chart: &mut Chart<'_, '_>,
    (x0, x1): (f64, f64),
    workers: usize,
    y: f64,
    colour: RGBColor,
) -> anyhow::Result<()> {
    chart.draw_series(LineSeries::new(
        [(x0, y), (x1, y)],
        colour.mix(0.55).stroke_width(3),
    ))?;
    let x = (workers as f64).log2().clamp(x0, x1);
    chart.draw_series([Circle::new((x, y), 7, colour.filled())])?;
    Ok(())
}

/// Tick marks at the worker counts, on a log-2 axis.
pub fn worker_ticks(workers: &[usize]) -> Vec<(f64, String)> {
    let mut w: Vec<usize> = workers.to_vec();
    w.sort_unstable();
    w.dedup();
    // Crowded counts (1, 2, 3 next to 1000) keep every label readable by skipping close ones.
    let mut out: Vec<(f64, String)> = Vec::new();
    for v in w {
        let x = (v.max(1) as f64).log2();
        if out.last().is_none_or(|(px, _)| x - px > 0.25) {
            out.push((x, v.to_string()));
        }
    }
    out
}

/// Round tick values covering [lo, hi] on a linear axis (about six of them).
pub fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 7.0)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    (0..100)
        .map(|i| first + i as f64 * step)
        .take_while(|v| *v <= hi + step * 1e-9)
        .collect()
}

/// Decade ticks (1, 2, 5 × 10^k) in log10 space covering [lo, hi] (given in log10 space).
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    for k in (lo.floor() as i32 - 1)..=(hi.ceil() as i32) {
        for m in [1.0f64, 2.0, 5.0] {
            let v = (m * 10f64.powi(k)).log10();
            if v >= lo && v <= hi {
                out.push(v);
            }
        }
    }
    out
}

/// A number with at most three significant digits, without trailing zeros.
pub fn short_number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 9) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tick_tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_cover_the_range() {
        assert_eq!(
            linear_ticks(0.0, 3.0),
            vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
        );
        let t = linear_ticks(0.0, 7.3);
        assert_eq!((t[0], t[1]), (0.0, 2.0));
    }

    #[test]
    fn log_ticks_take_1_2_5_per_decade() {
        let t: Vec<String> = log_ticks(-1.0, 0.5)
            .iter()
            .map(|v| short_number(10f64.powf(*v)))
            .collect();
        assert_eq!(t, ["0.1", "0.2", "0.5", "1", "2"]);
        assert_eq!(short_number(1234.0), "1234");
        assert_eq!(short_number(0.0123), "0.0123");
    }
}
