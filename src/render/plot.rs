//! Small scatter plots as PNG-ready images (for headless exports; the app draws with egui_plot):
//! axes with "nice" ticks, labels in egui's own Ubuntu font (rasterised by ab_glyph), one colour per series.
use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};

/// One series of points.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: [u8; 3],
    /// Join consecutive points with a line.
    pub joined: bool,
}

/// One panel of a figure.
pub struct Panel<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: &'a [Series],
    /// Margin added on both sides of the data's x range (0.5 for layers; 0 for a fraction in [0, 1]).
    pub x_pad: f64,
}

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
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn fmt_tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn line(img: &mut RgbImage, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3]) {
    let n = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
    for i in 0..=n {
        let x = x0 + (x1 - x0) * i / n;
        let y = y0 + (y1 - y0) * i / n;
        if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
            img.put_pixel(x as u32, y as u32, Rgb(c));
        }
    }
}

fn dot(img: &mut RgbImage, cx: f64, cy: f64, r: f64, c: [u8; 3]) {
    let ri = r.ceil() as i64;
    for dy in -ri..=ri {
        for dx in -ri..=ri {
            if (dx * dx + dy * dy) as f64 <= r * r {
                let (x, y) = (cx.round() as i64 + dx, cy.round() as i64 + dy);
                if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
                    img.put_pixel(x as u32, y as u32, Rgb(c));
                }
            }
        }
    }
}

