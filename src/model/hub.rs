//! The Hugging Face hub: the local cache (its layout from the `hf-hub` crate, as `huggingface_hub` writes it),
//! and downloads of a repo id, only when the user asks for one (`--download`, or the app's Download button).
//!
//! A download fetches what vitscope reads (config.json, preprocessor_config.json, the safetensors weights:
//! one file, or the shard index and its shards) through `hf-hub`'s blocking client into `blobs/<etag>.part`,
//! which is renamed into place only when complete. Each finished file is checked against the size the
//! server announced and, for LFS files (whose etag is their SHA-256), against that hash; a file that fails
//! is removed from the cache with its snapshot link. A cancelled or cut download leaves only the `.part`
//! file, which the next download of the same repo resumes.
use std::path::{Path, PathBuf};

use hf_hub::api::Progress;
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo};

use super::error::{ModelError, Result};

/// The hub the downloads use: `$HF_ENDPOINT`, else huggingface.co.
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .map(|e| e.trim().trim_end_matches('/').to_string())
        .unwrap_or_else(|| "https://huggingface.co".into())
}

/// The local Hugging Face hub cache, as `huggingface_hub` finds it: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
pub fn cache_dir() -> PathBuf {
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

/// Whether `s` reads as a Hugging Face repo id `org/name` (and not as a relative path).
pub fn is_repo_id(s: &str) -> bool {
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

/// The repo's folder in the cache (`models--org--name`), from hf-hub's layout.
fn repo_dir(repo: &str, cache: &Path) -> PathBuf {
    cache.join(Repo::model(repo.to_string()).folder_name())
}

/// The snapshot folder of model `repo` in the hub cache `cache`: the commit `refs/main` names, else the only
/// snapshot. Nothing is downloaded here.
pub fn cached_snapshot(repo: &str, cache: &Path) -> Result<PathBuf> {
    let dir = repo_dir(repo, cache);
    let not_found = |reason: String| ModelError::NotFound {
        path: repo.into(),
        reason,
    };
    if !dir.is_dir() {
        return Err(not_found(format!(
            "not a file or folder, and not in the Hugging Face cache at {}; vitscope downloads only when asked: \
             add --download (in the app: the Download from the hub button under the model path) to fetch it from {}",
            cache.display(),
            endpoint()
        )));
    }
    let cached = Cache::new(cache.to_path_buf()).model(repo.to_string());
    if let Ok(commit) = crate::files::read_regular_text(&dir.join("refs").join("main"), 4096) {
        let snap = cached.pointer_path(commit.trim());
        if snap.is_dir() {
            return Ok(snap);
        }
    }
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir.join("snapshots"))
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

/// Where a download is: file `index` (1-based) of `files`, `done` of `total` bytes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadProgress {
    pub file: String,
    pub index: usize,
    pub files: usize,
    pub done: u64,
    pub total: u64,
}

/// What can go wrong in a download.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "{repo} was not found at {endpoint} (check the spelling; a private or gated repo needs a token in HF_TOKEN)"
    )]
    NotFound { repo: String, endpoint: String },
    #[error("cannot reach {endpoint} for {repo}: {reason}")]
    Unreachable {
        repo: String,
        endpoint: String,
        reason: String,
    },
    #[error("{repo} holds no weights vitscope can read: {reason}")]
    NoWeights { repo: String, reason: String },
    #[error("the download of {file} from {repo} failed: {reason}")]
    Failed {
        repo: String,
        file: String,
        reason: String,
    },
    #[error(
        "the download was cancelled during {file}; nothing broken was left in the cache, and the next download of {repo} resumes where it stopped"
    )]
    Cancelled { repo: String, file: String },
}

