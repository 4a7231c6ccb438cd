//! `compare.png`: one row per matched cell, the ratio new/old of its medians with the
//! ratio's interval, coloured by verdict, against the noise band around 1.

use std::path::Path;

use plotters::prelude::*;

use super::palette::{FONT, IDEAL_GREY, register_fonts};
use super::{LegendMark, axes, frame, log_ticks, short_number, text};
use crate::results::compare::{Comparison, Verdict};

/// Rows this tall keep a label's text from touching the next one.
const ROW_PX: u32 = 34;

fn colour(v: Verdict) -> RGBColor {
    match v {
        Verdict::Faster => RGBColor(0, 158, 115),
        Verdict::Slower => RGBColor(213, 94, 0),
        Verdict::Same => RGBColor(0, 114, 178),
        Verdict::Unclear => RGBColor(150, 150, 150),
    }
}

/// The image's size for `rows` cells: `width` wide, as tall as the rows need and never
/// less than `min_height`.
pub fn size(rows: usize, (width, min_height): (u32, u32)) -> (u32, u32) {
    (width, min_height.max(260 + ROW_PX * rows as u32))
}

pub fn draw(
    c: &Comparison,
    title: &str,
    subtitle: &str,
    path: &Path,
    size: (u32, u32),
) -> anyhow::Result<()> {
    register_fonts();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let noise = c.noise;
    let legend: Vec<(String, RGBColor, LegendMark)> = [
        Verdict::Slower,
        Verdict::Faster,
        Verdict::Same,
        Verdict::Unclear,
    ]
    .into_iter()
    .map(|v| (format!("{v}: {}", c.count(v)), colour(v), LegendMark::Line))
    .chain([(
        format!("noise band ±{}%", short_number(noise * 100.0)),
        IDEAL_GREY,
        LegendMark::Dashed,
    )])
    .collect();
    let plot = frame(&root, title, subtitle, &legend)?;

    let values: Vec<f64> = c
        .compared
        .iter()
        .flat_map(|x| [x.ratio, x.ci.low, x.ci.high])
        .chain([1.0 / (1.0 + noise), 1.0 + noise])
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(0.0f64, f64::max);
    // Ratios are symmetric on a log axis: 2x slower sits as far from 1 as 2x faster.
    let (xlo, xhi) = ((lo / 1.15).log10(), (hi * 1.15).log10());
    let mut xticks: Vec<f64> = log_ticks(xlo, xhi);
    if xticks.len() < 3 {
        xticks = super::linear_ticks(10f64.powf(xlo), 10f64.powf(xhi))
            .into_iter()
            .filter(|v| *v > 0.0)
            .map(f64::log10)
            .collect();
    }
    let xticks: Vec<(f64, String)> = xticks
        .into_iter()
        .map(|x| (x, format!("{}x", short_number(10f64.powf(x)))))
        .collect();

    let n = c.compared.len();
    let labels: Vec<String> = c.compared.iter().map(|x| x.key.label()).collect();
    let label_font = (FONT, 21).into_font().color(&BLACK);
    let widest = labels
        .iter()
        .map(|l| text::size(l, &label_font).0)
        .max()
        .unwrap_or(0);
    let (plot_w, _) = plot.dim_in_pixel();
    let label_px = (widest + 30).min(plot_w / 2);
    let mut chart = ChartBuilder::on(&plot)
        .margin(24)
        .x_label_area_size(80)
        .y_label_area_size(label_px)
        .build_cartesian_2d(xlo..xhi, -0.7..(n as f64 - 0.3))?;
    // The first cell on top.
    let row = |i: usize| (n - 1 - i) as f64;
    let yticks: Vec<(f64, String)> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (row(i), l.clone()))
        .collect();
    axes(
        &root,
        &mut chart,
        &xticks,
        &yticks,
        "new median / old median (log scale; right of 1 is slower)",
        "",
    )?;
    let (ylo, yhi) = (-0.7, n as f64 - 0.3);
    chart.draw_series([PathElement::new(
        vec![(0.0, ylo), (0.0, yhi)],
        BLACK.stroke_width(2),
    )])?;
    for edge in [(1.0 + noise).log10(), -(1.0 + noise).log10()] {
        chart.draw_series(DashedLineSeries::new(
            [(edge, ylo), (edge, yhi)],
            10,
            8,
            IDEAL_GREY.stroke_width(2),
        ))?;
    }
    for (i, x) in c.compared.iter().enumerate() {
        let col = colour(x.verdict);
        let y = row(i);
        // A whisker lying on its side: drawn in (y, x) and swapped.
        let (l, h) = (x.ci.low.max(1e-12).log10(), x.ci.high.max(1e-12).log10());
        chart.draw_series([
            PathElement::new(vec![(l, y), (h, y)], col.stroke_width(3)),
            PathElement::new(vec![(l, y - 0.25), (l, y + 0.25)], col.stroke_width(3)),
            PathElement::new(vec![(h, y - 0.25), (h, y + 0.25)], col.stroke_width(3)),
        ])?;
        chart.draw_series([Circle::new((x.ratio.log10(), y), 7, col.filled())])?;
    }
    root.present()?;
    Ok(())
}
