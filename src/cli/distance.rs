//! `vitscope distance`: mean attention distance and entropy per layer and head over images, as a table
//! (and the ViT paper's plot).
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::ModelArgs;
use crate::analysis::PrefixConvention;

/// `vitscope distance`: head statistics over images, as CSV (and a plot).
pub(super) fn distance(
    model: &ModelArgs,
    inputs: &[PathBuf],
    out: &std::path::Path,
    plot: Option<&std::path::Path>,
    dpi: u32,
    prefix: PrefixConvention,
    force: bool,
) -> Result<()> {
    let files = crate::engine::image_files(inputs).context("cannot list the images")?;
    if files.is_empty() {
        bail!("no images (PNG, JPEG, GIF, WebP, TIFF, BMP) found in {inputs:?}");
    }
    if plot.is_some_and(|p| crate::cli::same_file(p, out)) {
        bail!(
            "--out and --plot are the same file {}; give each its own name",
            out.display()
        );
    }
    // Both outputs are checked before any work: nothing there (or --force on a regular file), in a folder.
    for f in [Some(out), plot].into_iter().flatten() {
        crate::export::check_target(f, force)?;
    }
    let loaded =
        crate::engine::load_model(&model.source(), model.device.into(), model.precision.into())
            .with_context(|| format!("cannot load model {}", model.model))?;
    let start = std::time::Instant::now();
    let run = crate::engine::head_stats_over(
        &loaded.vit,
        &files,
        model.size,
        model.attention.into(),
        prefix,
        |i, n, f| {
            eprintln!("[{i}/{n}] {}", f.display());
            true
        },
    )?;
    for (f, why) in &run.skipped {
        eprintln!("skipped {}: {why}", f.display());
    }
    let skipped = &run.skipped;
    let total = run.stats.context("no image could be analysed")?;
    // The table and the plot together, or neither.
    crate::export::all_or_nothing(|| {
        crate::export::tables::write_distance(
            out,
            plot.as_slice(),
            dpi,
            &total,
            &loaded.info.name,
            prefix,
            force,
        )
    })?;
    crate::cli::print_path(out);
    if let Some(plot) = plot {
        crate::cli::print_path(plot);
    }
    eprintln!(
        "{} image(s) in {:.1} s{}",
        total.images,
        start.elapsed().as_secs_f64(),
        if skipped.is_empty() {
            String::new()
        } else {
            format!(", {} skipped", skipped.len())
        }
    );
    Ok(())
}
