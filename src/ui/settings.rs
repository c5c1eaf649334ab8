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
        }
    }
}

pub const STORAGE_KEY: &str = "vitscope-settings";