/// Panels side by side, each `w × h` pixels, with a legend of the first panel's series along the bottom.
pub fn scatter(panels: &[Panel], w: u32, h: u32) -> RgbImage {
    // the legend wraps onto as many rows as it needs
    let total_w = (w * panels.len() as u32) as f32;
    let mut rows = vec![Vec::new()];
    let mut x = 62.0;
    for (i, s) in panels
        .first()
        .map_or(&[][..], |p| p.series)
        .iter()
        .enumerate()
    {
        let item = 8.0 + text_width(13.0, &s.label) + 14.0;
        if x + item > total_w - 8.0 && !rows.last().is_some_and(Vec::is_empty) {
            rows.push(Vec::new());
            x = 62.0;
        }
        rows.last_mut().expect("a row").push((i, x));
        x += item;
    }
    let legend_h = 28 * rows.len() as u32;
    let mut img = RgbImage::from_pixel(w * panels.len() as u32, h + legend_h, Rgb([255; 3]));
    let black = [0, 0, 0];
    let grey = [225, 225, 225];
    for (k, p) in panels.iter().enumerate() {
        let ox = (k as u32 * w) as f64;
        let (left, right, top, bottom) = (ox + 62.0, ox + w as f64 - 16.0, 44.0, h as f64 - 44.0);
        let pts = p.series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in pts {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let (x0, x1) = (x0 - p.x_pad, x1 + p.x_pad);
        let pad = ((y1 - y0) * 0.08).max(1e-6);
        let (y0, y1) = ((y0 - pad).min(0.0f64.max(y0 - pad)), y1 + pad);
        let sx = |x: f64| left + (x - x0) / (x1 - x0) * (right - left);
        let sy = |y: f64| bottom - (y - y0) / (y1 - y0) * (bottom - top);
        for t in nice_ticks(y0, y1, 6) {
            let y = sy(t) as i64;
            line(&mut img, (left as i64, y), (right as i64, y), grey);
            let s = fmt_tick(t);
            text(
                &mut img,
                (left - 6.0) as f32 - text_width(12.0, &s),
                y as f32 - 8.0,
                12.0,
                &s,
                black,
            );
        }
        let x_ticks = if p.x_pad == 0.0 { 6 } else { 12 };
        for t in nice_ticks(x0, x1, x_ticks) {
            let x = sx(t) as i64;
            line(&mut img, (x, bottom as i64), (x, bottom as i64 + 4), black);
            let s = fmt_tick(t);
            text(
                &mut img,
                x as f32 - text_width(12.0, &s) / 2.0,
                bottom as f32 + 6.0,
                12.0,
                &s,
                black,
            );
        }
        line(
            &mut img,
            (left as i64, bottom as i64),
            (right as i64, bottom as i64),
            black,
        );
        line(
            &mut img,
            (left as i64, top as i64),
            (left as i64, bottom as i64),
            black,
        );
        text(&mut img, left as f32, 6.0, 16.0, p.title, black);
        text(&mut img, left as f32, 26.0, 12.0, p.y_label, [80, 80, 80]);
        let xl = p.x_label;
        text(
            &mut img,
            ((left + right) / 2.0) as f32 - text_width(13.0, xl) / 2.0,
            bottom as f32 + 22.0,
            13.0,
            xl,
            black,
        );
        for s in p.series {
            if s.joined {
                for w in s.points.windows(2) {
                    let a = (sx(w[0].0) as i64, sy(w[0].1) as i64);
                    let b = (sx(w[1].0) as i64, sy(w[1].1) as i64);
                    for d in -1..=1 {
                        line(&mut img, (a.0, a.1 + d), (b.0, b.1 + d), s.color);
                    }
                }
            }
            for &(x, y) in &s.points {
                dot(&mut img, sx(x), sy(y), 3.5, s.color);
            }
        }
    }
    if let Some(first) = panels.first() {
        for (r, row) in rows.iter().enumerate() {
            let y = h + 28 * r as u32;
            for &(i, x) in row {
                let s = &first.series[i];
                dot(&mut img, x as f64, (y + 14) as f64, 4.0, s.color);
                text(&mut img, x + 8.0, (y + 6) as f32, 13.0, &s.label, black);
            }
        }
    }
    img
}

/// The ViT paper's figure: mean attention distance and entropy against layer, one colour per head.
pub fn distance_figure(
    stats: &crate::analysis::HeadStats,
    model: &str,
    prefix: crate::analysis::PrefixConvention,
) -> RgbImage {
    let per_head = |value: &dyn Fn(usize, usize) -> f64| -> Vec<Series> {
        (0..stats.heads)
            .map(|h| Series {
                label: format!("head {h}"),
                points: (0..stats.layers).map(|l| (l as f64, value(l, h))).collect(),
                color: super::category(h),
                joined: false,
            })
            .collect()
    };
    let dist = per_head(&|l, h| stats.distance(l, h));
    let ent = per_head(&|l, h| stats.entropy(l, h));
    let title = format!(
        "{model} - {} image(s), prefix {}",
        stats.images,
        match prefix {
            crate::analysis::PrefixConvention::Renormalise => "renormalised",
            crate::analysis::PrefixConvention::Drop => "dropped",
        }
    );
    scatter(
        &[
            Panel {
                title: &title,
                x_label: "layer (network depth)",
                y_label: "mean attention distance (px)",
                series: &dist,
                x_pad: 0.5,
            },
            Panel {
                title: "",
                x_label: "layer (network depth)",
                y_label: "attention entropy (nats)",
                series: &ent,
                x_pad: 0.5,
            },
        ],
        560,
        400,
    )
}

/// The Tokens view's plot: the attention mass patch queries give each prefix token, per layer
/// (`mass[layer][token]`, mean over heads and patch queries), one line per token.
pub fn prefix_mass_figure(mass: &[Vec<f32>], labels: &[String], model: &str) -> RgbImage {
    let series: Vec<Series> = labels
        .iter()
        .enumerate()
        .map(|(k, label)| Series {
            label: label.clone(),
            points: mass
                .iter()
                .enumerate()
                .map(|(l, m)| (l as f64, m.get(k).copied().unwrap_or(0.0) as f64))
                .collect(),
            color: super::category(k),
            joined: true,
        })
        .collect();
    let title = format!("{model} - attention mass on prefix tokens");
    scatter(
        &[Panel {
            title: &title,
            x_label: "layer (network depth)",
            y_label: "mean attention from patch queries",
            series: &series,
            x_pad: 0.5,
        }],
        640,
        400,
    )
}

/// Deletion and insertion curves side by side: one line per method (`(label, fractions, deletion,
/// insertion)`), the score against the fraction of patches removed or inserted.
pub fn faithfulness_figure(
    curves: &[(String, Vec<f64>, Vec<f64>, Vec<f64>)],
    title: &str,
    score: &str,
) -> RgbImage {
    let series = |pick: fn(&(String, Vec<f64>, Vec<f64>, Vec<f64>)) -> &Vec<f64>| -> Vec<Series> {
        curves
            .iter()
            .enumerate()
            .map(|(k, c)| Series {
                label: c.0.clone(),
                points: c.1.iter().copied().zip(pick(c).iter().copied()).collect(),
                color: super::category(k),
                joined: true,
            })
            .collect()
    };
    let (del, ins) = (series(|c| &c.2), series(|c| &c.3));
    scatter(
        &[
            Panel {
                title,
                x_label: "fraction of patches removed (most important first)",
                y_label: score,
                series: &del,
                x_pad: 0.0,
            },
            Panel {
                title: "",
                x_label: "fraction of patches inserted (most important first)",
                y_label: score,
                series: &ins,
                x_pad: 0.0,
            },
        ],
        560,
        400,
    )
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
        assert_eq!(fmt_tick(0.25), "0.25");
    }

    #[test]
    fn dots_and_text_land_in_the_image() {
        let s = [Series {
            label: "h0".into(),
            points: vec![(0.0, 1.0), (1.0, 2.0)],
            color: [255, 0, 0],
            joined: false,
        }];
        let img = scatter(
            &[Panel {
                title: "t",
                x_label: "layer",
                y_label: "px",
                series: &s,
                x_pad: 0.5,
            }],
            300,
            200,
        );
        let red = img.pixels().filter(|p| p.0 == [255, 0, 0]).count();
        assert!(red > 2 * 30, "{red} red pixels");
        let dark = img
            .pixels()
            .filter(|p| p.0[0] < 100 && p.0[1] < 100)
            .count();
        assert!(dark > 200, "{dark}");
    }
}
