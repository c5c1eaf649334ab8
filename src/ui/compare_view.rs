//! Compare: 2–4 synchronised panes side by side — layers, heads, methods, other images or other models —
//! sharing the query (click any pane; on another image it moves to the same place) and, optionally, one
//! colour scale.
use egui::vec2;

use std::sync::Arc;

use image::RgbImage;

use super::command::UiCommand;
use super::context::ViewCtx;
use super::state::ViewState;
use super::tiles::{colour_bar, query_tile};
use crate::analysis::{HeadSel, QueryRows};
use crate::grid::Grid;
use crate::jobs::{AnalysisRequest, AnalysisResult, PaneSource, QuerySpec, map_query};
use crate::methods::QueryMethod;
use crate::model::ModelSource;
use crate::model::source::find_resource;

/// What one pane shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pane {
    Attention {
        layer: usize,
        head: HeadSel,
    },
    /// An aggregate method of the Methods view.
    Method(QueryMethod),
}

impl Pane {
    pub fn label(&self) -> String {
        match self {
            Pane::Attention { layer, head } => format!("Attention L{layer} {}", head.label()),
            Pane::Method(m) => m.title().to_string(),
        }
    }
}

/// The Methods request the panes need, if any pane shows a method.
pub fn methods_request(state: &ViewState) -> Option<AnalysisRequest> {
    let s = &state;
    let any = s.compare.iter().any(|p| matches!(p, Pane::Method(_)));
    any.then(|| AnalysisRequest::Methods {
        opts: s.methods.opts,
        target: s.methods.target.clone(),
        flow: s.compare.contains(&Pane::Method(QueryMethod::Flow)),
    })
}

/// Where pane `i` takes its maps from. Methods always use the current image and model.
pub fn source(state: &ViewState, i: usize) -> PaneSource {
    match state.compare.get(i) {
        Some(Pane::Attention { .. }) => state.compare_sources.get(i).cloned().unwrap_or_default(),
        _ => PaneSource::Current,
    }
}

/// Everything the panes need from the worker: the methods, and one run per other image or model.
pub fn requests(state: &ViewState) -> Vec<AnalysisRequest> {
    let mut out: Vec<AnalysisRequest> = methods_request(state).into_iter().collect();
    for i in 0..state.compare.len() {
        let src = source(state, i);
        let req = AnalysisRequest::Other(src.clone());
        if src != PaneSource::Current && !out.contains(&req) {
            out.push(req);
        }
    }
    out
}

