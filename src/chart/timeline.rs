//! `timeline.png`: one panel per model, lanes (threads, processes, event loops) on y and
//! every task as a bar from its start to its end, so overlap on one lane (concurrency)
//! and bars side by side on many lanes (parallelism) can be told apart at a glance.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use super::palette::{FAILED, FONT};
use super::phases;
use super::{Group, LegendMark, Span, axes, frame, linear_ticks, short_number, text};

/// How many pixel columns time is cut into when spans are aggregated.
const COLUMNS: usize = 600;

pub fn draw(g: &Group, path: &Path, size: (u32, u32)) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let panels = panels(&g.spans, g.timeline_workers, &g.looks);
    let mut legend: Vec<(String, RGBColor, LegendMark)> = panels
        .iter()
        .map(|(m, w, _)| (format!("{m} (w={w})"), g.looks.colour(m), LegendMark::Bar))
        .collect();
    legend.push(("failed task".into(), FAILED, LegendMark::Bar));
    let phased: Vec<_> = panels
        .iter()
        .map(|(m, w, _)| (g.looks.colour(m), g.phases.kinds_of(m, *w)))
        .filter(|(_, kinds)| !kinds.is_empty())
        .collect();
    legend.extend(phases::legend(&phased));
    let which = match g.timeline_workers.or_else(|| shared_workers(&g.spans)) {
        Some(w) => format!("task timeline at {w} workers"),
        None => "task timeline".into(),
    };
    let plot = frame(&root, &g.title(&which), g.machine, &legend)?;
    if panels.is_empty() {
        text::draw(
            &plot,
            "No task timeline recorded (tasks.csv is empty or missing).",
            &(FONT, 28).into_font().color(&BLACK),
            (40, 200),
        )?;
        root.present()?;
        return Ok(());
    }
    let ends: Vec<f64> = panels
        .iter()
        .map(|(_, _, s)| s.iter().map(|s| s.end).fold(0.0f64, f64::max).max(1e-6) * 1.02)
        .collect();
    let longest = ends.iter().copied().fold(0.0f64, f64::max);
    let shortest = ends.iter().copied().fold(f64::INFINITY, f64::min);
    // One shared time axis compares models directly, unless one panel would shrink to a
    // sliver: then each panel gets its own scale and says so.
    let shared = longest / shortest <= 10.0;
    let last = panels.len() - 1;
    // The room under each panel for its time axis; the last panel carries the axis title
    // too. Panels are cut so that what remains, the rows, is the same for every panel.
    let axis_room = |i: usize| -> u32 {
        if i == last {
            60
        } else if !shared {
            34
        } else {
            8
        }
    };
    let area = plot.margin(10, 10, 10, 24);
    let (_, total) = area.dim_in_pixel();
    let rows_px =
        total.saturating_sub((0..panels.len()).map(axis_room).sum::<u32>()) / panels.len() as u32;
    let breaks: Vec<u32> = (0..last)
        .scan(0, |y, i| {
            *y += rows_px + axis_room(i);
            Some(*y)
        })
        .collect();
    let areas = area.split_by_breakpoints(Vec::<u32>::new(), breaks);
    for (i, ((model, workers, spans), area)) in panels.iter().zip(areas.iter()).enumerate() {
        let tmax = if shared { longest } else { ends[i] };
        let labelled = i == last || !shared;
        let budget = rows_px as usize / 3;
        let colour = g.looks.colour(model);
        let lanes: Vec<usize> = {
            let mut l: Vec<usize> = spans.iter().map(|s| s.lane).collect();
            l.sort_unstable();
            l.dedup();
            l
        };
        let layout = Layout::new(spans, &lanes, budget.max(4), tmax);
        let mut chart = ChartBuilder::on(area)
            .x_label_area_size(axis_room(i))
            .y_label_area_size(220)
            .build_cartesian_2d(0.0..tmax, 0.0..layout.rows as f64)?;
        let xticks: Vec<(f64, String)> = linear_ticks(0.0, tmax)
            .into_iter()
            .map(|x| {
                (
                    x,
                    if labelled {
                        short_number(x)
                    } else {
                        String::new()
                    },
                )
            })
            .collect();
        let x_desc = match (i == last, shared) {
            (true, true) => "seconds since the repetition started",
            (true, false) => {
                "seconds since the repetition started (each panel has its own time scale)"
            }
            _ => "",
        };
        axes(&root, &mut chart, &xticks, &[], x_desc, "")?;
        let lane_word = match lanes.len() {
            1 => "1 lane".to_string(),
            n => format!("{n} lanes"),
        };
        // The panel's label is centred on its rows, in smaller type and without the
        // layout line when the rows are too thin for all three lines.
        let scale = (rows_px as f64 / 80.0).clamp(0.75, 1.0);
        let px = |size: f64| (size * scale).round() as i32;
        // A long model name shrinks to stay clear of the panel's frame.
        let name = |size: i32| {
            (FONT, size)
                .into_font()
                .style(FontStyle::Bold)
                .color(&colour)
        };
        let mut name_size = px(24.0);
        while name_size > 12 && text::size(model, &name(name_size)).0 > 204 {
            name_size -= 1;
        }
        let mut lines = vec![
            (model.clone(), name(name_size)),
            (
                format!("w={workers} · {lane_word}"),
                (FONT, px(19.0)).into_font().color(&BLACK),
            ),
        ];
        if px(78.0) <= rows_px as i32 {
            lines.push((
                format!("{} tasks · {}", spans.len(), layout.mode),
                (FONT, px(17.0)).into_font().color(&RGBColor(90, 90, 90)),
            ));
        }
        let heights: Vec<i32> = [24, 19, 17][..lines.len()]
            .iter()
            .map(|h| px(f64::from(*h) + 6.0))
            .collect();
        let mut y = rows_px as i32 / 2 - heights.iter().sum::<i32>() / 2;
        for ((line, style), h) in lines.iter().zip(&heights) {
            text::draw(area, line, style, (8, y))?;
            y += h;
        }
        let top = layout.rows as f64;
        for sep in &layout.lane_starts[1..] {
            let y = top - *sep as f64;
            chart.draw_series([PathElement::new(
                vec![(0.0, y), (tmax, y)],
                RGBColor(200, 200, 200).stroke_width(1),
            )])?;
        }
        // A gap between rows only where it is at least a pixel: thinner gaps alias into
        // stripes in one place and a solid band in another.
        let row_px = chart.plotting_area().dim_in_pixel().1 as f64 / layout.rows.max(1) as f64;
        let (pad, fill_share) = if row_px >= 6.0 {
            (0.1, 0.8)
        } else {
            (0.0, 1.0)
        };
        let bar = |row: usize, s: f64, e: f64, ok: bool, height: f64| {
            let y1 = top - row as f64;
            let fill = if ok {
                colour.mix(0.85).filled()
            } else {
                FAILED.filled()
            };
            // A task shorter than a pixel still shows as a sliver.
            let e = e.max(s + tmax / 2000.0);
            Rectangle::new([(s, y1 - pad), (e, y1 - pad - fill_share * height)], fill)
        };
        match &layout.bars {
            Bars::Rows(items) => {
                // A task with phases is drawn as its phases, one segment each; a failed
                // one stays red.
                let (plain, phased): (Vec<_>, Vec<_>) = items
                    .iter()
                    .partition(|(_, s)| !s.ok || g.phases.within(s).is_empty());
                chart.draw_series(
                    plain
                        .iter()
                        .map(|(row, s)| bar(*row, s.start, s.end, s.ok, 1.0)),
                )?;
                let mut fills = Vec::new();
                let mut edges = Vec::new();
                for (row, s) in phased {
                    let y1 = top - row as f64;
                    let (y_top, y_bottom) = (y1 - pad, y1 - pad - fill_share);
                    for &(kind, a, b) in g.phases.within(s) {
                        let corners = [(a, y_top), (b.min(s.end), y_bottom)];
                        let fill = phases::shade(colour, kind).filled();
                        fills.push(Rectangle::new(corners, fill));
                        if phases::outlined(kind) {
                            edges.push(Rectangle::new(corners, colour.stroke_width(1)));
                        }
                    }
                }
                chart.draw_series(fills)?;
                chart.draw_series(edges)?;
            }
            Bars::Profile {
                columns,
                rows_per_band,
            } => {
                let dt = tmax / COLUMNS as f64;
                let peak = columns
                    .iter()
                    .flat_map(|(_, c)| c.iter().map(|(n, _)| *n))
                    .max()
                    .unwrap_or(1)
                    .max(1) as f64;
                for (band, cols) in columns {
                    let base = top - (*band * rows_per_band) as f64;
                    let mut rects = Vec::new();
                    let mut k = 0;
                    while k < cols.len() {
                        let (n, failed) = cols[k];
                        let mut j = k;
                        while j + 1 < cols.len() && cols[j + 1] == cols[k] {
                            j += 1;
                        }
                        if n > 0 {
                            let hgt = *rows_per_band as f64 * 0.9 * (n as f64 / peak).max(0.08);
                            let fill = if failed {
                                FAILED.filled()
                            } else {
                                colour.mix(0.85).filled()
                            };
                            rects.push(Rectangle::new(
                                [(k as f64 * dt, base), ((j + 1) as f64 * dt, base - hgt)],
                                fill,
                            ));
                        }
                        k = j + 1;
                    }
                    chart.draw_series(rects)?;
                }
            }
        }
    }
    root.present()?;
    Ok(())
}

