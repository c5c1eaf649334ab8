//! Shared drawing for the analysis views: a map over the photo with a caption, and a colour bar.
use egui::{Color32, Rect, Response, Sense, TextureId, pos2, vec2};

use super::command::UiCommand;
use crate::jobs::QuerySpec;
use crate::render::Colormap;

const UV: Rect = Rect {
    min: pos2(0.0, 0.0),
    max: pos2(1.0, 1.0),
};

/// The photo with a heat texture over it at `opacity`, a caption in the corner; clickable and hoverable.
/// The tile carries `caption` as its accessible name.
pub fn map_tile(
    ui: &mut egui::Ui,
    photo: Option<TextureId>,
    heat: TextureId,
    opacity: f32,
    size: egui::Vec2,
    caption: &str,
) -> Response {
    let (rect, response) = ui.allocate_exact_size(size, Sense::click());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, caption));
    let painter = ui.painter_at(rect);
    match photo {
        Some(p) => {
            painter.image(p, rect, UV, Color32::WHITE);
            painter.image(
                heat,
                rect,
                UV,
                Color32::from_white_alpha((opacity * 255.0).round() as u8),
            );
        }
        None => {
            painter.image(heat, rect, UV, Color32::WHITE);
        }
    }
    let galley = painter.layout_no_wrap(
        caption.to_string(),
        egui::FontId::proportional(13.0),
        Color32::WHITE,
    );
    let bg = Rect::from_min_size(rect.min + vec2(3.0, 3.0), galley.size() + vec2(6.0, 2.0));
    painter.rect_filled(bg, 3.0, Color32::from_black_alpha(170));
    painter.galley(bg.min + vec2(3.0, 1.0), galley, Color32::WHITE);
    if response.hovered() {
        painter.rect_stroke(rect, 2.0, (1.0, Color32::WHITE), egui::StrokeKind::Inside);
    }
    response
}

/// A [`map_tile`] linked to the query: the query patch outlined in red, a click makes the clicked patch
/// the query.
#[allow(clippy::too_many_arguments)]
pub fn query_tile(
    ui: &mut egui::Ui,
    photo: Option<TextureId>,
    heat: TextureId,
    opacity: f32,
    size: egui::Vec2,
    caption: &str,
    grid: (usize, usize),
    query: QuerySpec,
    cmds: &mut Vec<UiCommand>,
) -> Response {
    let (gh, gw) = grid;
    let r = map_tile(ui, photo, heat, opacity, size, caption);
    if let QuerySpec::Patch(qr, qc) = query {
        outline_cell(
            &ui.painter_at(r.rect),
            r.rect,
            gh,
            gw,
            (qr, qc),
            Color32::RED,
        );
    }
    if r.clicked()
        && let Some(pos) = r.interact_pointer_pos()
    {
        let (pr, pc) = super::attention_view::patch_at(r.rect, pos, gh, gw);
        cmds.push(UiCommand::SetQuery(QuerySpec::Patch(pr, pc)));
    }
    r
}

/// The hover readout of a map drawn over `rect`: the patch under the pointer and the map's value there.
pub fn readout(r: &Response, grid: &crate::grid::Grid) -> Option<String> {
    readout_at(r.rect, r.hover_pos()?, grid)
}

/// [`readout`] for a map drawn over `rect` (which may be larger than its widget, zoomed) at `pos`.
pub fn readout_at(rect: egui::Rect, pos: egui::Pos2, grid: &crate::grid::Grid) -> Option<String> {
    let (pr, pc) = super::attention_view::patch_at(rect, pos, grid.h, grid.w);
    let v = grid.data.get(pr * grid.w + pc)?;
    Some(format!("patch row {pr}, col {pc}: {}", fmt_value(*v)))
}

/// Show `text` at the pointer over `r`, at once (no hover delay: a readout follows the pointer).
pub fn tooltip_at_pointer(r: &Response, text: String) {
    egui::containers::Tooltip::for_widget(r)
        .at_pointer()
        .gap(12.0)
        .show(|ui| {
            ui.label(text);
        });
}

/// A map value in 4 significant digits (scientific below 0.001).
pub fn fmt_value(v: f32) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// Outline cell (r, c) of a `gh × gw` grid stretched over `rect`.
pub fn outline_cell(
    painter: &egui::Painter,
    rect: Rect,
    gh: usize,
    gw: usize,
    rc: (usize, usize),
    color: Color32,
) {
    let cell = vec2(rect.width() / gw as f32, rect.height() / gh as f32);
    let min = rect.min + vec2(rc.1 as f32 * cell.x, rc.0 as f32 * cell.y);
    painter.rect_stroke(
        Rect::from_min_size(min, cell),
        0.0,
        (2.0, color),
        egui::StrokeKind::Middle,
    );
}

/// A horizontal colour bar from `lo` to `hi` with its end values.
pub fn colour_bar(ui: &mut egui::Ui, cmap: Colormap, lo: f32, hi: f32, what: &str) {
    ui.horizontal(|ui| {
        ui.small(bar_value(lo, hi));
        // 180 px, or less in a narrow tile: room is left for the high end's value
        let bar_w = (ui.available_width() - 56.0).clamp(40.0, 180.0);
        let (rect, response) = ui.allocate_exact_size(vec2(bar_w, 12.0), Sense::hover());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Colour bar"));
        let painter = ui.painter_at(rect);
        let n = 64;
        for i in 0..n {
            let t = i as f32 / (n - 1) as f32;
            let [r, g, b] = cmap.rgb(t);
            let x0 = rect.min.x + rect.width() * i as f32 / n as f32;
            let x1 = rect.min.x + rect.width() * (i + 1) as f32 / n as f32;
            painter.rect_filled(
                Rect::from_min_max(pos2(x0, rect.min.y), pos2(x1 + 0.5, rect.max.y)),
                0.0,
                Color32::from_rgb(r, g, b),
            );
        }
        ui.small(bar_value(hi, hi));
        ui.small(what);
    });
}

/// A colour-bar end value: three decimals, or three significant digits when the scale is below 0.01 (a
/// probe's attention over thousands of tokens would otherwise read 0.000 to 0.000).
fn bar_value(v: f32, scale: f32) -> String {
    if v == 0.0 || scale.abs() >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

/// A busy spinner that animates at about 10 frames a second. egui's own asks for a new frame every frame,
/// and that repainting (a software renderer, most of all) takes the cores the model's forward pass needs.
pub fn spinner(ui: &mut egui::Ui) -> egui::Response {
    let size = ui.style().spacing.interact_size.y;
    let (rect, response) = ui.allocate_exact_size(vec2(size, size), Sense::hover());
    response.widget_info(|| egui::WidgetInfo::new(egui::Role::ProgressIndicator));
    if ui.is_rect_visible(rect) {
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(500));
        let radius = rect.height().min(rect.width()) * 0.5 - 2.0;
        let n = (radius.round() as usize).clamp(8, 128);
        let time = ui.input(|i| i.time);
        let (start, sweep) = (
            time * std::f64::consts::TAU,
            240f64.to_radians() * time.sin(),
        );
        let points: Vec<egui::Pos2> = (0..n)
            .map(|i| {
                let a = start + sweep * i as f64 / n as f64;
                rect.center() + radius * vec2(a.cos() as f32, a.sin() as f32)
            })
            .collect();
        ui.painter().add(egui::Shape::line(
            points,
            egui::Stroke::new(3.0, ui.visuals().strong_text_color()),
        ));
    }
    response
}
