//! Render: plain grids to RGB(A) images — colormaps, normalisation, upsampling, overlay, tiling, outlines.
//! No tch, no egui: shared by the UI and by export.
pub mod colormap;
pub mod draw;
pub mod figures;
pub mod heatmap;
pub mod plot;
pub mod text;

pub use colormap::Colormap;
pub use draw::{captioned_grid, category, outline, rgb_grid};
pub use heatmap::{
    Upsample, colorize, normalize_min_max, normalize_range, overlay, overlay_range,
    percentile_range, tile, upsample,
};
