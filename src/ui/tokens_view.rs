//! Tokens: the norm of every patch token after the selected layer as a map over the photo, with high-norm
//! outliers outlined (the register/artifact phenomenon), and the attention mass patch queries give each
//! prefix token per layer.
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::command::UiCommand;
use super::context::ViewCtx;
use super::tiles::{colour_bar, map_tile, outline_cell};
use crate::jobs::{AnalysisRequest, AnalysisResult};
use crate::render::category;

pub fn ui(app: &mut ViewCtx, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    let Some((AnalysisResult::Tokens { norms, prefix_mass }, _)) =
        app.state.result(&AnalysisRequest::Tokens)
    else {
        super::tiles::spinner(ui);
        return;
    };
    let (norms, prefix_mass) = (norms.clone(), prefix_mass.clone());
    let layer = app.state.layer.min(norms.layers - 1);
    ui.horizontal(|ui| {
        if ui
            .button("Prev layer")
            .on_hover_text("The previous layer (Left key).")
            .clicked()
        {
            cmds.push(UiCommand::StepLayer(-1));
        }
        ui.label(format!("Token norms after layer {layer}"));
        if ui
            .button("Next layer")
            .on_hover_text("The next layer (Right key).")
            .clicked()
        {
            cmds.push(UiCommand::StepLayer(1));
        }
    });
    let grid = norms.patch_grid(layer);
    let outliers: Vec<String> = norms
        .outliers
        .iter()
        .filter(|(l, _)| *l == layer)
        .map(|(_, t)| norms.layout.token_label(*t))
        .collect();
    ui.small(format!(
        "Outliers (norm > max(median + 6·1.4826·MAD, 2·median)): {}",
        if outliers.is_empty() {
            "none".to_string()
        } else {
            outliers.join(", ")
        }
    ));
    let flagged: Vec<usize> = norms
        .outliers
        .iter()
        .filter(|(l, _)| *l == layer)
        .map(|(_, t)| *t)
        .collect();
    if !flagged.is_empty()
        && ui
            .button(format!("Drop these {} from the keys", flagged.len()))
            .on_hover_text("An intervention: no token attends to them in any layer; the model re-runs and the Attention view shows what changed.")
            .clicked()
    {
        let mut iv = app.state.intervention.clone();
        iv.dropped.extend(flagged);
        cmds.push(UiCommand::SetIntervention(iv));
    }
    let prefix: Vec<String> = norms
        .layout
        .prefix
        .iter()
        .zip(norms.layer(layer))
        .map(|(t, n)| format!("{} {n:.1}", t.label()))
        .collect();
    if !prefix.is_empty() {
        ui.small(format!("Prefix-token norms: {}", prefix.join(", ")));
    }
    let Some((ih, iw)) = app.photo_size() else {
        return;
    };
    let ctx = ui.ctx().clone();
    let cmap = app.settings.colormap;
    let heat = app.heat_texture(
        &ctx,
        "token-norm",
        (app.state.analysis_epoch, layer),
        &grid,
        grid.min_max(),
    );
    let w = (ui.available_width() * 0.55)
        .min((ui.available_height() - 60.0) * iw / ih)
        .max(120.0);
    let photo = app.photo_texture(&ctx);
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            let r = map_tile(
                ui,
                photo,
                heat,
                app.settings.opacity,
                egui::vec2(w, w * ih / iw),
                "Token norms",
            );
            let painter = ui.painter_at(r.rect);
            for (_, t) in norms.outliers.iter().filter(|(l, _)| *l == layer) {
                if let Some(rc) = norms.layout.patch_of_token(*t) {
                    outline_cell(&painter, r.rect, grid.h, grid.w, rc, egui::Color32::RED);
                }
            }
            let (lo, hi) = grid.min_max();
            colour_bar(ui, cmap, lo, hi, "norm");
        });
        if !norms.layout.prefix.is_empty() {
            let rest = (ui.available_width() - 56.0).max(200.0);
            ui.vertical(|ui| {
                ui.set_max_width(rest);
                ui.add(
                    egui::Label::new(
                        "Attention to prefix tokens (mean over heads and patch queries)",
                    )
                    .wrap(),
                );
                if ui.button("Export prefix plot + CSV").clicked() {
                    cmds.push(UiCommand::ExportPrefixMass);
                }
                Plot::new("prefix-mass")
                    .width(rest)
                    .height((w * ih / iw).max(160.0))
                    .legend(Legend::default())
                    .x_axis_label("layer")
                    .y_axis_label("mass")
                    .allow_scroll(false)
                    .show(ui, |p| {
                        for (k, t) in norms.layout.prefix.iter().enumerate() {
                            let pts: Vec<[f64; 2]> = prefix_mass
                                .iter()
                                .enumerate()
                                .map(|(l, m)| [l as f64, m[k] as f64])
                                .collect();
                            let [r, g, b] = category(k);
                            p.line(
                                Line::new(t.label(), PlotPoints::from(pts))
                                    .color(egui::Color32::from_rgb(r, g, b)),
                            );
                        }
                    });
            });
        }
    });
}