/// The largest worker count that every worker-dependent model has a timeline for.
fn shared_workers(spans: &[Span]) -> Option<usize> {
    let mut by_model: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for s in spans {
        let v = by_model.entry(&s.model).or_default();
        if !v.contains(&s.workers) {
            v.push(s.workers);
        }
    }
    let varying: Vec<&Vec<usize>> = by_model.values().filter(|v| v.len() > 1).collect();
    if varying.is_empty() {
        return None;
    }
    let mut candidates: Vec<usize> = varying[0].clone();
    candidates.retain(|w| varying.iter().all(|v| v.contains(w)));
    candidates
        .into_iter()
        .max()
        .or_else(|| varying.iter().flat_map(|v| v.iter().copied()).max())
}

/// (model, workers, spans) per panel, in palette order: each model at the chosen worker
/// count, models with a single worker count at theirs.
fn panels(
    spans: &[Span],
    wanted: Option<usize>,
    looks: &super::palette::Looks,
) -> Vec<(String, usize, Vec<Span>)> {
    let target = wanted.or_else(|| shared_workers(spans));
    let mut by_model: BTreeMap<&str, BTreeMap<usize, Vec<Span>>> = BTreeMap::new();
    for s in spans {
        by_model
            .entry(s.model.as_str())
            .or_default()
            .entry(s.workers)
            .or_default()
            .push(s.clone());
    }
    // Ranked once per model, not once per span.
    let mut ranked: Vec<_> = by_model.into_iter().collect();
    ranked.sort_by_cached_key(|(model, _)| (looks.rank(model), model.to_string()));
    let mut out = Vec::new();
    for (model, mut per_w) in ranked {
        let w = match target {
            Some(t) if per_w.contains_key(&t) => t,
            // A model without the chosen count (e.g. one that ignores workers): its nearest.
            Some(t) => *per_w
                .keys()
                .min_by_key(|w| w.abs_diff(t))
                .expect("non-empty"),
            None => *per_w.keys().max().expect("non-empty"),
        };
        let spans = per_w.remove(&w).expect("chosen from keys");
        out.push((model.to_string(), w, spans));
    }
    out
}

