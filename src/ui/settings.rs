//! The one persisted settings struct. Runtime state is not persisted.
//!
//! The settings live in their own file (`settings.json` in `$VITSCOPE_CONFIG_DIR`, else
//! `$XDG_CONFIG_HOME/vitscope`, else `~/.config/vitscope`), written atomically; the previous good file is kept
//! as `settings.json.bak`. A file that cannot be read is moved aside (`settings.json.corrupt`), the backup
//! is used instead, and the app says so: nothing is reset silently.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::render::Colormap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Exported single maps and plots also as SVG.
    pub export_svg: bool,
    /// Exported plots' resolution (dots per inch; their physical size stays).
    pub plot_dpi: u32,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
            // as the papers' figures (DINO's): inferno, whose dark low end dims the photo where attention is low
            colormap: Colormap::Inferno,
            opacity: 0.7,
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
            export_svg: false,
            plot_dpi: crate::render::plot::BASE_DPI,
            export_long_side: None,
            recent_images: Vec::new(),
            recent_models: Vec::new(),
        }
    }
}

pub const STORAGE_KEY: &str = "vitscope-settings";

/// Where the app keeps its settings file.
pub fn default_settings_file() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = var("VITSCOPE_CONFIG_DIR")
        .or_else(|| var("XDG_CONFIG_HOME").map(|d| d.join("vitscope")))
        .or_else(|| var("HOME").map(|h| h.join(".config").join("vitscope")))?;
    Some(dir.join("settings.json"))
}

fn with_suffix(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn read_settings(path: &std::path::Path) -> Result<Settings, String> {
    let text = crate::files::read_regular_text(path, 16 << 20).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// The settings in `path` (None: no file yet), with a notice when the file could not be used.
pub fn load_settings(path: &std::path::Path) -> (Option<Settings>, Option<String>) {
    if !crate::files::is_present(path) {
        return (None, None);
    }
    let reason = match read_settings(path) {
        Ok(s) => return (Some(s), None),
        Err(e) => e,
    };
    let corrupt = with_suffix(path, ".corrupt");
    let kept = match std::fs::rename(path, &corrupt) {
        Ok(()) => "kept as settings.json.corrupt".to_string(),
        Err(_) => "left in place".into(),
    };
    let backup = with_suffix(path, ".bak");
    match read_settings(&backup) {
        Ok(s) => (
            Some(s),
            Some(format!(
                "Settings file {} unreadable ({reason}): {kept}; the previous settings were restored from \
                 its backup.",
                path.display()
            )),
        ),
        Err(_) => (
            None,
            Some(format!(
                "Settings file {} unreadable ({reason}) and no usable backup: {kept}; settings start from \
                 their defaults.",
                path.display()
            )),
        ),
    }
}

/// Write `settings` to `path` atomically, keeping the file it replaces (when it was good) as the backup.
pub fn save_settings(path: &std::path::Path, settings: &Settings) -> Result<(), String> {
    let text = serde_json::to_string_pretty(settings).map_err(|e| e.to_string())?;
    if let Ok(old) = crate::files::read_regular_text(path, 16 << 20) {
        if old == text {
            return Ok(());
        }
        if serde_json::from_str::<Settings>(&old).is_ok() {
            write_text(&with_suffix(path, ".bak"), &old)?;
        }
    }
    write_text(path, &text)
}

fn write_text(path: &std::path::Path, text: &str) -> Result<(), String> {
    crate::export::write_atomic(path, true, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())
            .map_err(|source| crate::export::ExportError::Write {
                path: path.into(),
                source,
            })
    })
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_settings_file_is_kept_aside_and_the_backup_restored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        assert!(load_settings(&path).0.is_none());
        let mut s = Settings {
            opacity: 0.25,
            ..Settings::default()
        };
        save_settings(&path, &s).unwrap();
        s.opacity = 0.75;
        save_settings(&path, &s).unwrap();
        assert_eq!(load_settings(&path).0.unwrap().opacity, 0.75);
        // a half-written file (as a crash of a non-atomic writer leaves it)
        std::fs::write(&path, b"{\"colormap\": \"Vir").unwrap();
        let (restored, notice) = load_settings(&path);
        assert_eq!(restored.unwrap().opacity, 0.25, "the backup");
        let notice = notice.unwrap();
        assert!(
            notice.contains("unreadable") && notice.contains("restored"),
            "{notice}"
        );
        assert!(with_suffix(&path, ".corrupt").exists() && !path.exists());
        // no backup either: defaults, and it is said
        std::fs::write(&path, b"garbage").unwrap();
        std::fs::write(with_suffix(&path, ".bak"), b"garbage").unwrap();
        let (none, notice) = load_settings(&path);
        assert!(none.is_none());
        assert!(notice.unwrap().contains("defaults"));
    }
}
