//! Exports of what a view shows: the Methods or Compare view as one PNG (every map over its photo at the
//! photo's resolution or the chosen size, captioned, each with its colour bar and values), and the
//! Tokens view's prefix-mass plot with its table. Files get a free name; provenance goes in text chunks.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;

use super::App;
use super::analysis::free_names;
use crate::export::maps::{fit_long_side, query_label, with_colour_bar};
use crate::export::png_file::write_png;
use crate::grid::Grid;
use crate::jobs::{AnalysisRequest, AnalysisResult};
use crate::render::{captioned_grid, overlay_range};
use crate::ui::settings::View;

/// One map of an exported view.
struct ViewPane {
    caption: String,
    definition: String,
    grid: Grid,
    range: (f32, f32),
    /// Another image's photo (None: the current photo).
    photo: Option<Arc<RgbImage>>,
}

impl App {
    fn view_panes(&self) -> Result<(Vec<ViewPane>, usize), String> {
        let rows = self
            .state
            .rows
            .as_ref()
            .ok_or("load a model and an image first")?;
        match self.settings.view {
            View::Methods => {
                let (tiles, _, fresh) = crate::ui::methods_view::tiles(&self.state, rows);
                if !fresh {
                    return Err("the methods are still being computed".into());
                }
                let panes: Vec<ViewPane> = tiles
                    .into_iter()
                    .map(|(caption, definition, grid, _)| ViewPane {
                        range: grid.min_max(),
                        caption,
                        definition,
                        grid,
                        photo: None,
                    })
                    .collect();
                // about square with no blank half-row (4 maps: 2 × 2)
                let cols = crate::export::maps::grid_columns(panes.len());
                Ok((panes, cols))
            }
            View::Compare => {
                let maps = crate::ui::compare_view::pane_maps(&self.state);
                let mut panes = Vec::new();
                for m in maps {
                    let grid = m
                        .grid
                        .ok_or_else(|| format!("{} is still being computed", m.label))?;
                    panes.push(ViewPane {
                        range: grid.min_max(),
                        definition: m.label.clone(),
                        caption: m.label,
                        grid,
                        photo: m.photo,
                    });
                }
                if self.state.compare_shared_scale {
                    let shared = panes.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| {
                        (lo.min(p.range.0), hi.max(p.range.1))
                    });
                    for p in &mut panes {
                        p.range = shared;
                    }
                }
                let cols = if panes.len() == 4 { 2 } else { panes.len() };
                Ok((panes, cols))
            }
            _ => Err("Export view works in the Methods and Compare views; Export map, head grid and all layers cover the others".into()),
        }
    }

    /// The Methods or Compare view as one PNG; the Tokens and Embeddings views as their figures.
    pub(in crate::ui) fn export_view(&mut self) -> Result<Vec<PathBuf>, String> {
        match self.settings.view {
            View::Tokens => return self.export_prefix_mass(),
            View::Embeddings => return self.export_embeddings(),
            _ => {}
        }
        let (panes, cols) = self.view_panes()?;
        let photo = self.state.image.clone().ok_or("no image loaded")?;
        let (cmap, opacity) = (self.settings.colormap, self.settings.opacity);
        let shared = self.settings.view == View::Compare && self.state.compare_shared_scale;
        let query = self
            .state
            .rows
            .as_ref()
            .map(|r| r.label())
            .unwrap_or_default();
        // each pane: its caption (what and from which query, not how long it took), its map over the
        // photo, and its own colour bar unless one bar under the whole figure covers every pane
        let plain: Vec<(String, RgbImage, Option<(f32, f32, String)>)> = panes
            .iter()
            .map(|p| {
                let base = p.photo.as_deref().unwrap_or(&photo);
                let img = overlay_range(base, &p.grid, p.range, cmap, opacity);
                let img = fit_long_side(img, self.settings.export_long_side);
                let caption = format!("{} · query {query}", strip_time(&p.caption));
                let what = format!("{}, min to max of this map", units(&p.caption));
                (
                    caption,
                    img,
                    (!shared).then_some((p.range.0, p.range.1, what)),
                )
            })
            .collect();
        let items: Vec<(String, RgbImage)> = plain
            .iter()
            .map(|(caption, img, bar)| match bar {
                Some((lo, hi, what)) => {
                    (caption.clone(), with_colour_bar(img, cmap, *lo, *hi, what))
                }
                None => (caption.clone(), img.clone()),
            })
            .collect();
        let view = self.settings.view.label().to_lowercase();
        let q = self
            .state
            .rows
            .as_ref()
            .map(query_label)
            .unwrap_or_default();
        let dir = PathBuf::from(&self.state.export_field);
        let [png, svg] = free_names(
            &dir,
            &format!("{}_{view}_{q}", self.state.export_stem()),
            [".png", ".svg"],
        );
        let image_name = self
            .state
            .image_path
            .as_deref()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut text: Vec<(String, String)> = vec![
            ("vitscope.model".into(), self.state.model_name()),
            ("vitscope.image".into(), image_name.clone()),
            ("vitscope.view".into(), view),
            (
                "vitscope.query".into(),
                self.state
                    .rows
                    .as_ref()
                    .map(|r| r.label())
                    .unwrap_or_default(),
            ),
            ("vitscope.colormap".into(), cmap.name().into()),
            (
                "vitscope.style".into(),
                format!("overlay (opacity {opacity})"),
            ),
        ];
        if let Some(c) = &self.state.change {
            text.push(("vitscope.intervention".into(), c.intervention.describe()));
        }
        for (i, p) in panes.iter().enumerate() {
            text.push((
                format!("vitscope.pane{}", i + 1),
                format!(
                    "{}: {} [scale {:.6}..{:.6}]",
                    p.caption, p.definition, p.range.0, p.range.1
                ),
            ));
        }
        // the figure says which model saw which image at what size
        let title = format!(
            "{} · {image_name} · input {}",
            self.state.model_name(),
            self.state
                .input_hw
                .map(|(h, w)| format!("{h}×{w}"))
                .unwrap_or_default()
        );
        let mut figure = captioned_grid(&items, cols, Some(&title));
        let one_bar = panes.first().filter(|_| shared).map(|first| {
            let quantity = if panes
                .iter()
                .all(|p| units(&p.caption) == units(&first.caption))
            {
                units(&first.caption)
            } else {
                "map value"
            };
            (
                first.range.0,
                first.range.1,
                format!("{quantity}, one scale for all panes"),
            )
        });
        if let Some((lo, hi, what)) = &one_bar {
            figure = with_colour_bar(&figure, cmap, *lo, *hi, what);
        }
        let mut files = vec![png.clone()];
        crate::export::all_or_nothing(|| {
            write_png(&png, &figure, &text, false)?;
            if self.settings.export_svg {
                let panes: Vec<crate::export::svg::PaneSvg> = plain
                    .iter()
                    .map(|(caption, img, bar)| crate::export::svg::PaneSvg {
                        caption,
                        img,
                        bar: bar.clone(),
                    })
                    .collect();
                let doc = crate::export::svg::panes_svg(
                    &panes,
                    cols,
                    cmap,
                    one_bar
                        .as_ref()
                        .map(|(lo, hi, what)| (*lo, *hi, what.as_str())),
                    &title,
                    &text,
                )
                .map_err(|e| {
                    crate::export::ExportError::Nothing(format!(
                        "cannot encode the SVG's maps: {e}"
                    ))
                })?;
                crate::export::tables::write_text(&svg, &doc, false)?;
                files.push(svg.clone());
            }
            Ok::<(), crate::export::ExportError>(())
        })
        .map_err(|e| e.to_string())?;
        Ok(files)
    }

    /// The Embeddings view's figures: the position-similarity overview, the chosen patch's similarity map with
    /// its colour bar, the patch-filter components and (BEiT, Swin) the current layer's relative bias.
    fn export_embeddings(&mut self) -> Result<Vec<PathBuf>, String> {
        let want = AnalysisRequest::Embeddings {
            input_grid: self.state.pos_input_grid,
        };
        let Some((
            AnalysisResult::Embeddings {
                pos,
                filters,
                rel_bias,
            },
            true,
        )) = self.state.result(&want)
        else {
            return Err("the embeddings are still being computed".into());
        };
        let cmap = self.settings.colormap;
        let model = self.state.model_name();
        // the model names these files (they do not depend on the image)
        let safe = crate::export::name_slug(&model);
        let stem = format!("{safe}_embeddings");
        let dir = PathBuf::from(&self.state.export_field);
        let [overview, one, one_svg, pca, bias] = free_names(
            &dir,
            &stem,
            [
                ".pos-sim.png",
                ".pos-sim-patch.png",
                ".pos-sim-patch.svg",
                ".patch-pca.png",
                ".rel-bias.png",
            ],
        );
        let text = |what: &str, more: Vec<(&str, String)>| -> Vec<(String, String)> {
            [
                ("vitscope.model", model.clone()),
                ("vitscope.method", what.to_string()),
            ]
            .into_iter()
            .chain(more)
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        };
        let mut files = Vec::new();
        if let Ok(pos) = pos {
            let (gh, gw) = (pos.grid_h, pos.grid_w);
            let grid = format!(
                "{gh}x{gw} ({})",
                if self.state.pos_input_grid {
                    "resized to the input"
                } else {
                    "as trained"
                }
            );
            write_png(
                &overview,
                &crate::render::figures::pos_sim_image(pos, cmap),
                &text("pos-sim", vec![("vitscope.grid", grid.clone())]),
                false,
            )
            .map_err(|e| e.to_string())?;
            files.push(overview);
            let (r, c) = self
                .state
                .pos_pick
                .filter(|&(r, c)| r < gh && c < gw)
                .unwrap_or((gh / 2, gw / 2));
            let map = pos.tile(r, c);
            let scale = (480 / gh.max(gw)).max(1);
            let big = crate::render::colorize(
                &crate::render::upsample(
                    &crate::grid::Grid {
                        h: map.h,
                        w: map.w,
                        data: map.data.iter().map(|v| (v + 1.0) / 2.0).collect(),
                    },
                    gh * scale,
                    gw * scale,
                    crate::render::Upsample::Nearest,
                ),
                cmap,
            );
            let what = "cosine similarity of position embeddings";
            let img = with_colour_bar(&big, cmap, -1.0, 1.0, what);
            let provenance = text(
                "pos-sim",
                vec![
                    ("vitscope.grid", grid),
                    ("vitscope.patch", format!("row {r}, col {c}")),
                ],
            );
            write_png(&one, &img, &provenance, false).map_err(|e| e.to_string())?;
            files.push(one);
            if self.settings.export_svg {
                let doc = crate::export::svg::map_svg(&big, cmap, (-1.0, 1.0), what, &provenance)
                    .map_err(|e| format!("cannot encode the SVG's map: {e}"))?;
                crate::export::tables::write_text(&one_svg, &doc, false)
                    .map_err(|e| e.to_string())?;
                files.push(one_svg);
            }
        }
        write_png(
            &pca,
            &crate::render::figures::patch_pca_image(filters),
            &text(
                "patch-pca",
                vec![("vitscope.components", filters.count.to_string())],
            ),
            false,
        )
        .map_err(|e| e.to_string())?;
        files.push(pca);
        if let Some(b) = rel_bias
            && let Some(l) = b
                .tables
                .len()
                .checked_sub(1)
                .map(|last| self.state.layer.min(last))
        {
            write_png(
                &bias,
                &crate::render::figures::rel_bias_image(&b.tables[l], cmap),
                &text("rel-bias", vec![("vitscope.layer", l.to_string())]),
                false,
            )
            .map_err(|e| e.to_string())?;
            files.push(bias);
        }
        Ok(files)
    }

    /// The Tokens view's prefix-mass plot (PNG) and table (CSV: layer, token, mass).
    pub(in crate::ui) fn export_prefix_mass(&mut self) -> Result<Vec<PathBuf>, String> {
        let Some((AnalysisResult::Tokens { norms, prefix_mass }, _)) =
            self.state.result(&AnalysisRequest::Tokens)
        else {
            return Err("the token statistics are still being computed".into());
        };
        let labels: Vec<String> = norms.layout.prefix.iter().map(|t| t.label()).collect();
        if labels.is_empty() {
            return Err("this model has no prefix tokens".into());
        }
        let dir = PathBuf::from(&self.state.export_field);
        let [png, csv, svg] = free_names(
            &dir,
            &format!("{}_prefix_mass", self.state.export_stem()),
            [".png", ".csv", ".svg"],
        );
        let plots = self.plot_files(png, svg);
        // apply() runs every export inside one all_or_nothing
        crate::export::tables::write_prefix_mass(
            &csv,
            &plots.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
            self.settings.plot_dpi,
            &labels,
            prefix_mass,
            &self.state.model_name(),
            false,
        )
        .map_err(|e| e.to_string())?;
        Ok(super::analysis::plot_then_table(plots, csv))
    }
}

/// A caption without its run time: `Rollout (8 ms)` → `Rollout`.
fn strip_time(caption: &str) -> &str {
    match caption.rfind(" (") {
        Some(i) if caption.ends_with(" ms)") => &caption[..i],
        _ => caption,
    }
}

/// What a pane's colours measure, from its caption (the method it shows).
fn units(caption: &str) -> &'static str {
    crate::export::maps::method_units(caption)
}

#[cfg(test)]
mod tests {
    #[test]
    fn captions_lose_their_run_time_and_name_their_units() {
        assert_eq!(super::strip_time("Rollout (8 ms)"), "Rollout");
        assert_eq!(
            super::strip_time("Attention L11 mean"),
            "Attention L11 mean"
        );
        assert!(super::units("Relevance (3 ms)").starts_with("relevance"));
        assert!(super::units("Attention L2 h1 · image x.png").starts_with("attention weight"));
    }
}
