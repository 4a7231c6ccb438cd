//! Chart text, drawn here rather than by plotters: glyphs at fractional, kerned positions
//! with their side bearings. Plotters' ab_glyph path truncates each glyph's position to a
//! whole pixel and drops its left side bearing, which spaces letters unevenly
//! ("sequent ial", "l ane").

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

fn font(style: FontStyle) -> &'static FontRef<'static> {
    static REGULAR: OnceLock<FontRef<'static>> = OnceLock::new();
    static BOLD: OnceLock<FontRef<'static>> = OnceLock::new();
    let (cell, bytes) = match style {
        FontStyle::Bold => (&BOLD, ttf_noto_sans::BOLD),
        _ => (&REGULAR, ttf_noto_sans::REGULAR),
    };
    cell.get_or_init(|| FontRef::try_from_slice(bytes).expect("the embedded Noto Sans parses"))
}

/// Glyphs of `text` with their pen positions, and the text's advance width.
fn layout(text: &str, style: &TextStyle) -> (Vec<ab_glyph::Glyph>, f32) {
    let f = font(style.font.get_style());
    let scaled = f.as_scaled(PxScale::from(style.font.get_size() as f32));
    let mut caret = 0.0f32;
    let mut prev = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(scaled.scale(), point(caret, 0.0)));
        caret += scaled.h_advance(id);
        prev = Some(id);
    }
    (glyphs, caret)
}

/// The height text of this style is measured by: its capital letters. Top and centre
/// anchors refer to them, so labels line up the way plotters placed them.
fn cap_height(style: &TextStyle) -> f32 {
    style.font.get_size() as f32 * 0.53
}

/// Width and cap height of `text`, in pixels.
pub fn size(text: &str, style: &TextStyle) -> (u32, u32) {
    let (_, w) = layout(text, style);
    (w.ceil() as u32, cap_height(style).ceil() as u32)
}

/// Draws `text` at `pos` of `area`, anchored as the style says.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    pos: (i32, i32),
) -> anyhow::Result<()> {
    paint(area, text, style, pos, false)
}

/// Draws `text` turned a quarter to the left (read bottom to top), centred on `pos`.
pub fn draw_vertical<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    pos: (i32, i32),
) -> anyhow::Result<()> {
    let centred = style.pos(plotters::style::text_anchor::Pos::new(
        HPos::Center,
        VPos::Center,
    ));
    paint(area, text, &centred, pos, true)
}

fn paint<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    (x, y): (i32, i32),
    vertical: bool,
) -> anyhow::Result<()> {
    let (glyphs, width) = layout(text, style);
    let cap = cap_height(style);
    let dx = match style.pos.h_pos {
        HPos::Left => 0.0,
        HPos::Center => -width / 2.0,
        HPos::Right => -width,
    };
    // Offset of the baseline below the anchor.
    let dy = match style.pos.v_pos {
        VPos::Top => cap,
        VPos::Center => cap / 2.0,
        VPos::Bottom => 0.0,
    };
    let f = font(style.font.get_style());
    let rgb = style.color.rgb;
    let colour = RGBColor(rgb.0, rgb.1, rgb.2);
    let alpha = style.color.alpha;
    let mut err = None;
    for mut g in glyphs {
        // The anchor's fraction goes to the rasteriser with the pen's.
        g.position.x += dx;
        g.position.y += dy;
        let Some(outline) = f.outline_glyph(g) else {
            continue;
        };
        let b = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            if coverage <= 0.0 || err.is_some() {
                return;
            }
            // Text coordinates: x along the text from the anchor, y down from it.
            let tx = b.min.x + gx as f32;
            let ty = b.min.y + gy as f32;
            let (px, py) = if vertical {
                (x + ty.round() as i32, y - tx.round() as i32)
            } else {
                (x + tx.round() as i32, y + ty.round() as i32)
            };
            let c = colour.mix(alpha * f64::from(coverage.min(1.0)));
            if let Err(e) = area.draw_pixel((px, py), &c) {
                err = Some(e.to_string());
            }
        });
    }
    match err {
        Some(e) => anyhow::bail!("cannot draw text: {e}"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First and last column with ink in an RGB buffer of `w` columns.
    fn ink_columns(buf: &[u8], w: usize) -> (usize, usize) {
        let inked: Vec<usize> = buf
            .chunks(3)
            .enumerate()
            .filter(|(_, p)| p.iter().any(|c| *c < 128))
            .map(|(i, _)| i % w)
            .collect();
        (
            *inked.iter().min().expect("some ink"),
            *inked.iter().max().expect("some ink"),
        )
    }

    fn render(text: &str, size: f64) -> (Vec<u8>, usize) {
        let (w, h) = (200usize, 80usize);
        let mut buf = vec![255u8; w * h * 3];
        {
            let area =
                BitMapBackend::with_buffer(&mut buf, (w as u32, h as u32)).into_drawing_area();
            let style = ("sans-serif", size).into_font().color(&BLACK);
            draw(&area, text, &style, (10, 10)).unwrap();
            area.present().unwrap();
        }
        (buf, w)
    }

    #[test]
    fn a_glyph_keeps_its_left_side_bearing() {
        let style = ("sans-serif", 40.0).into_font().color(&BLACK);
        let f = font(FontStyle::Normal).as_scaled(PxScale::from(40.0));
        let bearing = f.h_side_bearing(f.glyph_id('l'));
        // Plotters drew every glyph from its pen position, bearing dropped.
        assert!(bearing > 1.5, "{bearing}");
        let (buf, w) = render("l", 40.0);
        let (first, _) = ink_columns(&buf, w);
        assert!(
            (first as f32 - (10.0 + bearing)).abs() <= 1.0,
            "ink starts at {first}, bearing {bearing}"
        );
        assert_eq!(
            size("l", &style).0,
            f.h_advance(f.glyph_id('l')).ceil() as u32
        );
    }

    #[test]
    fn ink_spans_the_laid_out_width() {
        let style = ("sans-serif", 21.0).into_font().color(&BLACK);
        let (buf, w) = render("sequential lane", 21.0);
        let (first, last) = ink_columns(&buf, w);
        let (width, _) = size("sequential lane", &style);
        // The ink lies inside the advance box, short of it by the outer bearings only.
        assert!(
            first >= 10 && last < 10 + width as usize,
            "{first}..{last} in {width}"
        );
        assert!(
            last - first + 4 >= width as usize,
            "{first}..{last} in {width}"
        );
    }
}
