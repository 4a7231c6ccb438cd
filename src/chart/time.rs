//! `time.png`: median wall time against workers, with interval whiskers and the ideal.

use std::path::Path;

use plotters::prelude::*;

use super::palette::IDEAL_GREY;
use super::{
    Group, LegendMark, axes, flat_lines, frame, linear_ticks, log_ticks, model_label, model_line,
    short_number, whisker, whisker_legend, worker_axis, worker_ticks,
};

pub fn draw(g: &Group, path: &Path, size: (u32, u32)) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let models = g.models();
    let flat = flat_lines(&models);
    let mut legend: Vec<(String, RGBColor, LegendMark)> = models
        .iter()
        .zip(&flat)
        .map(|((m, pts), flat)| {
            let label = if *flat {
                format!(
                    "{} (w={} only): {}",
                    model_label(m, pts),
                    pts[0].workers,
                    crate::console::seconds(pts[0].median)
                )
            } else {
                model_label(m, pts)
            };
            let label = format!("{label}{}", super::failure_mark(pts));
            (label, g.looks.colour(m), LegendMark::Line)
        })
        .collect();
    legend.push(("ideal bound".into(), IDEAL_GREY, LegendMark::Dashed));
    legend.push((
        whisker_legend(&g.points, false),
        IDEAL_GREY,
        LegendMark::Line,
    ));
    let plot = frame(
        &root,
        &g.title("median wall time against workers"),
        g.machine,
        &legend,
    )?;

    let values: Vec<f64> = g
        .points
        .iter()
        .flat_map(|p| [p.median, p.low, p.high].into_iter().chain(p.ideal))
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    let (vmin, vmax) = values
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(*v), b.max(*v)));
    let (vmin, vmax) = if values.is_empty() {
        (0.001, 1.0)
    } else {
        (vmin, vmax)
    };
    // A log scale once the values span more than 20x, so small times stay readable.
    let log_y = vmax / vmin > 20.0;
    let ty = move |v: f64| if log_y { v.max(vmin * 0.5).log10() } else { v };
    let (ylo, yhi, yticks) = if log_y {
        let (lo, hi) = ((vmin * 0.7).log10(), (vmax * 1.4).log10());
        (lo, hi, log_ticks(lo, hi))
    } else {
        let hi = vmax * 1.12;
        (0.0, hi, linear_ticks(0.0, hi))
    };
    let workers: Vec<usize> = g.points.iter().map(|p| p.workers).collect();
    let (xlo, xhi) = worker_axis(&workers);
    let ps = super::panels(&models, &g.looks);
    for (area, (title, members)) in super::panel_areas(&plot, ps.len()).iter().zip(&ps) {
        if !title.is_empty() {
            super::text::draw(
                area,
                title,
                &(super::FONT, 24)
                    .into_font()
                    .style(FontStyle::Bold)
                    .color(&BLACK),
                (30, 10),
            )?;
        }
        let mut chart = ChartBuilder::on(area)
            .margin(24)
            .margin_top(if title.is_empty() { 24 } else { 52 })
            .x_label_area_size(80)
            .y_label_area_size(120)
            .build_cartesian_2d(xlo.log2()..xhi.log2(), ylo..yhi)?;
        let ticks: Vec<(f64, String)> = yticks
            .iter()
            .map(|&y| (y, short_number(if log_y { 10f64.powf(y) } else { y })))
            .collect();
        let y_desc = if log_y {
            "median wall time, seconds (log scale)"
        } else {
            "median wall time, seconds"
        };
        axes(
            &root,
            &mut chart,
            &worker_ticks(&workers),
            &ticks,
            if ps.len() > 1 {
                "workers (log scale)"
            } else {
                "workers (log scale; a model with fixed workers is a point at its own count)"
            },
            y_desc,
        )?;

        let (x0, x1) = (xlo.log2(), xhi.log2());
        let cap = (x1 - x0) * 0.008;
        let varying = members.iter().filter(|&&i| !flat[i]).count();
        let mut k = 0;
        for ((model, pts), flat) in members.iter().map(|&i| (&models[i], &flat[i])) {
            let colour = g.looks.colour(model);
            // Models at the same worker count are nudged apart so their whiskers stay visible.
            let dodge = if *flat {
                0.0
            } else {
                (k as f64 - (varying as f64 - 1.0) / 2.0) * (x1 - x0) * 0.006
            };
            if !flat {
                k += 1;
            }
            if *flat {
                // A point with its interval at the count it ran with: a line across the
                // chart would claim times at worker counts it never ran.
                let p = pts[0];
                let x = (p.workers as f64).log2();
                if let Some(i) = p.ideal {
                    chart.draw_series(DashedLineSeries::new(
                        [(x - 6.0 * cap, ty(i)), (x + 6.0 * cap, ty(i))],
                        6,
                        4,
                        colour.stroke_width(2),
                    ))?;
                }
                whisker(&mut chart, x, (ty(p.low), ty(p.high)), cap, colour)?;
                chart.draw_series([
                    Circle::new((x, ty(p.median)), 9, colour.filled()),
                    Circle::new((x, ty(p.median)), 9, BLACK.stroke_width(1)),
                ])?;
                let (px, py) = chart.backend_coord(&(x, ty(p.median)));
                let font = (super::FONT, 18).into_font().color(&colour);
                super::text::draw(&root, model, &font, (px + 14, py - 22))?;
                continue;
            }
            let xy: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| ((p.workers as f64).log2() + dodge, ty(p.median)))
                .collect();
            model_line(&mut chart, &xy, colour)?;
            for p in pts {
                let x = (p.workers as f64).log2() + dodge;
                whisker(&mut chart, x, (ty(p.low), ty(p.high)), cap, colour)?;
            }
            let ideal: Vec<(f64, f64)> = pts
                .iter()
                .filter_map(|p| p.ideal.map(|i| ((p.workers as f64).log2() + dodge, ty(i))))
                .collect();
            if ideal.len() > 1 {
                chart.draw_series(DashedLineSeries::new(ideal, 10, 8, colour.stroke_width(2)))?;
            }
        }
    }
    root.present()?;
    Ok(())
}
