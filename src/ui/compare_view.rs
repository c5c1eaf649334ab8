//! Compare: 2–4 synchronised panes side by side — layers, heads or methods — sharing the query (click any
//! pane) and, optionally, one colour scale.
use egui::vec2;

use super::app::{App, UiCommand};
use super::tiles::{colour_bar, query_tile};
use crate::analysis::HeadSel;
use crate::grid::Grid;
use crate::jobs::{AnalysisRequest, AnalysisResult};

/// What one pane shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pane {
    Attention {
        layer: usize,
        head: HeadSel,
    },
    /// An aggregate method of the Methods view, by name ("Rollout", "Flow", "Gradient rollout", "Relevance").
    Method(&'static str),
}

impl Pane {
    pub fn label(&self) -> String {
        match self {
            Pane::Attention { layer, head } => format!("Attention L{layer} {}", head.label()),
            Pane::Method(m) => (*m).to_string(),
        }
    }
}

pub const METHODS: [&str; 4] = ["Rollout", "Flow", "Gradient rollout", "Relevance"];

/// The Methods request the panes need, if any pane shows a method.
pub fn methods_request(app: &App) -> Option<AnalysisRequest> {
    let s = &app.state;
    let any = s.compare.iter().any(|p| matches!(p, Pane::Method(_)));
    any.then(|| AnalysisRequest::Methods {
        opts: s.methods.opts,
        target: s.methods.target.clone(),
        flow: s.compare.contains(&Pane::Method("Flow")),
    })
}

pub fn ui(app: &mut App, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    let Some(rows) = app.state.rows.clone() else {
        ui.label("Load a model and an image.");
        return;
    };
    ui.horizontal(|ui| {
        ui.label("Panes");
        for n in 2..=4 {
            if ui
                .selectable_label(app.state.compare.len() == n, n.to_string())
                .clicked()
            {
                let last = *app.state.compare.last().expect("at least two panes");
                app.state.compare.resize(n, last);
            }
        }
        ui.checkbox(&mut app.state.compare_shared_scale, "One colour scale")
            .on_hover_text(
                "All panes share one range (the union of theirs); otherwise each pane has its own.",
            );
    });
    ui.horizontal_wrapped(|ui| {
        for (i, pane) in app.state.compare.iter_mut().enumerate() {
            egui::ComboBox::from_id_salt(("pane", i))
                .selected_text(pane.label())
                .show_ui(ui, |ui| {
                    for l in 0..rows.layers {
                        for h in
                            std::iter::once(HeadSel::Mean).chain((0..rows.heads).map(HeadSel::Head))
                        {
                            let p = Pane::Attention { layer: l, head: h };
                            ui.selectable_value(pane, p, p.label());
                        }
                    }
                    for m in METHODS {
                        ui.selectable_value(pane, Pane::Method(m), m);
                    }
                })
                .response
                .widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::ComboBox, true, format!("Pane {}", i + 1))
                });
        }
    });
    let methods = methods_request(app).and_then(|want| match app.state.result(&want) {
        Some((AnalysisResult::Methods(m), _)) => Some(m.clone()),
        _ => None,
    });
    let grids: Vec<(String, Option<Grid>)> = app
        .state
        .compare
        .iter()
        .map(|p| {
            let g = match p {
                Pane::Attention { layer, head } => {
                    Some(rows.patch_map((*layer).min(rows.layers - 1), *head))
                }
                Pane::Method(name) => methods
                    .as_ref()
                    .and_then(|m| m.iter().find(|m| m.name == *name))
                    .map(|m| m.map.patch_grid()),
            };
            (p.label(), g)
        })
        .collect();
    let shared = app.state.compare_shared_scale.then(|| {
        grids
            .iter()
            .filter_map(|(_, g)| g.as_ref())
            .fold((f32::MAX, f32::MIN), |(lo, hi), g| {
                let (a, b) = g.min_max();
                (lo.min(a), hi.max(b))
            })
    });
    let Some((ih, iw)) = app.photo_size() else {
        return;
    };
    let n = grids.len();
    let cols = if n == 4 { 2 } else { n };
    let avail_w = ui.clip_rect().right() - ui.cursor().left() - 8.0 * cols as f32 - 16.0;
    let avail_h = ui.clip_rect().bottom() - ui.cursor().top() - 40.0 * (n / cols) as f32;
    let w = (avail_w / cols as f32)
        .min(avail_h / (n / cols) as f32 * iw / ih)
        .max(120.0);
    let size = vec2(w, w * ih / iw);
    let ctx = ui.ctx().clone();
    let photo = app.photo_texture(&ctx);
    let (cmap, opacity) = (app.settings.colormap, app.settings.opacity);
    let (gh, gw) = (rows.layout.grid_h, rows.layout.grid_w);
    let query = app.state.query;
    let epoch = app.state.analysis_epoch;
    for chunk in grids.chunks(cols).enumerate() {
        ui.horizontal(|ui| {
            for (k, (label, grid)) in chunk.1.iter().enumerate() {
                let i = chunk.0 * cols + k;
                ui.vertical(|ui| {
                    let Some(grid) = grid else {
                        ui.allocate_ui(size, |ui| {
                            ui.spinner();
                            ui.label(format!("{label}: computing…"));
                        });
                        return;
                    };
                    let range = shared.unwrap_or_else(|| grid.min_max());
                    let tex = app.heat_texture(
                        &ctx,
                        &format!("compare-{i}"),
                        (epoch, label),
                        grid,
                        range,
                    );
                    query_tile(ui, photo, tex, opacity, size, label, (gh, gw), query, cmds);
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
