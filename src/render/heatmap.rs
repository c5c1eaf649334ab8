//! Heatmaps: normalise a grid, colour it, upsample it to image size, blend it over a photo, tile many.
use image::{Rgb, RgbImage};

use super::colormap::Colormap;
use crate::grid::Grid;

/// Min–max normalisation to 0..1. A constant grid becomes all zeros.
pub fn normalize_min_max(g: &Grid) -> Grid {
    let (lo, hi) = g.min_max();
    let span = hi - lo;
    let data = g
        .data
        .iter()
        .map(|&v| {
            if span > 0.0 && v.is_finite() {
                (v - lo) / span
            } else {
                0.0
            }
        })
        .collect();
    Grid {
        h: g.h,
        w: g.w,
        data,
    }
}

/// Scale to 0..1 with `lo → 0` and `hi → 1`, clamped (values outside a clipped range saturate).
pub fn normalize_range(g: &Grid, lo: f32, hi: f32) -> Grid {
    let span = hi - lo;
    Grid {
        h: g.h,
        w: g.w,
        data: g
            .data
            .iter()
            .map(|&v| {
                if span > 0.0 && v.is_finite() {
                    ((v - lo) / span).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect(),
    }
}

/// The range `[p-th percentile, (100 − p)-th percentile]` of the finite `values` (nearest rank);
/// `p = 0` is the min–max range.
pub fn percentile_range(values: impl IntoIterator<Item = f32>, p: f32) -> (f32, f32) {
    let mut v: Vec<f32> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f32| v[((q / 100.0) * (v.len() - 1) as f32).round() as usize];
    let p = p.clamp(0.0, 49.0);
    (at(p), at(100.0 - p))
}

/// How a patch grid becomes pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Upsample {
    /// Each patch a solid block.
    Nearest,
    /// Bilinear between patch centres (half-pixel centres, clamped edges).
    #[default]
    Bilinear,
}

/// Where output column (or row) `x` of `out` samples an axis of `n` patches: the nearest patch, and for
/// bilinear the two neighbours with the weight of the second.
#[derive(Clone, Copy)]
struct Tap {
    near: usize,
    lo: usize,
    hi: usize,
    t: f32,
}

fn taps(n: usize, out: usize) -> Vec<Tap> {
    let s = n as f32 / out as f32;
    (0..out)
        .map(|x| {
            let f = ((x as f32 + 0.5) * s - 0.5).clamp(0.0, (n - 1) as f32);
            let lo = f.floor() as usize;
            Tap {
                near: (((x as f32 + 0.5) * s) as usize).min(n - 1),
                lo,
                hi: (lo + 1).min(n - 1),
                t: f - lo as f32,
            }
        })
        .collect()
}

/// Call `row(y, values)` with each output row of `g` resampled to `out_h × out_w` (both ≥ 1).
fn for_each_upsampled_row(
    g: &Grid,
    out_h: usize,
    out_w: usize,
    mode: Upsample,
    mut row: impl FnMut(usize, &[f32]),
) {
    let (ty, tx) = (taps(g.h, out_h), taps(g.w, out_w));
    let mut line = vec![0f32; out_w];
    for (y, a) in ty.iter().enumerate() {
        match mode {
            Upsample::Nearest => {
                let src = &g.data[a.near * g.w..(a.near + 1) * g.w];
                for (v, b) in line.iter_mut().zip(&tx) {
                    *v = src[b.near];
                }
            }
            Upsample::Bilinear => {
                let r0 = &g.data[a.lo * g.w..(a.lo + 1) * g.w];
                let r1 = &g.data[a.hi * g.w..(a.hi + 1) * g.w];
                for (v, b) in line.iter_mut().zip(&tx) {
                    let top = r0[b.lo] * (1.0 - b.t) + r0[b.hi] * b.t;
                    let bot = r1[b.lo] * (1.0 - b.t) + r1[b.hi] * b.t;
                    *v = top * (1.0 - a.t) + bot * a.t;
                }
            }
        }
        row(y, &line);
    }
}

/// Resample `g` to `out_h × out_w` (both ≥ 1).
pub fn upsample(g: &Grid, out_h: usize, out_w: usize, mode: Upsample) -> Grid {
    let mut data = Vec::with_capacity(out_h * out_w);
    for_each_upsampled_row(g, out_h, out_w, mode, |_, line| {
        data.extend_from_slice(line)
    });
    Grid {
        h: out_h,
        w: out_w,
        data,
    }
}

/// Colour a grid whose values are already in 0..1.
pub fn colorize(g: &Grid, cmap: Colormap) -> RgbImage {
    let mut img = RgbImage::new(g.w as u32, g.h as u32);
    for (px, &v) in img.pixels_mut().zip(&g.data) {
        *px = Rgb(cmap.rgb(v));
    }
    img
}

/// Blend the min–max normalised map over `photo` at the photo's resolution:
/// `out = (1 − opacity)·photo + opacity·colour(map)`.
pub fn overlay(
    photo: &RgbImage,
    map: &Grid,
    cmap: Colormap,
    opacity: f32,
    mode: Upsample,
) -> RgbImage {
    overlay_normalised(photo, &normalize_min_max(map), cmap, opacity, mode)
}

/// [`overlay`] with `range` mapped to the colormap's ends (a scale shared by several maps).
pub fn overlay_range(
    photo: &RgbImage,
    map: &Grid,
    range: (f32, f32),
    cmap: Colormap,
    opacity: f32,
) -> RgbImage {
    let norm = normalize_range(map, range.0, range.1);
    overlay_normalised(photo, &norm, cmap, opacity, Upsample::Bilinear)
}

fn overlay_normalised(
    photo: &RgbImage,
    norm: &Grid,
    cmap: Colormap,
    opacity: f32,
    mode: Upsample,
) -> RgbImage {
    let (w, h) = (photo.width() as usize, photo.height() as usize);
    let blend = blend_table(opacity.clamp(0.0, 1.0));
    let mut out = photo.clone();
    let raw: &mut [u8] = &mut out;
    for_each_upsampled_row(norm, h, w, mode, |y, line| {
        let px = &mut raw[y * w * 3..(y + 1) * w * 3];
        for (o, &v) in px.chunks_exact_mut(3).zip(line) {
            let c = cmap.rgb(v);
            for k in 0..3 {
                o[k] = blend[(o[k] as usize) << 8 | c[k] as usize];
            }
        }
    });
    out
}

/// `table[p·256 + c] = round((1 − a)·p + a·c)`: the blend of every photo level `p` with every colour level
/// `c` at opacity `a`, computed once per opacity and thread.
fn blend_table(a: f32) -> std::rc::Rc<[u8]> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(u32, std::rc::Rc<[u8]>)>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((_, t)) = last.as_ref().filter(|(bits, _)| *bits == a.to_bits()) {
            return t.clone();
        }
        let t: std::rc::Rc<[u8]> = (0..256 * 256)
            .map(|i| {
                let (p, c) = ((i >> 8) as f32, (i & 255) as f32);
                ((1.0 - a) * p + a * c).round() as u8
            })
            .collect();
        *last = Some((a.to_bits(), t.clone()));
        t
    })
}

