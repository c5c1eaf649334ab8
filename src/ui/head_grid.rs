//! The right panel: every head of the current layer (and their mean) as a thumbnail over the photo;
//! click one to select it.
use egui::{Color32, Rect, Sense, Stroke, pos2, vec2};

use super::command::UiCommand;
use super::context::ViewCtx;
use super::textures::{self, Cached};
use crate::analysis::HeadSel;

pub fn ui(app: &mut ViewCtx, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    let Some(rows) = &app.state.rows else {
        ui.label("Heads appear here.");
        return;
    };
    ui.heading(format!("Layer {} heads", app.state.layer));
    ui.small("Click a head to show it large.");
    let ctx = ui.ctx().clone();
    let heads: Vec<HeadSel> = rows.head_sels(app.state.layer).collect();
    app.tex.thumbs.resize_with(heads.len(), Cached::default);
    let ranges: Vec<(f32, f32)> = heads
        .iter()
        .map(|h| app.map_range(app.state.layer, *h).unwrap_or((0.0, 0.0)))
        .collect();
    let aspect = rows.layout.grid_h as f32 / rows.layout.grid_w as f32;
    let photo = app.photo_tex_id();
    let (set, s) = (&app.settings, &app.state);
    let uv = Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0));
    let thumbs = &mut app.tex.thumbs;
    // Two columns that split the panel's own width, so the content never widens the panel.
    for pair in heads.chunks(2).enumerate() {
        let (row, pair) = pair;
        ui.columns(2, |cols| {
            for (k, &h) in pair.iter().enumerate() {
                let i = row * 2 + k;
                let ui = &mut cols[k];
                let range = ranges[i];
                let key = (
                    s.rows_generation,
                    s.layer,
                    h,
                    set.colormap,
                    set.smooth,
                    (range.0.to_bits(), range.1.to_bits()),
                );
                let map = rows.patch_map(s.layer, h);
                let tex = thumbs[i]
                    .get(key, || {
                        textures::heatmap(
                            &ctx,
                            &format!("thumb-{i}"),
                            &map,
                            range,
                            set.colormap,
                            set.smooth,
                        )
                    })
                    .id();
                let w = ui.available_width();
                let (rect, response) = ui.allocate_exact_size(vec2(w, w * aspect), Sense::click());
                response
                    .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, h.label()));
                let painter = ui.painter_at(rect);
                if let Some(photo) = photo {
                    painter.image(photo, rect, uv, Color32::WHITE);
                }
                painter.image(
                    tex,
                    rect,
                    uv,
                    Color32::from_white_alpha((set.opacity * 255.0).round() as u8),
                );
                let selected = s.head == h;
                let stroke = if selected {
                    Stroke::new(3.0, ui.visuals().selection.bg_fill)
                } else if response.hovered() {
                    Stroke::new(1.0, Color32::WHITE)
                } else {
                    Stroke::NONE
                };
                painter.rect_stroke(rect, 2.0, stroke, egui::StrokeKind::Inside);
                // The caption is painted, not a widget: the thumbnail itself carries the accessible name.
                let font = egui::FontId::proportional(if selected { 15.0 } else { 13.0 });
                let galley = painter.layout_no_wrap(h.label(), font, Color32::WHITE);
                let bg =
                    Rect::from_min_size(rect.min + vec2(3.0, 3.0), galley.size() + vec2(6.0, 2.0));
                painter.rect_filled(bg, 3.0, Color32::from_black_alpha(170));
                painter.galley(bg.min + vec2(3.0, 1.0), galley, Color32::WHITE);
                if response.clicked() {
                    cmds.push(UiCommand::SetHead(h));
                }
            }
        });
        ui.add_space(4.0);
    }
}
