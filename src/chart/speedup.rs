//! `speedup.png`: speedup over sequential against workers, with the bound each model can
//! reach: the core roofline and core count for CPU work, the model's own ideal for
//! waiting work (on a log axis when speedups span more than 20x).

use std::path::Path;

use plotters::prelude::*;

use super::palette::{FONT, IDEAL_GREY};
use super::{
    Group, LegendMark, Point, axes, flat_lines, frame, linear_ticks, log_ticks, model_label,
    model_line, panel_areas, panels, short_number, text, whisker, whisker_legend, worker_axis,
    worker_ticks,
};
use crate::results::stats::MedianCi;

pub fn draw(g: &Group, path: &Path, size: (u32, u32)) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let models: Vec<_> = g
        .models()
        .into_iter()
        .filter(|(_, pts)| pts.iter().any(|p| p.speedup.is_some()))
        .collect();
    let cpu_work = crate::workload::kind(g.workload).is_some_and(|k| k.work.computes());
    let flat = flat_lines(&models);
    let mut legend: Vec<(String, RGBColor, LegendMark)> = models
        .iter()
        .zip(&flat)
        .map(|((m, pts), flat)| {
            let label = match (flat, pts[0].speedup) {
                (true, Some(s)) => format!(
                    "{} (w={} only): {s:.2}x",
                    model_label(m, pts),
                    pts[0].workers
                ),
                _ => model_label(m, pts),
            };
            let label = format!("{label}{}", super::failure_mark(pts));
            (label, g.looks.colour(m), LegendMark::Line)
        })
        .collect();
    if cpu_work {
        legend.push((
            "min(workers, cores): CPU roofline".into(),
            IDEAL_GREY,
            LegendMark::Dashed,
        ));
    } else {
        legend.push((
            "dashed: the model's own bound".into(),
            IDEAL_GREY,
            LegendMark::Dashed,
        ));
    }
    legend.push((
        whisker_legend(&g.points, true),
        IDEAL_GREY,
        LegendMark::Line,
    ));
    // The core count bounds only work that computes: waits overlap on any number of cores.
    if cpu_work {
        legend.push((
            format!("{} cores on this machine", g.cores),
            RGBColor(200, 0, 0),
            LegendMark::Dashed,
        ));
    }
    let plot = frame(
        &root,
        &g.title("speedup over sequential"),
        g.machine,
        &legend,
    )?;
    if models.is_empty() {
        text::draw(
            &plot,
            "No speedup to draw: add \"sequential\" to the models in [matrix] to get a baseline.",
            &(FONT, 28).into_font().color(&BLACK),
            (40, 200),
        )?;
        root.present()?;
        return Ok(());
    }
    let workers: Vec<usize> = g
        .points
        .iter()
        .map(|p| p.workers)
        .chain(cpu_work.then_some(g.cores))
        .collect();
    let (xlo, xhi) = worker_axis(&workers);
    let smax = g
        .points
        .iter()
        .filter_map(|p| p.speedup)
        .fold(0.0f64, f64::max);
    let bound_max = if cpu_work {
        0.0
    } else {
        models
            .iter()
            .flat_map(|(_, pts)| own_bound(g, pts))
            .map(|(_, y)| y)
            .fold(0.0f64, f64::max)
    };
    let smax = smax.max(bound_max);
    let smin = g
        .points
        .iter()
        .flat_map(|p| p.speedup.into_iter().chain(p.speedup_ci.map(|c| c.low)))
        .filter(|s| *s > 0.0 && s.is_finite())
        .fold(1.0f64, f64::min);
    // A log axis once speedups span more than 20x (waits: 1x beside 88x), so the slow
    // models do not all sit on the floor.
    let log_y = smax / smin > 20.0;
    let roof = if cpu_work { g.cores as f64 * 1.3 } else { 0.0 };
    let (ylo, yhi) = if log_y {
        ((smin * 0.7).log10(), (smax * 1.4).max(roof).log10())
    } else {
        (0.0, (smax * 1.15).max(roof).max(1.5))
    };
    let ty = move |v: f64| {
        if log_y {
            v.max(10f64.powf(ylo)).log10().min(yhi)
        } else {
            v.min(yhi)
        }
    };
    let (x0, x1) = (xlo.log2(), xhi.log2());
    let ps = panels(&models, &g.looks);
    for (area, (title, members)) in panel_areas(&plot, ps.len()).iter().zip(&ps) {
        if !title.is_empty() {
            text::draw(
                area,
                title,
                &(FONT, 24).into_font().style(FontStyle::Bold).color(&BLACK),
                (30, 10),
            )?;
        }
        let mut chart = ChartBuilder::on(area)
            .margin(24)
            .margin_top(if title.is_empty() { 24 } else { 52 })
            .x_label_area_size(80)
            .y_label_area_size(100)
            .build_cartesian_2d(x0..x1, ylo..yhi)?;
        let yticks: Vec<(f64, String)> = if log_y {
            log_ticks(ylo, yhi)
                .into_iter()
                .map(|y| (y, short_number(10f64.powf(y))))
                .collect()
        } else {
            linear_ticks(0.0, yhi)
                .into_iter()
                .map(|y| (y, short_number(y)))
                .collect()
        };
        axes(
            &root,
            &mut chart,
            &worker_ticks(&workers),
            &yticks,
            if ps.len() > 1 {
                "workers (log scale)"
            } else {
                "workers (log scale; a model with fixed workers is a point at its own count)"
            },
            if log_y {
                "speedup over sequential (x, log scale)"
            } else {
                "speedup over sequential (x)"
            },
        )?;
        if cpu_work {
            // min(workers, cores): the diagonal up to the core count, flat after it. On the
            // log-2 axis the diagonal is y = 2^x, sampled finely enough to look smooth.
            let roof: Vec<(f64, f64)> = (0..=200)
                .map(|i| x0 + (x1 - x0) * i as f64 / 200.0)
                .map(|x| (x, ty(2f64.powf(x).min(g.cores as f64))))
                .collect();
            chart.draw_series(DashedLineSeries::new(
                roof,
                12,
                8,
                IDEAL_GREY.stroke_width(2),
            ))?;
        } else {
            for ((model, pts), flat) in members.iter().map(|&i| (&models[i], &flat[i])) {
                let bound = own_bound(g, pts);
                if *flat || bound.len() < 2 {
                    continue;
                }
                let colour = g.looks.colour(model);
                chart.draw_series(DashedLineSeries::new(
                    bound.into_iter().map(|(x, y)| (x, ty(y))),
                    10,
                    8,
                    colour.mix(0.7).stroke_width(2),
                ))?;
            }
        }
        if cpu_work {
            core_line(&root, &mut chart, g.cores, (x1, yhi))?;
        }
        for ((model, pts), flat) in members.iter().map(|&i| (&models[i], &flat[i])) {
            let colour = g.looks.colour(model);
            if *flat {
                if let Some(s) = pts[0].speedup {
                    fixed_point(&root, &mut chart, model, pts[0], ty(s), colour)?;
                }
            } else {
                let xy: Vec<(f64, f64)> = pts
                    .iter()
                    .filter_map(|p| p.speedup.map(|s| ((p.workers as f64).log2(), ty(s))))
                    .collect();
                model_line(&mut chart, &xy, colour)?;
            }
            for p in pts {
                if let Some(MedianCi {
                    low: lo, high: hi, ..
                }) = p.speedup_ci
                {
                    let x = (p.workers as f64).log2();
                    whisker(&mut chart, x, (ty(lo), ty(hi)), (x1 - x0) * 0.008, colour)?;
                }
            }
        }
    }
    root.present()?;
    Ok(())
}