/// Tile equally sized images in rows of `cols`, separated by `gap` pixels of `background`.
pub fn tile<I: std::borrow::Borrow<RgbImage>>(
    images: &[I],
    cols: usize,
    gap: u32,
    background: [u8; 3],
) -> RgbImage {
    let Some(first) = images.first() else {
        return RgbImage::new(1, 1);
    };
    let (tw, th) = first.borrow().dimensions();
    let cols = cols.clamp(1, images.len()) as u32;
    let rows = images.len().div_ceil(cols as usize) as u32;
    let mut out = RgbImage::from_pixel(
        cols * tw + (cols + 1) * gap,
        rows * th + (rows + 1) * gap,
        Rgb(background),
    );
    for (i, im) in images.iter().enumerate() {
        let (r, c) = (i as u32 / cols, i as u32 % cols);
        image::imageops::replace(
            &mut out,
            im.borrow(),
            (gap + c * (tw + gap)) as i64,
            (gap + r * (th + gap)) as i64,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_and_constant_grids() {
        let g = Grid::new(1, 3, vec![2.0, 4.0, 3.0]).unwrap();
        assert_eq!(normalize_min_max(&g).data, vec![0.0, 1.0, 0.5]);
        let c = Grid::new(1, 2, vec![5.0, 5.0]).unwrap();
        assert_eq!(normalize_min_max(&c).data, vec![0.0, 0.0]);
    }

    #[test]
    fn percentile_clipping_saturates_the_tails() {
        let v: Vec<f32> = (0..=100).map(|i| i as f32).collect();
        assert_eq!(percentile_range(v.iter().copied(), 0.0), (0.0, 100.0));
        assert_eq!(percentile_range(v.iter().copied(), 5.0), (5.0, 95.0));
        let g = Grid::new(1, 3, vec![0.0, 50.0, 100.0]).unwrap();
        assert_eq!(normalize_range(&g, 25.0, 75.0).data, vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn upsampling_keeps_corners_and_blocks() {
        let g = Grid::new(2, 2, vec![0.0, 1.0, 2.0, 3.0]).unwrap();
        let n = upsample(&g, 4, 4, Upsample::Nearest);
        assert_eq!(
            n.data,
            vec![
                0., 0., 1., 1., 0., 0., 1., 1., 2., 2., 3., 3., 2., 2., 3., 3.
            ]
        );
        let b = upsample(&g, 4, 4, Upsample::Bilinear);
        assert_eq!(b.get(0, 0), 0.0);
        assert_eq!(b.get(3, 3), 3.0);
        assert!((b.get(0, 1) - 0.25).abs() < 1e-6, "{}", b.get(0, 1));
    }

    #[test]
    fn overlay_blends_and_tiles_place() {
        let photo = RgbImage::from_pixel(4, 2, Rgb([100, 100, 100]));
        let map = Grid::new(1, 2, vec![0.0, 1.0]).unwrap();
        let o = overlay(&photo, &map, Colormap::Gray, 0.5, Upsample::Nearest);
        assert_eq!(o.get_pixel(0, 0).0, [50, 50, 50]);
        assert_eq!(o.get_pixel(3, 1).0, [178, 178, 178]);
        let t = tile(&[photo.clone(), o.clone(), photo], 2, 1, [255, 0, 0]);
        assert_eq!(t.dimensions(), (2 * 4 + 3, 2 * 2 + 3));
        assert_eq!(t.get_pixel(0, 0).0, [255, 0, 0]);
        assert_eq!(t.get_pixel(1 + 4 + 1, 1).0, [50, 50, 50]);
    }
}
