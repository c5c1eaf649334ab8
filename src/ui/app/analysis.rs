//! The analysis views' requests to the worker, and the Distance view's export.
use std::path::{Path, PathBuf};

use super::{App, Job};
use crate::jobs::{AnalysisRequest, AnalysisResult};
use crate::ui::settings::View;

impl App {
    /// The statistics the Distance view shows now (folder or image), with a file stem.
    pub fn shown_stats(&self) -> Option<(crate::analysis::HeadStats, String)> {
        let s = &self.state;
        if s.distance_folder {
            let folder = PathBuf::from(s.folder_field.trim());
            let want = AnalysisRequest::FolderStats {
                folder: folder.clone(),
                convention: s.stats_convention,
            };
            match s.result(&want) {
                Some((AnalysisResult::FolderStats { stats, .. }, _)) => Some((
                    stats.clone(),
                    crate::export::export_stem(
                        &folder
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_else(|| "folder".into()),
                        &s.model_name(),
                    ),
                )),
                _ => None,
            }
        } else {
            match s.result(&AnalysisRequest::Stats(s.stats_convention)) {
                Some((AnalysisResult::Stats(stats), _)) => Some((stats.clone(), s.export_stem())),
                _ => None,
            }
        }
    }

    pub(in crate::ui) fn export_distance(&mut self) -> Result<Vec<PathBuf>, String> {
        let (stats, stem) = self
            .shown_stats()
            .ok_or("no distance statistics to export yet")?;
        let dir = PathBuf::from(&self.state.export_field);
        let [png, csv, svg] =
            free_names(&dir, &format!("{stem}_distance"), [".png", ".csv", ".svg"]);
        let plots = self.plot_files(png, svg);
        // apply() runs every export inside one all_or_nothing
        crate::export::tables::write_distance(
            &csv,
            &plots.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
            self.settings.plot_dpi,
            &stats,
            &self.state.model_name(),
            self.state.stats_convention,
            false,
        )
        .map_err(|e| e.to_string())?;
        Ok(plot_then_table(plots, csv))
    }

    /// The Methods view's faithfulness curves: `{stem}_faithfulness.csv` (the areas), `…_curves.csv`, and the
    /// plot, as `vitscope faithfulness` writes them.
    pub(in crate::ui) fn export_curves(&mut self) -> Result<Vec<PathBuf>, String> {
        let want = crate::ui::methods_view::faithfulness_request(&self.state);
        let Some((AnalysisResult::Faithfulness { curves, score }, true)) = self.state.result(&want)
        else {
            return Err("the faithfulness curves are not computed yet".into());
        };
        let dir = PathBuf::from(&self.state.export_field);
        let base = format!("{}_faithfulness", self.state.export_stem());
        let [summary, long, png, svg] =
            free_names(&dir, &base, [".csv", "_curves.csv", ".png", ".svg"]);
        let p = &self.state.methods;
        let model = self.state.model_name();
        let results = crate::export::tables::Faithfulness {
            curves,
            images: 1,
            score,
            title: format!(
                "{model} - {}, {} fill, {} steps",
                self.state.image_stem(),
                p.fill.name(),
                p.steps
            ),
            model: &model,
        };
        let plots = self.plot_files(png, svg);
        crate::export::tables::write_faithfulness(
            &results,
            &summary,
            &long,
            &plots.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
            self.settings.plot_dpi,
            false,
        )
        .map_err(|e| e.to_string())?;
        Ok(plot_then_table(plots, summary)
            .into_iter()
            .chain([long])
            .collect())
    }

    /// The plot files an export writes: the PNG, and the SVG when "SVG too" is on.
    pub(in crate::ui) fn plot_files(&self, png: PathBuf, svg: PathBuf) -> Vec<PathBuf> {
        let mut plots = vec![png];
        if self.settings.export_svg {
            plots.push(svg);
        }
        plots
    }

    /// Ask the worker for the analysis the current view needs, unless it is there or on its way.
    pub fn request_analysis(&mut self) {
        let s = &self.state;
        if s.rows.is_none() {
            return;
        }
        let wants = match self.settings.view {
            View::Attention | View::Model => return,
            View::Methods => {
                let mut w = vec![AnalysisRequest::Methods {
                    opts: s.methods.opts,
                    target: s.methods.target.clone(),
                    flow: s.methods.flow,
                }];
                if s.methods.faithfulness {
                    w.push(crate::ui::methods_view::faithfulness_request(s));
                }
                w
            }
            View::Compare => crate::ui::compare_view::requests(&self.state),
            View::Distance if s.distance_folder => return,
            View::Distance => vec![AnalysisRequest::Stats(s.stats_convention)],
            View::Tokens => vec![AnalysisRequest::Tokens],
            View::Embeddings => vec![AnalysisRequest::Embeddings {
                input_grid: s.pos_input_grid,
            }],
        };
        for want in wants {
            let s = &self.state;
            let epoch = s.analysis_epoch;
            if matches!(s.result(&want), Some((_, true)))
                || s.pending.iter().any(|(_, e, r)| *e == epoch && *r == want)
                || s.failed.iter().any(|(e, r, _)| *e == epoch && *r == want)
            {
                continue;
            }
            // a long method still running for parameters the user has left is stopped (latest wins)
            let outdated = s
                .pending
                .iter()
                .any(|(_, _, r)| r.same_slot(&want) && *r != want);
            if outdated
                && self.worker.progress().is_some_and(|(what, _, _)| {
                    what == "attention flow" || what == "faithfulness curves"
                })
            {
                self.worker.cancel();
            }
            let generation = self.worker.send(Job::Analyse(want.clone()));
            self.state.pending.push((generation, epoch, want));
        }
    }
}

/// The files of a plot export in the order the status bar names them: the PNG, the table, then the SVG.
pub(in crate::ui) fn plot_then_table(mut plots: Vec<PathBuf>, csv: PathBuf) -> Vec<PathBuf> {
    plots.insert(1, csv);
    plots
}

/// `dir/base{SUFFIX}` for each suffix (`.png`, `_curves.csv`), or `base-2`, `base-3`, … where any of them
/// exists: an export from the app never replaces a file it did not ask about.

pub(in crate::ui) fn free_names<const K: usize>(
    dir: &Path,
    base: &str,
    suffixes: [&str; K],
) -> [PathBuf; K] {
    let names = |n: usize| {
        let b = if n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        suffixes.map(|e| dir.join(format!("{b}{e}")))
    };
    let mut n = 1;
    while names(n).iter().any(|p| p.exists()) {
        n += 1;
    }
    names(n)
}