/// The machine's core count as a red line, named above the models.
fn core_line(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    chart: &mut super::Chart<'_, '_>,
    cores: usize,
    (x1, yhi): (f64, f64),
) -> anyhow::Result<()> {
    let core_x = (cores as f64).log2();
    let ylo = chart.y_range().start;
    let red = RGBColor(200, 0, 0);
    chart.draw_series(DashedLineSeries::new(
        [(core_x, ylo), (core_x, yhi)],
        12,
        8,
        red.stroke_width(2),
    ))?;
    // Above every model and bound (the y range leaves 13% headroom over both) and clear of
    // the red line it names.
    // In a narrow panel the long label fits neither side: the short one says the same.
    let font = (FONT, 20).into_font().color(&red);
    let (cx, ly) = chart.backend_coord(&(core_x, yhi));
    let (px0, _) = chart.backend_coord(&(chart.x_range().start, yhi));
    let (px1, _) = chart.backend_coord(&(x1, yhi));
    let long = format!("{cores} cores: CPU work cannot go faster than {cores}x");
    let short = format!("{cores} cores: at most {cores}x");
    let place = |label: &str| {
        let (tw, th) = text::size(label, &font);
        let (right, left) = (cx + 12, cx - 12 - tw as i32);
        let lx = if right + tw as i32 <= px1 {
            Some(right)
        } else {
            (left >= px0).then_some(left)
        };
        lx.map(|lx| (lx, tw, th))
    };
    let (label, (lx, tw, th)) = match place(&long) {
        Some(at) => (long, at),
        None => {
            let at = place(&short).unwrap_or_else(|| {
                let (tw, th) = text::size(&short, &font);
                (cx + 12, tw, th)
            });
            (short, at)
        }
    };
    root.draw(&Rectangle::new(
        [(lx - 4, ly + 4), (lx + tw as i32 + 4, ly + 12 + th as i32)],
        WHITE.filled(),
    ))?;
    text::draw(root, &label, &font, (lx, ly + 8))?;
    Ok(())
}

