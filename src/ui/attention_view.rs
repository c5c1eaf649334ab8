//! The central view: the photo with the selected attention map over it; a click picks the query patch.
use egui::{Color32, Rect, Sense, Stroke, TextureOptions, pos2, vec2};

use super::command::UiCommand;
use super::context::ViewCtx;
use super::textures;
use super::tiles::colour_bar;
use crate::analysis::tokens::smallest_set_holding;
use crate::jobs::QuerySpec;

pub fn ui(app: &mut ViewCtx, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    let Some(photo) = app.state.image.clone() else {
        let text = app
            .state
            .loading()
            .unwrap_or_else(|| "Open an image (button, path field, or drop a file here).".into());
        ui.centered_and_justified(|ui| ui.label(text));
        return;
    };
    let ctx = ui.ctx().clone();
    let generation = app.tex.photo_generation;
    let photo_tex = app
        .tex
        .photo
        .get(generation, || {
            textures::from_rgb(&ctx, "photo", &photo, TextureOptions::LINEAR)
        })
        .id();
    super::intervene::toolbar(app, ui, cmds);
    let (iw, ih) = (photo.width() as f32, photo.height() as f32);
    let mut avail = ui.available_size();
    avail.y -= 24.0; // the colour bar
    if app.state.change.is_some() {
        avail.y -= super::intervene::PANEL_HEIGHT;
    }
    let scale = (avail.x / iw).min(avail.y / ih).max(0.01);
    // drags paint occlusions in paint mode, else they pan a zoomed map
    let (rect, response) =
        ui.allocate_exact_size(vec2(iw * scale, ih * scale), Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Attention map"));
    let uv = Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0));
    let painter = ui.painter_at(rect);
    // wheel zoom (about the pointer) and drag pan: everything below is drawn on the whole image's rect at
    // this zoom, clipped to the widget
    let rect = zoomed(app, ui, &response, rect);
    painter.image(photo_tex, rect, uv, Color32::WHITE);
    let s = &app.state;
    let Some(rows) = &s.rows else { return };
    let set = &app.settings;
    let Some(range) = app.map_range(s.layer, s.head) else {
        return;
    };
    let key = (
        s.rows_generation,
        s.layer,
        s.head,
        set.colormap,
        set.smooth,
        (range.0.to_bits(), range.1.to_bits()),
    );
    let Some(map) = app.shown_map() else { return };
    let heat = app
        .tex
        .heat
        .get(key, || {
            textures::heatmap(&ctx, "heatmap", &map, range, set.colormap, set.smooth)
        })
        .id();
    painter.image(
        heat,
        rect,
        uv,
        Color32::from_white_alpha((set.opacity * 255.0).round() as u8),
    );
    app.tex.map_frames += 1;
    if app.tex.map_frames == 1 {
        ctx.request_repaint(); // the next frame knows this one is on screen
    }

    let (gh, gw) = (rows.layout.grid_h, rows.layout.grid_w);
    let cell = vec2(rect.width() / gw as f32, rect.height() / gh as f32);
    let outline = |r: usize, c: usize, stroke: Stroke| {
        let min = rect.min + vec2(c as f32 * cell.x, r as f32 * cell.y);
        painter.rect_stroke(
            Rect::from_min_size(min, cell),
            0.0,
            stroke,
            egui::StrokeKind::Middle,
        );
    };
    if set.show_grid {
        let stroke = Stroke::new(0.5, Color32::from_white_alpha(90));
        for r in 1..gh {
            let y = rect.min.y + r as f32 * cell.y;
            painter.hline(rect.x_range(), y, stroke);
        }
        for c in 1..gw {
            let x = rect.min.x + c as f32 * cell.x;
            painter.vline(x, rect.y_range(), stroke);
        }
    }
    // Swin: the windows of the shown block, on its stage's grid (a stage cell covers several stem cells).
    if let Some(meta) = rows.windows.get(s.layer) {
        let f = (meta.cell_px / rows.layout.patch_size.max(1)).max(1) as f32;
        let stroke = Stroke::new(1.0, Color32::from_white_alpha(150));
        for r in meta.window_starts(0).into_iter().filter(|&r| r > 0) {
            painter.hline(rect.x_range(), rect.min.y + r as f32 * f * cell.y, stroke);
        }
        for c in meta.window_starts(1).into_iter().filter(|&c| c > 0) {
            painter.vline(rect.min.x + c as f32 * f * cell.x, rect.y_range(), stroke);
        }
    }
    if set.show_mask {
        // The smallest set of patches holding τ of the shown map (DINO's mask for a CLS query).
        let (mask, _) = smallest_set_holding(&map.data, set.mask_tau as f64);
        let on = |r: i64, c: i64| {
            r >= 0
                && c >= 0
                && (r as usize) < gh
                && (c as usize) < gw
                && mask[r as usize * gw + c as usize]
        };
        let stroke = Stroke::new(2.0, Color32::WHITE);
        for r in 0..gh as i64 {
            for c in 0..gw as i64 {
                if !on(r, c) {
                    continue;
                }
                let min = rect.min + vec2(c as f32 * cell.x, r as f32 * cell.y);
                let max = min + cell;
                if !on(r - 1, c) {
                    painter.hline(min.x..=max.x, min.y, stroke);
                }
                if !on(r + 1, c) {
                    painter.hline(min.x..=max.x, max.y, stroke);
                }
                if !on(r, c - 1) {
                    painter.vline(min.x, min.y..=max.y, stroke);
                }
                if !on(r, c + 1) {
                    painter.vline(max.x, min.y..=max.y, stroke);
                }
            }
        }
    }
    super::intervene::draw_occluded(&painter, rect, gh, gw, &s.intervention);
    if let QuerySpec::Patch(r, c) = s.query {
        outline(r, c, Stroke::new(2.0, Color32::RED));
    }
    if let Some(text) = response
        .hover_pos()
        .and_then(|p| super::tiles::readout_at(rect, p, &map))
    {
        super::tiles::tooltip_at_pointer(&response, text);
    }
    if let Some(pos) = response.hover_pos() {
        let (r, c) = patch_at(rect, pos, gh, gw);
        if s.paint {
            for k in super::intervene::brush(r, c, s.brush, gh, gw) {
                outline(k / gw, k % gw, Stroke::new(1.0, Color32::YELLOW));
            }
        } else {
            outline(r, c, Stroke::new(1.0, Color32::WHITE));
        }
    }
    let what = match (set.normalization, set.clip_percentile) {
        (n, p) if p > 0.0 => format!("{} scale, {p}% clipped at each end", n.label()),
        (n, _) => format!("{} scale (min to max)", n.label()),
    };
    let (paint, size) = (s.paint, s.brush);
    colour_bar(ui, set.colormap, range.0, range.1, &what);
    if app.state.zoom > 1.0 {
        ui.small(format!(
            "zoom {:.1}× · wheel to zoom, drag to pan, double-click to fit",
            app.state.zoom
        ));
    }
    if paint {
        paint_occlusion(app, &response, rect, (gh, gw), size, cmds);
    } else if response.clicked()
        && let Some(pos) = response.interact_pointer_pos()
    {
        let (r, c) = patch_at(rect, pos, gh, gw);
        cmds.push(UiCommand::SetQuery(QuerySpec::Patch(r, c)));
    }
    super::intervene::what_changed(app, ui);
}