/// The files of a repo listing that vitscope reads, the weights last: config.json and
/// preprocessor_config.json when present, then `model.safetensors`, or the shard index (its shards are
/// added once it is read), or the only top-level `.safetensors` file.
pub fn wanted_files(repo: &str, listing: &[String]) -> std::result::Result<Vec<String>, HubError> {
    let has = |n: &str| listing.iter().any(|f| f == n);
    let mut files: Vec<String> = ["config.json", "preprocessor_config.json"]
        .into_iter()
        .filter(|n| has(n))
        .map(String::from)
        .collect();
    let top: Vec<&String> = listing
        .iter()
        .filter(|f| f.ends_with(".safetensors") && !f.contains('/'))
        .collect();
    if has("model.safetensors") {
        files.push("model.safetensors".into());
    } else if has(super::config_files::INDEX_FILE) {
        files.push(super::config_files::INDEX_FILE.into());
    } else if let [only] = top.as_slice() {
        files.push((*only).clone());
    } else {
        let reason = if top.is_empty() {
            let mut others: Vec<&str> = listing
                .iter()
                .map(String::as_str)
                .filter(|f| {
                    [".bin", ".pth", ".pt", ".ckpt", ".onnx"]
                        .iter()
                        .any(|e| f.ends_with(e))
                })
                .collect();
            others.truncate(6);
            if others.is_empty() {
                "no .safetensors file at its top level".to_string()
            } else {
                format!(
                    "no .safetensors file, only {} (vitscope reads safetensors only; convert with safetensors.torch.save_file)",
                    others.join(", ")
                )
            }
        } else {
            format!(
                "several .safetensors files and no model.safetensors or shard index ({}); download the one you want \
                 yourself and open the file",
                top.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(HubError::NoWeights {
            repo: repo.into(),
            reason,
        });
    }
    Ok(files)
}

/// Unwinds out of hf-hub's download loop when the user cancels (hf-hub's progress cannot stop it otherwise);
/// `resume_unwind` runs no panic hook, and [`download`] catches exactly this payload.
struct CancelDownload;

struct Reporter<'a> {
    state: DownloadProgress,
    report: &'a mut dyn FnMut(&DownloadProgress) -> bool,
}

// hf-hub takes its progress by value; the reporter stays with the caller, who reads the announced size after.
impl Progress for &mut Reporter<'_> {
    fn init(&mut self, size: usize, _filename: &str) {
        self.state.total = size as u64;
        self.state.done = 0;
        self.tell();
    }
    fn update(&mut self, size: usize) {
        self.state.done += size as u64;
        self.tell();
    }
    fn finish(&mut self) {}
}

impl Reporter<'_> {
    fn tell(&mut self) {
        if !(self.report)(&self.state) {
            std::panic::resume_unwind(Box::new(CancelDownload));
        }
    }

    /// A file found complete in the cache: reported as all done.
    fn tell_done(&mut self, path: &Path) {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        self.state.total = len;
        self.state.done = len;
        self.tell();
    }
}

/// Download what vitscope reads of model `repo` from `endpoint` into the hub cache `cache`, calling `report`
/// as bytes arrive (return `false` to cancel); files already in the cache are not fetched again.
/// Returns the snapshot folder.
pub fn download(
    repo: &str,
    cache: &Path,
    endpoint: &str,
    report: &mut dyn FnMut(&DownloadProgress) -> bool,
) -> std::result::Result<PathBuf, HubError> {
    let mut builder = ApiBuilder::from_cache(Cache::new(cache.to_path_buf()))
        .with_progress(false)
        .with_endpoint(endpoint.to_string())
        .with_user_agent("vitscope", env!("CARGO_PKG_VERSION"));
    if let Some(token) = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()) {
        builder = builder.with_token(Some(token));
    }
    let unreachable = |reason: String| HubError::Unreachable {
        repo: repo.into(),
        endpoint: endpoint.into(),
        reason,
    };
    let api = builder.build().map_err(|e| unreachable(e.to_string()))?;
    let remote = api.model(repo.to_string());
    let info = remote.info().map_err(|e| match &e {
        hf_hub::api::sync::ApiError::RequestError(r)
            if matches!(**r, ureq::Error::StatusCode(401 | 403 | 404)) =>
        {
            HubError::NotFound {
                repo: repo.into(),
                endpoint: endpoint.into(),
            }
        }
        _ => unreachable(e.to_string()),
    })?;
    let listing: Vec<String> = info.siblings.iter().map(|s| s.rfilename.clone()).collect();
    let mut files = wanted_files(repo, &listing)?;
    let commit_dir = Cache::new(cache.to_path_buf())
        .model(repo.to_string())
        .pointer_path(&info.sha);
    let mut snapshot = None;
    let mut i = 0;
    while i < files.len() {
        let file = files[i].clone();
        let path = fetch_one(
            &remote,
            &commit_dir,
            repo,
            &file,
            i + 1,
            files.len(),
            report,
        )?;
        if file == super::config_files::INDEX_FILE {
            let text =
                crate::files::read_regular_text(&path, 64 << 20).map_err(|e| HubError::Failed {
                    repo: repo.into(),
                    file: file.clone(),
                    reason: e.to_string(),
                })?;
            let shards =
                super::config_files::parse_index(&text).map_err(|reason| HubError::Failed {
                    repo: repo.into(),
                    file: file.clone(),
                    reason,
                })?;
            files.extend(shards.into_keys());
        }
        snapshot = path.parent().map(Path::to_path_buf);
        i += 1;
    }
    snapshot.ok_or_else(|| HubError::NoWeights {
        repo: repo.into(),
        reason: "nothing to download".into(),
    })
}