/// A model with fixed workers: a point at the count it ran with, labelled, never a line
/// across counts it did not run (its whisker is drawn with the others).
fn fixed_point(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    chart: &mut super::Chart<'_, '_>,
    model: &str,
    p: &Point,
    y: f64,
    colour: RGBColor,
) -> anyhow::Result<()> {
    let x = (p.workers as f64).log2();
    chart.draw_series([
        Circle::new((x, y), 9, colour.filled()),
        Circle::new((x, y), 9, BLACK.stroke_width(1)),
    ])?;
    let font = (FONT, 18).into_font().color(&colour);
    let (px, py) = chart.backend_coord(&(x, y));
    text::draw(root, model, &font, (px + 14, py - 22))?;
    Ok(())
}

/// A waiting model's own bound at each of its points: its baseline's ideal time
/// over the cell's ideal time, as (log2 workers, speedup).
fn own_bound(g: &Group, pts: &[&Point]) -> Vec<(f64, f64)> {
    let Some(baseline) = pts.first().map(|p| crate::model::baseline_of(&p.model)) else {
        return Vec::new();
    };
    let Some(base) = g
        .points
        .iter()
        .find(|p| p.model == baseline)
        .and_then(|p| p.ideal)
    else {
        return Vec::new();
    };
    pts.iter()
        .filter_map(|p| p.ideal.filter(|i| *i > 0.0).map(|i| (p, base / i)))
        .map(|(p, b)| ((p.workers as f64).log2(), b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(model: &str, workers: usize, ideal: f64) -> Point {
        Point {
            model: model.into(),
            workers,
            n: 3,
            median: ideal,
            low: ideal,
            high: ideal,
            ideal: Some(ideal),
            speedup: Some(1.0),
            speedup_ci: None,
            check: crate::workload::Check::Pass,
            coverage: 0.75,
            implementation: String::new(),
        }
    }

    #[test]
    fn a_waiting_models_bound_is_the_sequential_ideal_over_its_own() {
        let g = Group {
            experiment: "e",
            workload: "sleep",
            axes_label: String::new(),
            machine: "m",
            cores: 2,
            points: vec![
                point("sequential", 1, 1.0),
                point("async_pool", 1, 0.01),
                point("rayon", 4, 0.25),
                point("rayon", 20, 0.05),
            ],
            spans: Vec::new(),
            phases: Default::default(),
            timeline_workers: None,
            looks: Default::default(),
        };
        let models = g.models();
        let bound = |m: &str| {
            let (_, pts) = models.iter().find(|(name, _)| name == m).unwrap();
            own_bound(&g, pts)
        };
        assert_eq!(bound("rayon"), [(2.0, 4.0), (20f64.log2(), 20.0)]);
        // Its own bound, not y = x: one worker of async_pool can wait for every task.
        assert_eq!(bound("async_pool"), [(0.0, 100.0)]);
    }
}