/// The whole image's rect on screen at the view's zoom and pan (`widget` itself at zoom 1): a wheel over the
/// map zooms about the pointer (1× to 16×), a drag pans (not while painting occlusions), a double click fits.
fn zoomed(app: &mut ViewCtx, ui: &egui::Ui, response: &egui::Response, widget: Rect) -> Rect {
    let s = &mut app.state;
    s.zoom = s.zoom.clamp(1.0, 16.0);
    if response.double_clicked() {
        s.zoom = 1.0;
        s.pan = egui::Vec2::ZERO;
    }
    if let Some(p) = response.hover_pos() {
        let wheel = ui.input(|i| i.smooth_scroll_delta.y);
        if wheel != 0.0 {
            // keep the image point under the pointer where it is
            let before = widget.min - s.pan * widget.size() * s.zoom;
            let at = (p - before) / (widget.size() * s.zoom);
            s.zoom = (s.zoom * (wheel * 0.004).exp()).clamp(1.0, 16.0);
            let rel = (p - widget.min) / (widget.size() * s.zoom);
            s.pan = at - rel;
        }
    }
    if response.dragged() && !s.paint && s.zoom > 1.0 {
        s.pan -= response.drag_delta() / (widget.size() * s.zoom);
    }
    let max = 1.0 - 1.0 / s.zoom;
    s.pan = egui::vec2(s.pan.x.clamp(0.0, max), s.pan.y.clamp(0.0, max));
    let size = widget.size() * s.zoom;
    Rect::from_min_size(widget.min - s.pan * size, size)
}

/// Occlusion painting: a click toggles the brush's patches (off when the clicked patch is occluded); a drag
/// adds every patch it passes, sent when the drag ends (one re-run, not one per patch).
fn paint_occlusion(
    app: &mut ViewCtx,
    response: &egui::Response,
    rect: Rect,
    (gh, gw): (usize, usize),
    size: usize,
    cmds: &mut Vec<UiCommand>,
) {
    let Some(pos) = response.interact_pointer_pos() else {
        return;
    };
    let (r, c) = patch_at(rect, pos, gh, gw);
    let patches = super::intervene::brush(r, c, size, gh, gw);
    let iv = &mut app.state.intervention;
    if response.clicked() {
        let mut next = iv.clone();
        if next.occluded.contains(&(r * gw + c)) {
            patches.iter().for_each(|k| {
                next.occluded.remove(k);
            });
        } else {
            next.occluded.extend(patches);
        }
        cmds.push(UiCommand::SetIntervention(next));
    } else if response.dragged() {
        iv.occluded.extend(patches);
    }
    if response.drag_stopped() {
        cmds.push(UiCommand::SetIntervention(iv.clone()));
    }
}

/// The patch (row, col) under a screen position inside `rect`.
pub(super) fn patch_at(rect: Rect, pos: egui::Pos2, gh: usize, gw: usize) -> (usize, usize) {
    let rel = (pos - rect.min) / rect.size();
    let r = ((rel.y * gh as f32).floor().max(0.0) as usize).min(gh - 1);
    let c = ((rel.x * gw as f32).floor().max(0.0) as usize).min(gw - 1);
    (r, c)
}