enum Bars<'a> {
    /// Each span on its own row (or packed rows).
    Rows(Vec<(usize, &'a Span)>),
    /// Too many to draw: per band of lanes, per time column, (tasks running, any failed).
    Profile {
        columns: Vec<(usize, Vec<(usize, bool)>)>,
        rows_per_band: usize,
    },
}

struct Layout<'a> {
    rows: usize,
    /// First row of each lane (or band), for separators.
    lane_starts: Vec<usize>,
    bars: Bars<'a>,
    mode: &'static str,
}

impl<'a> Layout<'a> {
    /// One row per task (a staircase shows serial tasks), else rows shared in start order,
    /// else (more lanes than rows) an aggregated profile over `tmax` seconds.
    fn new(spans: &'a [Span], lanes: &[usize], budget: usize, tmax: f64) -> Layout<'a> {
        let mut per_lane: BTreeMap<usize, Vec<&Span>> = BTreeMap::new();
        for s in spans {
            per_lane.entry(s.lane).or_default().push(s);
        }
        for v in per_lane.values_mut() {
            v.sort_by(|a, b| a.start.total_cmp(&b.start));
        }
        if spans.len() <= budget {
            let mut rows = Vec::new();
            let mut starts = Vec::new();
            for v in per_lane.values() {
                starts.push(rows.len());
                rows.extend(v.iter().copied());
            }
            let n = rows.len();
            return Layout {
                rows: n,
                lane_starts: starts,
                bars: Bars::Rows(rows.into_iter().enumerate().collect()),
                mode: "one row per task",
            };
        }
        // Too many tasks for a row each: every lane gets an equal share of the rows and its
        // tasks are spread over them in start order, so serial tasks still form a
        // staircase and overlapping ones a wall.
        if lanes.len() * 2 <= budget {
            let rows_each = budget / lanes.len();
            let mut items = Vec::with_capacity(spans.len());
            let mut starts = Vec::new();
            for (i, v) in per_lane.values().enumerate() {
                starts.push(i * rows_each);
                let n = v.len().max(1);
                items.extend(
                    v.iter()
                        .enumerate()
                        .map(|(rank, s)| (i * rows_each + rank * rows_each / n, *s)),
                );
            }
            return Layout {
                rows: lanes.len() * rows_each,
                lane_starts: starts,
                bars: Bars::Rows(items),
                mode: "tasks in start order",
            };
        }
        // Aggregate: lanes into at most `budget / 4` bands, time into columns.
        let bands = lanes.len().min((budget / 4).max(1));
        let rows_per_band = 4;
        let lane_index: BTreeMap<usize, usize> = lanes
            .iter()
            .enumerate()
            .map(|(i, l)| (*l, i * bands / lanes.len()))
            .collect();
        let mut diff = vec![vec![0i64; COLUMNS + 1]; bands];
        let mut failed = vec![vec![false; COLUMNS]; bands];
        for s in spans {
            let b = lane_index[&s.lane];
            let c0 = ((s.start / tmax) * COLUMNS as f64)
                .floor()
                .clamp(0.0, (COLUMNS - 1) as f64) as usize;
            let c1 = ((s.end / tmax) * COLUMNS as f64)
                .ceil()
                .clamp(c0 as f64 + 1.0, COLUMNS as f64) as usize;
            diff[b][c0] += 1;
            diff[b][c1] -= 1;
            if !s.ok {
                failed[b][c0] = true;
            }
        }
        let columns = diff
            .iter()
            .enumerate()
            .map(|(b, d)| {
                let mut running = 0i64;
                let cols = (0..COLUMNS)
                    .map(|c| {
                        running += d[c];
                        (running.max(0) as usize, failed[b][c])
                    })
                    .collect();
                (b, cols)
            })
            .collect();
        Layout {
            rows: bands * rows_per_band,
            lane_starts: (0..bands).map(|b| b * rows_per_band).collect(),
            bars: Bars::Profile {
                columns,
                rows_per_band,
            },
            mode: "height = tasks running",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(model: &str, workers: usize, lane: usize, start: f64, end: f64) -> Span {
        Span {
            model: model.into(),
            workers,
            lane,
            start,
            end,
            ok: true,
        }
    }

    #[test]
    fn picks_the_largest_worker_count_shared_by_varying_models() {
        let spans = vec![
            span("async", 1, 0, 0.0, 1.0),
            span("async", 4, 0, 0.0, 1.0),
            span("thread_pool", 4, 0, 0.0, 1.0),
            span("thread_pool", 8, 0, 0.0, 1.0),
            span("sequential", 1, 0, 0.0, 1.0),
        ];
        assert_eq!(shared_workers(&spans), Some(4));
        let p = panels(&spans, None, &Default::default());
        let chosen: Vec<(String, usize)> = p.iter().map(|(m, w, _)| (m.clone(), *w)).collect();
        assert_eq!(
            chosen,
            [
                ("sequential".to_string(), 1),
                ("thread_pool".to_string(), 4),
                ("async".to_string(), 4)
            ]
        );
    }

    #[test]
    fn rows_per_task_then_shared_rows_then_aggregation() {
        let overlapping: Vec<Span> = (0..50)
            .map(|i| span("async", 50, 0, i as f64 * 0.001, 1.0))
            .collect();
        let few = Layout::new(&overlapping, &[0], 100, 1.0);
        assert_eq!((few.rows, few.mode), (50, "one row per task"));
        let serial: Vec<Span> = (0..50)
            .map(|i| span("sequential", 1, 0, i as f64, i as f64 + 1.0))
            .collect();
        let shared = Layout::new(&serial, &[0], 20, 50.0);
        assert_eq!((shared.rows, shared.mode), (20, "tasks in start order"));
        let Bars::Rows(items) = &shared.bars else {
            panic!("rows expected")
        };
        assert!(
            items.windows(2).all(|w| w[0].0 <= w[1].0),
            "rows follow start order: a staircase"
        );
        let many: Vec<Span> = (0..10_000)
            .map(|i| span("threads", 10_000, i, 0.0, 1.0))
            .collect();
        let lanes: Vec<usize> = (0..10_000).collect();
        let agg = Layout::new(&many, &lanes, 100, 1.0);
        assert!(matches!(agg.bars, Bars::Profile { .. }));
        assert!(agg.rows <= 100);
    }
}
