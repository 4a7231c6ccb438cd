//! The drawing every chart shares: the frame with its legend, axes with chosen ticks,
//! model lines, whiskers and reference lines.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::palette::FONT;
use super::text;

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
