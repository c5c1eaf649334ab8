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