/// One file into the cache, checked; returns its snapshot path.
fn fetch_one(
    remote: &hf_hub::api::sync::ApiRepo,
    snapshot: &Path,
    repo: &str,
    file: &str,
    index: usize,
    files: usize,
    report: &mut dyn FnMut(&DownloadProgress) -> bool,
) -> std::result::Result<PathBuf, HubError> {
    let failed = |reason: String| HubError::Failed {
        repo: repo.into(),
        file: file.into(),
        reason,
    };
    let mut reporter = Reporter {
        state: DownloadProgress {
            file: file.into(),
            index,
            files,
            done: 0,
            total: 0,
        },
        report,
    };
    // already in the cache at the repo's current commit (downloads check each file as it lands)
    let cached = snapshot.join(file);
    if cached.is_file() {
        reporter.tell_done(&cached);
        return Ok(cached);
    }
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        remote.download_with_progress(file, &mut reporter)
    }));
    let path = match attempt {
        Ok(Ok(path)) => path,
        Ok(Err(e)) => {
            return Err(failed(format!(
                "{e}; what arrived is kept as a part file, and downloading again resumes it"
            )));
        }
        Err(payload) if payload.is::<CancelDownload>() => {
            return Err(HubError::Cancelled {
                repo: repo.into(),
                file: file.into(),
            });
        }
        Err(payload) => std::panic::resume_unwind(payload),
    };
    let expected = reporter.state.total;
    if let Err(reason) = verify(&path, expected) {
        remove_broken(&path);
        return Err(failed(reason));
    }
    Ok(path)
}

/// The downloaded file has the announced size and, when its blob is named by a SHA-256 (LFS files), that hash.
fn verify(path: &Path, expected: u64) -> std::result::Result<(), String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len != expected {
        return Err(format!(
            "it arrived with {len} bytes of the {expected} the server announced (a cut connection?); try again to resume"
        ));
    }
    let blob = std::fs::canonicalize(path).map_err(|e| e.to_string())?;
    let etag = blob
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if etag.len() == 64 && etag.bytes().all(|b| b.is_ascii_hexdigit()) {
        use sha2::Digest;
        let mut f = std::fs::File::open(&blob).map_err(|e| e.to_string())?;
        let mut h = sha2::Sha256::new();
        std::io::copy(&mut f, &mut h).map_err(|e| e.to_string())?;
        let got = format!("{:x}", h.finalize());
        if !got.eq_ignore_ascii_case(&etag) {
            return Err(format!(
                "its SHA-256 is {got}, not the {etag} the hub names it by (corrupted in transit?)"
            ));
        }
    }
    Ok(())
}

/// Remove a file that failed its check: the blob and the snapshot link to it.
fn remove_broken(path: &Path) {
    if let Ok(blob) = std::fs::canonicalize(path) {
        let _ = std::fs::remove_file(blob);
    }
    let _ = std::fs::remove_file(path);
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
        assert!(cached_snapshot("org/name", tmp.path()).is_err());
        std::fs::write(repo.join("refs/main"), "def\n").unwrap();
        assert_eq!(
            cached_snapshot("org/name", tmp.path()).unwrap(),
            repo.join("snapshots/def")
        );
        let missing = cached_snapshot("org/other", tmp.path())
            .unwrap_err()
            .to_string();
        assert!(missing.contains("--download"), "{missing}");
    }

    #[test]
    fn the_files_a_download_fetches() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            wanted_files(
                "o/n",
                &l(&[
                    "README.md",
                    "config.json",
                    "model.safetensors",
                    "pytorch_model.bin"
                ])
            )
            .unwrap(),
            l(&["config.json", "model.safetensors"])
        );
        assert_eq!(
            wanted_files(
                "o/n",
                &l(&[
                    "config.json",
                    "model.safetensors.index.json",
                    "model-00001-of-00002.safetensors"
                ])
            )
            .unwrap(),
            l(&["config.json", "model.safetensors.index.json"])
        );
        assert_eq!(
            wanted_files(
                "o/n",
                &l(&["open_clip_model.safetensors", "open_clip_pytorch_model.bin"])
            )
            .unwrap(),
            l(&["open_clip_model.safetensors"])
        );
        let bin = wanted_files("o/n", &l(&["config.json", "pytorch_model.bin"]))
            .unwrap_err()
            .to_string();
        assert!(
            bin.contains("pytorch_model.bin") && bin.contains("safetensors only"),
            "{bin}"
        );
        let many = wanted_files("o/n", &l(&["a.safetensors", "b.safetensors"]))
            .unwrap_err()
            .to_string();
        assert!(many.contains("a.safetensors, b.safetensors"), "{many}");
    }
}
