//! Figures of the embedding analyses: position-embedding similarity tiles and patch-filter components.
use image::RgbImage;

use super::{Colormap, Upsample, colorize, tile, upsample};
use crate::analysis::{PatchFilters, PosSimilarity};
use crate::grid::Grid;

/// Position-embedding similarity as `gh × gw` tiles on a fixed −1..1 colour scale.
pub fn pos_sim_image(sim: &PosSimilarity, cmap: Colormap) -> RgbImage {
    let (gh, gw) = (sim.grid_h, sim.grid_w);
    let cell = (64 / gh.max(gw)).max(2);
    let tiles: Vec<RgbImage> = (0..gh * gw)
        .map(|a| {
            let t = sim.tile(a / gw, a % gw);
            let scaled = Grid {
                h: t.h,
                w: t.w,
                data: t.data.iter().map(|v| (v + 1.0) / 2.0).collect(),
            };
            colorize(
                &upsample(&scaled, gh * cell, gw * cell, Upsample::Nearest),
                cmap,
            )
        })
        .collect();
    tile(&tiles, gw, 2, [255, 255, 255])
}

/// One block's relative position bias: a tile per head (8 per row), each min-max scaled on its own and
/// enlarged to about 64 px.
pub fn rel_bias_image(heads: &[Grid], cmap: Colormap) -> RgbImage {
    let tiles: Vec<RgbImage> = heads
        .iter()
        .map(|g| {
            let (lo, hi) = g
                .data
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let span = if hi > lo { hi - lo } else { 1.0 };
            let scaled = Grid {
                h: g.h,
                w: g.w,
                data: g.data.iter().map(|v| (v - lo) / span).collect(),
            };
            let up = (64 / g.h.max(g.w)).max(1);
            colorize(
                &upsample(&scaled, g.h * up, g.w * up, Upsample::Nearest),
                cmap,
            )
        })
        .collect();
    tile(&tiles, heads.len().min(8), 2, [255, 255, 255])
}

/// Patch-filter components tiled 7 per row, each `P × P` scaled up to about 64 px.
pub fn patch_pca_image(f: &PatchFilters) -> RgbImage {
    let p = f.patch;
    let up = (64 / p).max(1) as u32;
    let tiles: Vec<RgbImage> = (0..f.count)
        .map(|i| {
            image::imageops::resize(
                &f.image(i),
                p as u32 * up,
                p as u32 * up,
                image::imageops::FilterType::Nearest,
            )
        })
        .collect();
    tile(&tiles, 7, 2, [255, 255, 255])
}
