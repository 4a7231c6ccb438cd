//! `speedup.png`: speedup over sequential against workers, with y = x and the core count.

use std::path::Path;

use plotters::prelude::*;

use super::palette::{FONT, IDEAL_GREY, model_colour};
use super::{
    Group, LegendMark, axes, flat_lines, frame, linear_ticks, model_line, reference_line,
    short_number, whisker, whisker_legend, worker_axis, worker_ticks,
};

pub fn draw(g: &Group, path: &Path, size: (u32, u32)) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let models: Vec<_> = g
        .models()
        .into_iter()
        .filter(|(_, pts)| pts.iter().any(|p| p.speedup.is_some()))
        .collect();
    let mut legend: Vec<(String, RGBColor, LegendMark)> = models
        .iter()
        .map(|(m, _)| (m.clone(), model_colour(m), LegendMark::Line))
        .collect();
    legend.push((
        "y = x (perfect scaling)".into(),
        IDEAL_GREY,
        LegendMark::Dashed,
    ));
    legend.push((whisker_legend(&g.points), IDEAL_GREY, LegendMark::Line));
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
        plot.draw_text(
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
    let diagonal: Vec<(f64, f64)> = (0..=200)
        .map(|i| x0 + (x1 - x0) * i as f64 / 200.0)
        .map(|x| (x, 2f64.powf(x)))
        .filter(|(_, y)| *y <= yhi)
        .collect();
    chart.draw_series(DashedLineSeries::new(
        diagonal,
        12,
        8,
        IDEAL_GREY.stroke_width(2),
    ))?;
    let core_x = (g.cores as f64).log2();
    let red = RGBColor(200, 0, 0);
    chart.draw_series(DashedLineSeries::new(
        [(core_x, 0.0), (core_x, yhi)],
        12,
        8,
        red.stroke_width(2),
    ))?;
    chart.draw_series([Text::new(
        format!(
            " {} cores: CPU work cannot go faster than {}x",
            g.cores, g.cores
        ),
        (core_x, yhi * 0.97),
        (FONT, 20).into_font().color(&red),
    )])?;
    let flat = flat_lines(&models);
    for ((model, pts), flat) in models.iter().zip(&flat) {
        let colour = model_colour(model);
        if *flat {
            if let Some(s) = pts[0].speedup {
                let label = format!("{model} (w={}): {s:.2}x", pts[0].workers);
                reference_line(&mut chart, (x0, x1), pts[0].workers, s, colour, &label)?;
            }
            continue;
        }
        let xy: Vec<(f64, f64)> = pts
            .iter()
            .filter_map(|p| p.speedup.map(|s| ((p.workers as f64).log2(), s)))
            .collect();
        model_line(&mut chart, &xy, colour)?;
        for p in pts {
            if let Some((lo, hi)) = p.speedup_ci {
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
