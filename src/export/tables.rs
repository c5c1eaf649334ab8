//! Tables and plots: one writer per artefact, called by the command line and by the app alike, so the same
//! statistics give byte-identical files wherever they were exported.
use std::path::{Path, PathBuf};

use super::ExportError;
use super::png_file::write_png;
use crate::analysis::{HeadStats, PrefixConvention};

/// Write `text` to `path`, atomically.
pub fn write_text(path: &Path, text: &str, overwrite: bool) -> Result<(), ExportError> {
    super::write_atomic(path, overwrite, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())
            .map_err(|source| ExportError::Write {
                path: path.into(),
                source,
            })
    })
}

/// Mean attention distance and entropy per layer and head: the table (`layer,head,mean_distance_px,entropy`)
/// and, when `plot` is given, the ViT paper's figure. Returns the files written.
pub fn write_distance(
    csv: &Path,
    plot: Option<&Path>,
    stats: &HeadStats,
    model_name: &str,
    convention: PrefixConvention,
    overwrite: bool,
) -> Result<Vec<PathBuf>, ExportError> {
    write_text(csv, &stats.to_csv(), overwrite)?;
    let mut files = vec![csv.to_path_buf()];
    if let Some(plot) = plot {
        let img = crate::render::plot::distance_figure(stats, model_name, convention);
        write_png(
            plot,
            &img,
            &[
                ("vitscope.model".into(), model_name.to_string()),
                ("vitscope.method".into(), "distance".into()),
                ("vitscope.images".into(), stats.images.to_string()),
            ],
            overwrite,
        )?;
        files.push(plot.to_path_buf());
    }
    Ok(files)
}

/// The prefix-mass table: `layer,token,mass`, one row per layer and prefix token (`labels`), each value the
/// shortest decimal that reads back as the same f32.
pub fn prefix_mass_csv(labels: &[String], prefix_mass: &[Vec<f32>]) -> String {
    let mut csv = String::from("layer,token,mass\n");
    for (l, row) in prefix_mass.iter().enumerate() {
        for (label, m) in labels.iter().zip(row) {
            csv += &format!("{l},{label},{m}\n");
        }
    }
    csv
}

/// What the prefix-mass plot and table hold, in words (their provenance).
pub const PREFIX_MASS_DEFINITION: &str =
    "prefix mass: mean over heads and patch queries of the attention on each prefix token";

/// The prefix-mass table and, when `plot` is given, its plot. Returns the files written.
pub fn write_prefix_mass(
    csv: &Path,
    plot: Option<&Path>,
    labels: &[String],
    prefix_mass: &[Vec<f32>],
    model_name: &str,
    overwrite: bool,
) -> Result<Vec<PathBuf>, ExportError> {
    write_text(csv, &prefix_mass_csv(labels, prefix_mass), overwrite)?;
    let mut files = vec![csv.to_path_buf()];
    if let Some(plot) = plot {
        let img = crate::render::plot::prefix_mass_figure(prefix_mass, labels, model_name);
        let text = [
            ("vitscope.model".to_string(), model_name.to_string()),
            ("vitscope.method".into(), PREFIX_MASS_DEFINITION.into()),
        ];
        write_png(plot, &img, &text, overwrite)?;
        files.push(plot.to_path_buf());
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_mass_values_read_back_exactly() {
        let m = vec![vec![0.1f32, 1.0 / 3.0], vec![2.5e-7, 0.0]];
        let csv = super::prefix_mass_csv(&["CLS".into(), "REG0".into()], &m);
        let back: Vec<f32> = csv
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(back, [0.1, 1.0 / 3.0, 2.5e-7, 0.0]);
        assert!(csv.starts_with("layer,token,mass\n0,CLS,0.1\n"), "{csv}");
    }
}