/// The sources a pane can switch to: the current ones, recent and sample images, recent models and the
/// built-in one. It touches the file system, so it runs only while a Source menu is open.
fn source_choices(
    settings: &crate::ui::settings::Settings,
    image_path: Option<&std::path::Path>,
    model: Option<&crate::engine::ModelInfo>,
) -> Vec<PaneSource> {
    let mut out = vec![PaneSource::Current];
    let samples = super::controls::SAMPLES
        .iter()
        .filter_map(|n| find_resource(&format!("assets/{n}")));
    for p in settings.recent_images.iter().cloned().chain(samples) {
        let same = image_path.is_some_and(|c| same_file(c, &p));
        let src = PaneSource::Image(p);
        if !same && !out.contains(&src) {
            out.push(src);
        }
    }
    let models = settings
        .recent_models
        .iter()
        .map(|p| ModelSource::Path(p.clone()))
        .chain([ModelSource::Default]);
    for m in models {
        let same = match (&m, model) {
            (ModelSource::Path(p), Some(info)) => {
                same_file(p, &info.path) || info.path.parent().is_some_and(|d| same_file(p, d))
            }
            (ModelSource::Default, Some(info)) => info.name.starts_with("default"),
            _ => false,
        };
        let src = PaneSource::Model(m);
        if !same && !out.contains(&src) {
            out.push(src);
        }
    }
    out
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// A pane that shows something the others do not: the mean of the latest layer not shown yet, else a head of
/// the last layer, else the last layer's mean.
fn fresh_pane(panes: &[Pane], rows: &QueryRows) -> Pane {
    let last = rows.layers.saturating_sub(1);
    let layers = (0..rows.layers).rev().map(|l| Pane::Attention {
        layer: l,
        head: HeadSel::Mean,
    });
    let heads = rows.head_sels(last).into_iter().map(|h| Pane::Attention {
        layer: last,
        head: h,
    });
    layers
        .chain(heads)
        .find(|p| !panes.contains(p))
        .unwrap_or(Pane::Attention {
            layer: last,
            head: HeadSel::Mean,
        })
}

/// A pane's pickers: what it shows (attention or a method), and for attention its layer and head.
fn pane_picker(ui: &mut egui::Ui, i: usize, pane: &mut Pane, rows: &QueryRows) {
    ui.horizontal(|ui| {
        let kind = match pane {
            Pane::Attention { .. } => "Attention".to_string(),
            Pane::Method(m) => m.title().to_string(),
        };
        egui::ComboBox::from_id_salt(("pane", i))
            .selected_text(kind)
            .width(130.0)
            .show_ui(ui, |ui| {
                let attention = matches!(pane, Pane::Attention { .. });
                if ui.selectable_label(attention, "Attention").clicked() && !attention {
                    *pane = Pane::Attention {
                        layer: rows.layers.saturating_sub(1),
                        head: HeadSel::Mean,
                    };
                }
                for m in QueryMethod::ALL {
                    ui.selectable_value(pane, Pane::Method(m), m.title());
                }
            })
            .response
            .on_hover_text("What this pane shows: one layer's attention, or an aggregate method (Methods view's parameters).")
            .widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::ComboBox, true, format!("Pane {}", i + 1))
            });
        if let Pane::Attention { layer, head } = pane {
            egui::ComboBox::from_id_salt(("layer", i))
                .selected_text(format!("L{layer}"))
                .width(48.0)
                .show_ui(ui, |ui| {
                    for l in 0..rows.layers {
                        ui.selectable_value(layer, l, format!("L{l}"));
                    }
                })
                .response
                .widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::ComboBox, true, format!("Layer {}", i + 1))
                });
            if !rows.has_head(*layer, *head) {
                *head = HeadSel::Mean;
            }
            egui::ComboBox::from_id_salt(("head", i))
                .selected_text(head.label())
                .width(56.0)
                .show_ui(ui, |ui| {
                    for h in rows.head_sels(*layer) {
                        ui.selectable_value(head, h, h.label());
                    }
                })
                .response
                .widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::ComboBox, true, format!("Head {}", i + 1))
                });
        }
    });
}

/// One pane's map, ready to draw.
pub struct PaneMap {
    pub label: String,
    pub grid: Option<Grid>,
    /// The rows' layout and query (the pane's own for another image or model).
    pub rows: Option<QueryRows>,
    /// Another image's photo (None: the current photo).
    pub photo: Option<Arc<RgbImage>>,
    /// Why the pane's method could not be computed (then there is no grid, and nothing is coming).
    pub refused: Option<String>,
}

