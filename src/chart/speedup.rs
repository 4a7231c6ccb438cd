//! `speedup.png`: speedup over sequential against workers, with the bound each model can
//! reach: the core roofline for CPU work, the model's own ideal for waiting work.

use std::path::Path;

use plotters::prelude::*;

use super::palette::{FONT, IDEAL_GREY, model_colour};
use super::{
    Group, LegendMark, Point, axes, flat_lines, frame, linear_ticks, model_label, model_line,
    reference_line, short_number, text, whisker, whisker_legend, worker_axis, worker_ticks,
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
                    "{} (w={}, flat): {s:.2}x",
                    model_label(m, pts),
                    pts[0].workers
                ),
                _ => model_label(m, pts),
            };
            let label = format!("{label}{}", super::failure_mark(pts));
            (label, model_colour(m), LegendMark::Line)
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
    legend.push((
        format!("{} cores on this machine", g.cores),
        RGBColor(200, 0, 0),
        LegendMark::Dashed,
    ));
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
        .chain([g.cores])
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
    let yhi = (smax * 1.15).max(g.cores as f64 * 1.3).max(1.5);
    let (x0, x1) = (xlo.log2(), xhi.log2());
    let mut chart = ChartBuilder::on(&plot)
        .margin(24)
        .x_label_area_size(80)
        .y_label_area_size(100)
        .build_cartesian_2d(x0..x1, 0.0..yhi)?;
    let yticks: Vec<(f64, String)> = linear_ticks(0.0, yhi)
        .into_iter()
        .map(|y| (y, short_number(y)))
        .collect();
    axes(
        &root,
        &mut chart,
        &worker_ticks(&workers),
        &yticks,
        "workers (log scale)",
        "speedup over sequential (x)",
    )?;
    let core_x = (g.cores as f64).log2();
    if cpu_work {
        // min(workers, cores): the diagonal up to the core count, flat after it. On the
        // log-2 axis the diagonal is y = 2^x, sampled finely enough to look smooth.
        let roof: Vec<(f64, f64)> = (0..=200)
            .map(|i| x0 + (x1 - x0) * i as f64 / 200.0)
            .map(|x| (x, 2f64.powf(x).min(g.cores as f64)))
            .collect();
        chart.draw_series(DashedLineSeries::new(
            roof,
            12,
            8,
            IDEAL_GREY.stroke_width(2),
        ))?;
    } else {
        for ((model, pts), flat) in models.iter().zip(&flat) {
            let bound = own_bound(g, pts);
            if *flat || bound.len() < 2 {
                continue;
            }
            let colour = model_colour(model);
            chart.draw_series(DashedLineSeries::new(
                bound.into_iter().map(|(x, y)| (x, y.min(yhi))),
                10,
                8,
                colour.mix(0.7).stroke_width(2),
            ))?;
        }
    }
    let red = RGBColor(200, 0, 0);
    chart.draw_series(DashedLineSeries::new(
        [(core_x, 0.0), (core_x, yhi)],
        12,
        8,
        red.stroke_width(2),
    ))?;
    // Above every model and bound (the y range leaves 13% headroom over both) and clear of
    // the red line it names.
    let label = format!(
        "{} cores: CPU work cannot go faster than {}x",
        g.cores, g.cores
    );
    let font = (FONT, 20).into_font().color(&red);
    let (lx, ly) = chart.backend_coord(&(core_x, yhi));
    let (tw, th) = text::size(&label, &font);
    let (px1, _) = chart.backend_coord(&(x1, yhi));
    let lx = if lx + 12 + tw as i32 <= px1 {
        lx + 12
    } else {
        lx - 12 - tw as i32
    };
    root.draw(&Rectangle::new(
        [(lx - 4, ly + 4), (lx + tw as i32 + 4, ly + 12 + th as i32)],
        WHITE.filled(),
    ))?;
    text::draw(&root, &label, &font, (lx, ly + 8))?;
    for ((model, pts), flat) in models.iter().zip(&flat) {
        let colour = model_colour(model);
        if *flat {
            if let Some(s) = pts[0].speedup {
                reference_line(&mut chart, (x0, x1), pts[0].workers, s, colour)?;
            }
            continue;
        }
        let xy: Vec<(f64, f64)> = pts
            .iter()
            .filter_map(|p| p.speedup.map(|s| ((p.workers as f64).log2(), s)))
            .collect();
        model_line(&mut chart, &xy, colour)?;
        for p in pts {
            if let Some(MedianCi {
                low: lo, high: hi, ..
            }) = p.speedup_ci
            {
                let x = (p.workers as f64).log2();
                whisker(
                    &mut chart,
                    x,
                    (lo.min(yhi), hi.min(yhi)),
                    (x1 - x0) * 0.008,
                    colour,
                )?;
            }
        }
    }
    root.present()?;
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
