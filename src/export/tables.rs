//! Tables and plots: one writer per artefact, called by the command line and by the app alike, so the same
//! statistics give byte-identical files wherever they were exported.
use std::path::{Path, PathBuf};

use super::ExportError;
use super::png_file::write_png_at;
use crate::analysis::{HeadStats, PrefixConvention};
use crate::render::plot::Figure;

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

/// Write `fig` to `path` at `dpi`: an SVG (vector lines, dots and text; `text` as `<metadata>`) when the
/// name ends in `.svg`, else a PNG that says its DPI and carries `text` as text chunks.
pub fn write_plot(
    path: &Path,
    fig: &Figure,
    dpi: u32,
    text: &[(String, String)],
    overwrite: bool,
) -> Result<(), ExportError> {
    let encode = |e: crate::render::plot::PlotError| ExportError::Encode {
        path: path.into(),
        reason: e.to_string(),
    };
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if svg {
        let doc = fig.svg(dpi).map_err(encode)?;
        write_text(path, &with_metadata(&doc, text), overwrite)
    } else {
        write_png_at(path, &fig.png(dpi).map_err(encode)?, text, dpi, overwrite)
    }
}

/// `svg` with `text` as `key: value` lines in a `<metadata>` element right after the opening tag.
pub fn with_metadata(svg: &str, text: &[(String, String)]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut lines = vec![format!("Software: vitscope {}", env!("CARGO_PKG_VERSION"))];
    lines.extend(text.iter().map(|(k, v)| format!("{}: {}", esc(k), esc(v))));
    match svg
        .find("<svg")
        .and_then(|i| svg[i..].find('>').map(|j| i + j + 1))
    {
        Some(at) => format!(
            "{}\n<metadata>{}</metadata>{}",
            &svg[..at],
            lines.join("\n"),
            &svg[at..]
        ),
        None => svg.to_string(),
    }
}

/// Mean attention distance and entropy per layer and head: the table (`layer,head,mean_distance_px,entropy`)
/// and the ViT paper's figure as each of `plots` (PNG or SVG by extension) at `dpi`. Returns the files
/// written.
pub fn write_distance(
    csv: &Path,
    plots: &[&Path],
    dpi: u32,
    stats: &HeadStats,
    model_name: &str,
    convention: PrefixConvention,
    overwrite: bool,
) -> Result<Vec<PathBuf>, ExportError> {
    write_text(csv, &stats.to_csv(), overwrite)?;
    let mut files = vec![csv.to_path_buf()];
    let fig = crate::render::plot::distance_figure(stats, model_name, convention);
    let text = [
        ("vitscope.model".to_string(), model_name.to_string()),
        ("vitscope.method".into(), "distance".into()),
        ("vitscope.images".into(), stats.images.to_string()),
    ];
    for plot in plots {
        write_plot(plot, &fig, dpi, &text, overwrite)?;
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

/// The prefix-mass table and its plot as each of `plots` (PNG or SVG by extension) at `dpi`. Returns the
/// files written.
pub fn write_prefix_mass(
    csv: &Path,
    plots: &[&Path],
    dpi: u32,
    labels: &[String],
    prefix_mass: &[Vec<f32>],
    model_name: &str,
    overwrite: bool,
) -> Result<Vec<PathBuf>, ExportError> {
    write_text(csv, &prefix_mass_csv(labels, prefix_mass), overwrite)?;
    let mut files = vec![csv.to_path_buf()];
    let fig = crate::render::plot::prefix_mass_figure(prefix_mass, labels, model_name);
    let text = [
        ("vitscope.model".to_string(), model_name.to_string()),
        ("vitscope.method".into(), PREFIX_MASS_DEFINITION.into()),
    ];
    for plot in plots {
        write_plot(plot, &fig, dpi, &text, overwrite)?;
        files.push(plot.to_path_buf());
    }
    Ok(files)
}

/// Faithfulness results to write: each method's (mean) curves, named, `random` among them.
pub struct Faithfulness<'a> {
    pub curves: &'a [(String, crate::methods::faithfulness::Curves)],
    /// Images the curves are the mean over.
    pub images: usize,
    /// What the score is, in words.
    pub score: &'a str,
    /// The plot's title (model, images, fill, steps).
    pub title: String,
    pub model: &'a str,
}

/// The summary table (`method,deletion_auc,insertion_auc,images`) and the curves
/// (`method,curve,fraction,score`), six decimals.
pub fn faithfulness_csv(f: &Faithfulness) -> (String, String) {
    use std::fmt::Write as _;
    let mut table = String::from("method,deletion_auc,insertion_auc,images\n");
    let mut long = String::from("method,curve,fraction,score\n");
    for (name, c) in f.curves {
        let _ = writeln!(
            table,
            "{name},{:.6},{:.6},{}",
            c.deletion_auc(),
            c.insertion_auc(),
            f.images
        );
        for (curve, values) in [("deletion", &c.deletion), ("insertion", &c.insertion)] {
            for (x, v) in c.fractions.iter().zip(values) {
                let _ = writeln!(long, "{name},{curve},{x:.6},{v:.6}");
            }
        }
    }
    (table, long)
}

/// Write the summary table, the curves and the plot as each of `plots` (PNG or SVG by extension) at `dpi`,
/// all or nothing. Returns the files written.
pub fn write_faithfulness(
    f: &Faithfulness,
    summary: &Path,
    curves: &Path,
    plots: &[&Path],
    dpi: u32,
    overwrite: bool,
) -> Result<Vec<PathBuf>, ExportError> {
    let (table, long) = faithfulness_csv(f);
    let lines: Vec<crate::render::plot::Curves> = f
        .curves
        .iter()
        .map(|(name, c)| {
            (
                format!(
                    "{name} (deletion {:.3}, insertion {:.3})",
                    c.deletion_auc(),
                    c.insertion_auc()
                ),
                c.fractions.clone(),
                c.deletion.clone(),
                c.insertion.clone(),
            )
        })
        .collect();
    let fig = crate::render::plot::faithfulness_figure(&lines, &f.title, f.score);
    let text = [
        ("vitscope.model".to_string(), f.model.to_string()),
        ("vitscope.method".into(), "faithfulness".into()),
        ("vitscope.score".into(), f.score.to_string()),
    ];
    super::all_or_nothing(|| -> Result<(), ExportError> {
        write_text(summary, &table, overwrite)?;
        write_text(curves, &long, overwrite)?;
        for plot in plots {
            write_plot(plot, &fig, dpi, &text, overwrite)?;
        }
        Ok(())
    })?;
    let mut files = vec![summary.to_path_buf(), curves.to_path_buf()];
    files.extend(plots.iter().map(|p| p.to_path_buf()));
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
