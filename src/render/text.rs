//! Text on raster images in egui's own Ubuntu font (rasterised by ab_glyph): labels, captions and colour-bar
//! ticks of exported maps; and "nice" tick values shared by the colour bars and the plots.
use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use image::RgbImage;

fn font() -> FontRef<'static> {
    FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).expect("egui's bundled font parses")
}

/// Draw `text` with its top-left corner at (x, y); returns its width.
pub fn text(img: &mut RgbImage, x: f32, y: f32, size: f32, s: &str, color: [u8; 3]) -> f32 {
    let f = font();
    let sf = f.as_scaled(PxScale::from(size));
    let mut caret = x;
    for c in s.chars() {
        let id = f.glyph_id(c);
        let g = id.with_scale_and_position(PxScale::from(size), point(caret, y + sf.ascent()));
        if let Some(o) = f.outline_glyph(g) {
            let b = o.px_bounds();
            o.draw(|gx, gy, cov| {
                let (px, py) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
                if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                    let p = img.get_pixel_mut(px as u32, py as u32);
                    for k in 0..3 {
                        p.0[k] =
                            (p.0[k] as f32 * (1.0 - cov) + color[k] as f32 * cov).round() as u8;
                    }
                }
            });
        }
        caret += sf.h_advance(id);
    }
    caret - x
}

pub fn text_width(size: f32, s: &str) -> f32 {
    let f = font();
    let sf = f.as_scaled(PxScale::from(size));
    s.chars().map(|c| sf.h_advance(f.glyph_id(c))).sum()
}

/// Ticks at 1, 2 or 5 × 10^k covering [lo, hi], about `n` of them.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    // slack (f32 rounding) so an end that is a multiple of the step up to rounding (0.02 / 0.005) is a tick
    let first = (lo / step - 1e-6).ceil() as i64;
    let last = (hi / step + 1e-6).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

pub fn fmt_tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(
            nice_ticks(-0.5, 11.5, 12),
            (0..=11).map(f64::from).collect::<Vec<_>>()
        );
        assert_eq!(nice_ticks(0.0, 0.02, 5).len(), 5, "0.02 itself is a tick");
        assert_eq!(fmt_tick(0.25), "0.25");
        assert_eq!(fmt_tick(3.0), "3");
    }

    #[test]
    fn text_is_drawn_where_asked() {
        let mut img = RgbImage::from_pixel(80, 30, image::Rgb([255; 3]));
        let w = text(&mut img, 2.0, 2.0, 16.0, "L11", [0, 0, 0]);
        assert!((w - text_width(16.0, "L11")).abs() < 1e-3);
        let dark = img.pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 20, "{dark} dark pixels");
        assert!((w as u32 + 4..80).all(|x| (0..30).all(|y| img.get_pixel(x, y).0 == [255; 3])));
    }
}
