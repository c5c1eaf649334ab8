//! Embeddings: position-embedding similarity tiles and the principal components of the patch-embedding
//! filters (the ViT paper's Fig. 7 left and centre).
use egui::TextureOptions;

use super::command::UiCommand;
use super::context::ViewCtx;
use crate::export::methods::{patch_pca_image, pos_sim_image};
use crate::jobs::{AnalysisRequest, AnalysisResult};

pub fn ui(app: &mut ViewCtx, ui: &mut egui::Ui, _cmds: &mut Vec<UiCommand>) {
    ui.horizontal(|ui| {
        ui.label("Position grid:");
        ui.radio_value(&mut app.state.pos_input_grid, false, "as trained");
        ui.radio_value(&mut app.state.pos_input_grid, true, "resized to the input")
            .on_hover_text(
                "The embeddings exactly as the forward pass resizes them for this input.",
            );
    });
    let want = AnalysisRequest::Embeddings {
        input_grid: app.state.pos_input_grid,
    };
    let Some((
        AnalysisResult::Embeddings {
            pos,
            filters,
            rel_bias,
        },
        fresh,
    )) = app.state.result(&want)
    else {
        super::tiles::spinner(ui);
        return;
    };
    let (pos, filters, rel_bias) = (pos.clone(), filters.clone(), rel_bias.clone());
    if !fresh {
        super::tiles::spinner(ui);
    }
    let ctx = ui.ctx().clone();
    let cmap = app.settings.colormap;
    let sim = match &pos {
        Ok(pos) => Some(app.texture(
            &ctx,
            "pos-sim",
            (
                app.state.analysis_epoch,
                pos.grid_h,
                pos.grid_w,
                cmap.name(),
            ),
            || pos_sim_image(pos, cmap),
            TextureOptions::NEAREST,
        )),
        Err(_) => None,
    };
    // Swin's and BEiT's learned locality: the bias of the Attention view's layer, a tile per head.
    let layer = app.state.layer;
    let bias = rel_bias.as_ref().and_then(|b| {
        let l = layer.min(b.tables.len().checked_sub(1)?);
        let heads = b.tables[l].clone();
        Some((
            l,
            heads.len(),
            app.texture(
                &ctx,
                "rel-bias",
                (app.state.analysis_epoch, l, cmap.name()),
                || crate::render::figures::rel_bias_image(&heads, cmap),
                TextureOptions::NEAREST,
            ),
        ))
    });
    let pca = app.texture(
        &ctx,
        "patch-pca",
        (app.state.analysis_epoch, filters.count),
        || patch_pca_image(&filters),
        TextureOptions::NEAREST,
    );
    let half = (ui.available_width() / 2.0 - 12.0).max(150.0);
    if let (Ok(pos), Some(sim)) = (&pos, sim) {
        similarity(app, ui, pos, sim, half);
        ui.separator();
    }
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            if let Err(why) = &pos {
                ui.label("Position-embedding similarity");
                ui.small(why.as_str());
            }
            if let Some((l, heads, tex)) = bias {
                ui.add_space(8.0);
                ui.label(format!("Relative position bias, layer {l}: {heads} heads"))
                    .on_hover_text("The learned bias added to the attention scores for a key at each 2-D offset from the query; the centre of a tile is offset (0, 0); each tile min–max scaled. The layer is the Attention view's.");
                let rows = heads.div_ceil(8) as f32;
                let cols = heads.min(8) as f32;
                let w = half.min(64.0 * cols * 1.5);
                ui.add(egui::Image::new((tex, egui::vec2(w, w * rows / cols))))
                    .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Relative position bias"));
            }
        });
        ui.vertical(|ui| {
            ui.label(format!("Patch-embedding filters: top {} principal components", filters.count))
                .on_hover_text("Filters as vectors of length 3·P², centred; components min–max scaled, shown as P×P RGB; first = largest variance.");
            let rows = filters.count.div_ceil(7) as f32;
            ui.add(egui::Image::new((pca, egui::vec2(half, half * rows / 7.0))))
                .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Patch filters"));
            let ev: Vec<String> = filters.explained.iter().take(6).map(|e| format!("{:.1}%", e * 100.0)).collect();
            ui.small(format!("variance explained: {} …", ev.join(", ")));
        });
    });
}

/// The position-embedding similarity: every patch's tile as an overview (hover or click a tile), and the
/// chosen patch's map large over the grid, with its colour bar.
fn similarity(
    app: &mut ViewCtx,
    ui: &mut egui::Ui,
    pos: &crate::analysis::embeddings::PosSimilarity,
    overview: egui::TextureId,
    half: f32,
) {
    let (gh, gw) = (pos.grid_h, pos.grid_w);
    let aspect = gh as f32 / gw as f32;
    let w = half.min(((ui.available_height() - 60.0) * 0.55) / aspect.max(0.01));
    let mut hovered = None;
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.label(format!("Position-embedding similarity, {gh}×{gw} grid"))
                .on_hover_text("Tile (r, c): cosine similarity of patch (r, c)'s position embedding to every patch's; colour scale −1…1. Point at a tile to see it large; click to keep it.");
            let r = ui.add(
                egui::Image::new((overview, egui::vec2(w, w * aspect))).sense(egui::Sense::click()),
            );
            r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Position similarity"));
            if let Some(p) = r.hover_pos() {
                hovered = Some(super::attention_view::patch_at(r.rect, p, gh, gw));
            }
            if r.clicked() {
                app.state.pos_pick = hovered;
            }
        });
        let (pr, pc) = hovered
            .or(app.state.pos_pick)
            .filter(|&(r, c)| r < gh && c < gw)
            .unwrap_or((gh / 2, gw / 2));
        ui.vertical(|ui| {
            ui.label(format!("Patch row {pr}, col {pc}: its similarity to every position"));
            let grid = pos.tile(pr, pc);
            let ctx = ui.ctx().clone();
            let tex = app.heat_texture(
                &ctx,
                "pos-sim-large",
                (app.state.analysis_epoch, gh, gw, pr, pc),
                &grid,
                (-1.0, 1.0),
            );
            let r = ui.add(
                egui::Image::new((tex, egui::vec2(w, w * aspect))).sense(egui::Sense::hover()),
            );
            r.widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::Image, true, "Position similarity of one patch")
            });
            super::tiles::outline_cell(&ui.painter_at(r.rect), r.rect, gh, gw, (pr, pc), egui::Color32::RED);
            if let Some(text) = super::tiles::readout(&r, &grid) {
                super::tiles::tooltip_at_pointer(&r, text);
            }
            super::tiles::colour_bar(ui, app.settings.colormap, -1.0, 1.0, "cosine similarity");
        });
    });
}
