//! Files on disk: PNG heatmaps with provenance in text chunks, safetensors dumps.
//! Every file is written atomically: to a temporary file in the target folder, then renamed, so a
//! failure never leaves a partial file behind.
pub mod dump;
pub mod maps;
pub mod methods;
pub mod npy;
pub mod png_file;

use std::path::PathBuf;

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
    #[error("{path} already exists (use --force to overwrite)")]
    Exists { path: PathBuf },
    #[error("cannot encode {path}: {reason}")]
    Encode { path: PathBuf, reason: String },
    #[error("nothing to export: {0}")]
    Nothing(String),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}

/// Write `bytes` produced by `fill` to `path` atomically (temporary file + rename).
pub fn write_atomic(
    path: &std::path::Path,
    overwrite: bool,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    use std::io::Write;
    if !overwrite && path.exists() {
        return Err(ExportError::Exists { path: path.into() });
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if dir.exists() && !dir.is_dir() {
        return Err(ExportError::CreateDir {
            path: dir.into(),
            source: std::io::Error::other("it is a file, not a folder"),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| ExportError::CreateDir {
        path: dir.into(),
        source,
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|source| ExportError::Write {
            path: path.into(),
            source,
        })?;
        let mut w = std::io::BufWriter::new(file);
        fill(&mut w)?;
        w.flush().map_err(|source| ExportError::Write {
            path: path.into(),
            source,
        })?;
        let file = w.into_inner().map_err(|e| ExportError::Write {
            path: path.into(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(|source| ExportError::Write {
            path: path.into(),
            source,
        })?;
        std::fs::rename(&tmp, path).map_err(|source| ExportError::Write {
            path: path.into(),
            source,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

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