/// What every pane shows now (a `None` grid is still being computed).
pub fn pane_maps(state: &ViewState) -> Vec<PaneMap> {
    let s = &state;
    let Some(rows) = &s.rows else {
        return Vec::new();
    };
    let methods = methods_request(state).and_then(|want| match s.result(&want) {
        Some((AnalysisResult::Methods(m, r), _)) => Some((m.clone(), r.clone())),
        _ => None,
    });
    let (methods, refusals) = match methods {
        Some((m, r)) => (Some(m), r),
        None => (None, Vec::new()),
    };
    s.compare
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let src = source(state, i);
            let mut label = p.label();
            let refused = match p {
                Pane::Method(name) => refusals
                    .iter()
                    .find(|r| r.name == *name)
                    .map(|r| r.reason.clone()),
                _ => None,
            };
            let (grid, own, photo) = match (p, &src) {
                (Pane::Attention { layer, head }, PaneSource::Current) => (
                    Some({
                        let l = (*layer).min(rows.layers - 1);
                        let head = if rows.has_head(l, *head) {
                            *head
                        } else {
                            HeadSel::Mean
                        };
                        rows.patch_map(l, head)
                    }),
                    Some(rows.clone()),
                    None,
                ),
                (Pane::Attention { layer, head }, other) => {
                    label = format!("{label} · {}", other.label());
                    match s.result(&AnalysisRequest::Other(other.clone())) {
                        Some((AnalysisResult::Other { rows: o, photo, .. }, _)) => {
                            let l = (*layer).min(o.layers - 1);
                            let head = if o.has_head(l, *head) {
                                *head
                            } else {
                                HeadSel::Mean
                            };
                            (
                                Some(o.patch_map(l, head)),
                                Some(o.clone()),
                                matches!(other, PaneSource::Image(_)).then(|| photo.clone()),
                            )
                        }
                        _ => (None, None, None),
                    }
                }
                (Pane::Method(name), _) => (
                    methods
                        .as_ref()
                        .and_then(|m| m.iter().find(|m| m.name == *name))
                        .map(|m| m.map.patch_grid()),
                    Some(rows.clone()),
                    None,
                ),
            };
            PaneMap {
                label,
                grid,
                rows: own,
                photo,
                refused,
            }
        })
        .collect()
}

