//! Loops over many images with one model (distance over a folder, batch export): each image decoded, run and
//! analysed in turn, failures skipped and named, progress and cancel through a callback.
use std::path::{Path, PathBuf};

use image::RgbImage;

use super::{Run, forward_stored};
use crate::analysis::{HeadStats, PrefixConvention, head_stats};
use crate::model::preprocess::load_image;
use crate::model::{AttentionStore, InputSize, Result, Vit};

/// Image files among `inputs`: files as given, folders expanded to the image files directly inside
/// (sorted by name).
pub fn image_files(inputs: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)?
                .flatten()
                .map(|e| e.path())
                .filter(|f| {
                    f.is_file()
                        && f.extension().is_some_and(|e| {
                            matches!(
                                e.to_string_lossy().to_ascii_lowercase().as_str(),
                                "png" | "jpg" | "jpeg" | "gif" | "webp" | "tif" | "tiff" | "bmp"
                            )
                        })
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

/// Head statistics averaged over images.
#[derive(Debug)]
pub struct StatsRun {
    /// `None` when no image could be analysed.
    pub stats: Option<HeadStats>,
    /// Images that could not be read or run, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// True when `progress` asked to stop; `stats` then covers the images done so far.
    pub cancelled: bool,
}

/// Run `vit` on each of `files` and hand each run to `each`; images that cannot be read or run, and runs
/// `each` fails on, are skipped with the reason. `progress(done, total, file)` is called after each image;
/// returning `false` cancels. Returns the skipped files and whether it was cancelled.
pub fn over_images(
    vit: &Vit,
    files: &[PathBuf],
    size: InputSize,
    store: AttentionStore,
    mut each: impl FnMut(&Path, &RgbImage, &Run) -> std::result::Result<(), String>,
    mut progress: impl FnMut(usize, usize, &Path) -> bool,
) -> (Vec<(PathBuf, String)>, bool) {
    let mut skipped = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let one = load_image(f)
            .and_then(|img| Ok((forward_stored(vit, &img.rgb, size, store)?, img.rgb)))
            .map_err(|e| e.to_string())
            .and_then(|(run, img)| each(f, &img, &run));
        if let Err(e) = one {
            skipped.push((f.clone(), e));
        }
        if !progress(i + 1, files.len(), f) {
            return (skipped, i + 1 < files.len());
        }
    }
    (skipped, false)
}

/// Mean attention distance and entropy per layer and head over `files` (each image counts once).
/// `progress(done, total, file)` is called after each image; returning `false` cancels.
pub fn head_stats_over(
    vit: &Vit,
    files: &[PathBuf],
    size: InputSize,
    store: AttentionStore,
    convention: PrefixConvention,
    progress: impl FnMut(usize, usize, &Path) -> bool,
) -> Result<StatsRun> {
    let mut stats: Option<HeadStats> = None;
    let (skipped, cancelled) = over_images(
        vit,
        files,
        size,
        store,
        |_, _, r| {
            let s = head_stats(r.capture.source(), &r.capture.layout, convention)
                .map_err(|e| e.to_string())?;
            match &mut stats {
                Some(t) => t.add(&s).map_err(|e| e.to_string()),
                None => {
                    stats = Some(s);
                    Ok(())
                }
            }
        },
        progress,
    );
    Ok(StatsRun {
        stats,
        skipped,
        cancelled,
    })
}
