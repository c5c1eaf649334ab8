//! Render: plain grids to RGB(A) images — colormaps, normalisation, upsampling, overlay, tiling.
//! No tch, no egui: shared by the UI and by export.
pub mod colormap;
pub mod heatmap;

pub use colormap::Colormap;
pub use heatmap::{Upsample, colorize, normalize_min_max, overlay, tile, upsample};
