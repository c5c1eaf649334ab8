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
}

/// The central views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum View {
    #[default]
    Attention,
    Model,
    Methods,
    Distance,
    Tokens,
    Embeddings,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Attention,
        View::Model,
        View::Methods,
        View::Distance,
        View::Tokens,
        View::Embeddings,
    ];
    pub fn label(self) -> &'static str {
        match self {
            View::Attention => "Attention",
            View::Model => "Model view",
            View::Methods => "Methods",
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
        }
    }
}

pub const STORAGE_KEY: &str = "vitscope-settings";