pub fn ui(app: &mut ViewCtx, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    let Some(rows) = app.state.rows.clone() else {
        ui.label(
            app.state
                .loading()
                .unwrap_or_else(|| "Load a model and an image.".into()),
        );
        return;
    };
    ui.horizontal(|ui| {
        ui.label("Panes");
        for n in 2..=4 {
            if ui
                .selectable_label(app.state.compare.len() == n, n.to_string())
                .clicked()
            {
                // a new pane shows something the others do not
                app.state.compare.truncate(n);
                while app.state.compare.len() < n {
                    let next = fresh_pane(&app.state.compare, &rows);
                    app.state.compare.push(next);
                }
            }
        }
        ui.checkbox(&mut app.state.compare_shared_scale, "One colour scale")
            .on_hover_text(
                "All panes share one range (the union of theirs); otherwise each pane has its own.",
            );
    });
    let n = app.state.compare.len();
    app.state.compare_sources.resize(n, PaneSource::Current);
    ui.horizontal_wrapped(|ui| {
        let (settings, s) = (&app.settings, &mut app.state);
        let (image_path, model) = (s.image_path.as_deref(), s.model.as_ref());
        for (i, (pane, src)) in s.compare.iter_mut().zip(&mut s.compare_sources).enumerate() {
            ui.vertical(|ui| {
                pane_picker(ui, i, pane, &rows);
                let enabled = matches!(pane, Pane::Attention { .. });
                ui.add_enabled_ui(enabled, |ui| {
                    egui::ComboBox::from_id_salt(("source", i))
                        .selected_text(src.label())
                        .show_ui(ui, |ui| {
                            for c in source_choices(settings, image_path, model) {
                                let label = c.label();
                                ui.selectable_value(src, c, label);
                            }
                        })
                        .response
                        .on_hover_text(
                            "Another image through this model, or this image through another model \
                             (recent files, samples, the built-in model); the query follows by position. \
                             Methods use the current image and model.",
                        )
                        .widget_info(|| {
                            egui::WidgetInfo::labeled(
                                egui::Role::ComboBox,
                                true,
                                format!("Source {}", i + 1),
                            )
                        });
                });
            });
        }
    });
    let maps = pane_maps(app.state);
    let shared = app.state.compare_shared_scale.then(|| {
        maps.iter()
            .filter_map(|m| m.grid.as_ref())
            .fold((f32::MAX, f32::MIN), |(lo, hi), g| {
                let (a, b) = g.min_max();
                (lo.min(a), hi.max(b))
            })
    });
    let Some((ih, iw)) = app.photo_size() else {
        return;
    };
    let cols = if n == 4 { 2 } else { n };
    let avail_w = ui.clip_rect().right() - ui.cursor().left() - 8.0 * cols as f32 - 16.0;
    let avail_h = ui.clip_rect().bottom() - ui.cursor().top() - 40.0 * (n / cols) as f32;
    let w = (avail_w / cols as f32)
        .min(avail_h / (n / cols) as f32 * iw / ih)
        .max(120.0);
    let ctx = ui.ctx().clone();
    let (cmap, opacity) = (app.settings.colormap, app.settings.opacity);
    let epoch = app.state.analysis_epoch;
    for (row, chunk) in maps.chunks(cols).enumerate() {
        ui.horizontal(|ui| {
            for (k, pm) in chunk.iter().enumerate() {
                let i = row * cols + k;
                ui.vertical(|ui| {
                    let (Some(grid), Some(own)) = (&pm.grid, &pm.rows) else {
                        ui.allocate_ui(vec2(w, w * ih / iw), |ui| match &pm.refused {
                            Some(why) => {
                                ui.strong(format!("{} not computed", pm.label));
                                ui.add(
                                    egui::Label::new(
                                        egui::RichText::new(why).color(ui.visuals().warn_fg_color),
                                    )
                                    .wrap(),
                                );
                            }
                            None => {
                                super::tiles::spinner(ui);
                                ui.label(format!("{}: computing…", pm.label));
                            }
                        });
                        return;
                    };
                    let (photo, size) = match &pm.photo {
                        Some(p) => {
                            // Fit into the box the current photo's panes take.
                            let (pw, ph) = (p.width().max(1) as f32, p.height().max(1) as f32);
                            let scale = (w / pw).min(w * ih / iw / ph);
                            let size = vec2(pw * scale, ph * scale);
                            let tex = app.texture(
                                &ctx,
                                &format!("compare-photo-{i}"),
                                (&pm.label, p.dimensions(), Arc::as_ptr(p) as usize),
                                || p.as_ref().clone(),
                                egui::TextureOptions::LINEAR,
                            );
                            (Some(tex), size)
                        }
                        None => (app.photo_texture(&ctx), vec2(w, w * ih / iw)),
                    };
                    let range = shared.unwrap_or_else(|| grid.min_max());
                    let tex = app.heat_texture(
                        &ctx,
                        &format!("compare-{i}"),
                        (epoch, &pm.label),
                        grid,
                        range,
                    );
                    let layout = &own.layout;
                    let shown_query = match layout.patch_of_token(own.query) {
                        _ if own.kind == crate::analysis::RowsKind::Probe => QuerySpec::Probe,
                        Some((r, c)) => QuerySpec::Patch(r, c),
                        None => QuerySpec::Prefix(own.query),
                    };
                    let mut local = Vec::new();
                    let r = query_tile(
                        ui,
                        photo,
                        tex,
                        opacity,
                        size,
                        &pm.label,
                        (layout.grid_h, layout.grid_w),
                        shown_query,
                        &mut local,
                    );
                    if let Some(text) = super::tiles::readout(&r, grid) {
                        super::tiles::tooltip_at_pointer(&r, text);
                    }
                    // A click on another image's grid moves the query to the same place in this one.
                    for c in local {
                        cmds.push(match c {
                            UiCommand::SetQuery(q) => {
                                let t = map_query(q, layout, &rows.layout);
                                UiCommand::SetQuery(match rows.layout.patch_of_token(t) {
                                    Some((r, c)) => QuerySpec::Patch(r, c),
                                    None => q,
                                })
                            }
                            c => c,
                        });
                    }
                    colour_bar(
                        ui,
                        cmap,
                        range.0,
                        range.1,
                        if shared.is_some() { "shared" } else { "" },
                    );
                });
            }
        });
    }
}
