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

/// Resample `g` to `out_h × out_w` (both ≥ 1).
pub fn upsample(g: &Grid, out_h: usize, out_w: usize, mode: Upsample) -> Grid {
    let mut data = Vec::with_capacity(out_h * out_w);
    let sy = g.h as f32 / out_h as f32;
    let sx = g.w as f32 / out_w as f32;
    for y in 0..out_h {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (g.h - 1) as f32);
        for x in 0..out_w {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (g.w - 1) as f32);
            data.push(match mode {
                Upsample::Nearest => {
                    let r = (((y as f32 + 0.5) * sy) as usize).min(g.h - 1);
                    let c = (((x as f32 + 0.5) * sx) as usize).min(g.w - 1);
                    g.get(r, c)
                }
                Upsample::Bilinear => {
                    let (r0, c0) = (fy.floor() as usize, fx.floor() as usize);
                    let (r1, c1) = ((r0 + 1).min(g.h - 1), (c0 + 1).min(g.w - 1));
                    let (ty, tx) = (fy - r0 as f32, fx - c0 as f32);
                    let top = g.get(r0, c0) * (1.0 - tx) + g.get(r0, c1) * tx;
                    let bot = g.get(r1, c0) * (1.0 - tx) + g.get(r1, c1) * tx;
                    top * (1.0 - ty) + bot * ty
                }
            });
        }
    }
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
    let heat = colorize(&upsample(norm, h, w, mode), cmap);
    let a = opacity.clamp(0.0, 1.0);
    let mut out = photo.clone();
    for (o, c) in out.pixels_mut().zip(heat.pixels()) {
        for k in 0..3 {
            o.0[k] = ((1.0 - a) * o.0[k] as f32 + a * c.0[k] as f32).round() as u8;
        }
    }
    out
}

/// Tile equally sized images in rows of `cols`, separated by `gap` pixels of `background`.
pub fn tile(images: &[RgbImage], cols: usize, gap: u32, background: [u8; 3]) -> RgbImage {
    let Some(first) = images.first() else {
        return RgbImage::new(1, 1);
    };
    let (tw, th) = first.dimensions();
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
            im,
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
