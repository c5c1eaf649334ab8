//! The one persisted settings struct (eframe storage). Runtime state is not persisted.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::render::Colormap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub colormap: Colormap,
    /// Heatmap opacity over the photo, 0..1.
    pub opacity: f32,
    /// Bilinear between patch centres (true) or solid patches (false).
    pub smooth: bool,
    /// Folder the Export buttons write to.
    pub export_dir: PathBuf,
    /// The view shown in the centre (restored at start).
    pub view: View,
    /// Which maps share one colour scale.
    pub normalization: Normalization,
    /// Percentile clipped at each end of the colour scale (0 = min–max).
    pub clip_percentile: f32,
    /// Draw the patch grid over the maps.
    pub show_grid: bool,
    /// Outline the DINO mask (the smallest set of patches holding `mask_tau` of the shown map).
    pub show_mask: bool,
    pub mask_tau: f32,
    /// Exports: a colour bar under single maps, raw `.npy` next to each PNG.
    pub export_colour_bar: bool,
    pub export_npy: bool,
    /// Exported single maps and views: the longer side in pixels (None: the photo's own resolution).
    pub export_long_side: Option<u32>,
    /// Recently opened images and models, newest first.
    pub recent_images: Vec<PathBuf>,
    pub recent_models: Vec<PathBuf>,
}

/// Put `p` first in a recent-files list (no duplicates, at most 8).
pub fn remember(list: &mut Vec<PathBuf>, p: &std::path::Path) {
    list.retain(|x| x != p);
    list.insert(0, p.to_path_buf());
    list.truncate(8);
}

/// Which maps share one colour scale in the Attention and Model views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Normalization {
    /// Each map scaled to its own range.
    #[default]
    PerMap,
    /// All heads of a layer share one scale.
    PerLayer,
    /// Every layer and head share one scale.
    Global,
}

impl Normalization {
    pub const ALL: [Normalization; 3] = [
        Normalization::PerMap,
        Normalization::PerLayer,
        Normalization::Global,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Normalization::PerMap => "per map",
            Normalization::PerLayer => "per layer",
            Normalization::Global => "global",
        }
    }
}

/// The central views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum View {
    #[default]
    Attention,
    Model,
    Methods,
    Compare,
    Distance,
    Tokens,
    Embeddings,
}

impl View {
    pub const ALL: [View; 7] = [
        View::Attention,
        View::Model,
        View::Methods,
        View::Compare,
        View::Distance,
        View::Tokens,
        View::Embeddings,
    ];
    pub fn label(self) -> &'static str {
        match self {
            View::Attention => "Attention",
            View::Model => "Model view",
            View::Methods => "Methods",
            View::Compare => "Compare",
            View::Distance => "Distance",
            View::Tokens => "Tokens",
            View::Embeddings => "Embeddings",
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            colormap: Colormap::Viridis,
            opacity: 0.6,
            smooth: true,
            export_dir: std::env::current_dir()
                .unwrap_or_default()
                .join("vitscope-export"),
            view: View::Attention,
            normalization: Normalization::PerMap,
            clip_percentile: 0.0,
            show_grid: false,
            show_mask: false,
            mask_tau: 0.6,
            export_colour_bar: false,
            export_npy: false,
            export_long_side: None,
            recent_images: Vec::new(),
            recent_models: Vec::new(),
        }
    }
}

pub const STORAGE_KEY: &str = "vitscope-settings";
