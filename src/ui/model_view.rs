//! Model view: every layer × head at once as small maps over the photo (rows = layers, columns = heads, plus
//! the head mean; the current layer and head outlined), with a linked hover preview: pointing at a patch in any
//! tile shows every tile's map from that patch (outlined in yellow) without changing the query; a click makes
//! it the query everywhere; a double click opens that layer and head in the Attention view.
use egui::{Color32, Sense, vec2};

use super::attention_view::patch_at;
use super::command::UiCommand;
use super::context::ViewCtx;
use super::tiles::outline_cell;
use crate::analysis::HeadSel;
use crate::jobs::QuerySpec;

pub fn ui(app: &mut ViewCtx, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    let Some(committed) = app.state.rows.clone() else {
        ui.label(
            app.state
                .loading()
                .unwrap_or_else(|| "Load a model and an image.".into()),
        );
        return;
    };
    // while the pointer is over a tile, the previewed query's rows (once they came)
    let preview = app
        .state
        .preview
        .as_ref()
        .filter(|(q, _)| Some(*q) == app.state.preview_asked)
        .map(|(q, r)| (*q, r.clone()));
    let rows = match &preview {
        Some((_, r)) => r.clone(),
        None => committed.clone(),
    };
    let (gh, gw) = (rows.layout.grid_h, rows.layout.grid_w);
    ui.small("Rows: layers (0 at the top); columns: the head mean, then each head. Point at a patch to preview its maps (yellow); click to make it the query; double-click a tile to open that map.");
    ui.horizontal(|ui| {
        ui.toggle_value(&mut app.state.ablate_mode, "Ablate heads")
            .on_hover_text("A click on a head's tile ablates it (on the mean column: the whole layer); click again to restore it. The model re-runs at once.");
        if app.state.ablate_mode {
            ui.small("Click tiles to ablate or restore heads (red cross: ablated).");
        }
    });
    if !rows.layer_heads.is_empty() {
        ui.small("The stages have different head counts: a row ends at its own last head.");
    }
    let cols = rows.heads + 1;
    // the row labels (L0 …), the gaps and a scroll bar's room come off the width
    let avail_w = ui.available_width() - 60.0;
    let avail_h = ui.clip_rect().bottom() - ui.cursor().top() - 8.0;
    let gap = 2.0;
    let w_by_width = (avail_w - gap * cols as f32) / cols as f32;
    let h_by_height = (avail_h - 24.0 - gap * rows.layers as f32) / rows.layers as f32;
    let w = w_by_width
        .min(h_by_height * gw as f32 / gh as f32)
        .max(24.0);
    let size = vec2(w, w * gh as f32 / gw as f32);
    let ctx = ui.ctx().clone();
    let generation = app.state.rows_generation;
    let photo = app.photo_texture(&ui.ctx().clone());
    let alpha = (app.settings.opacity * 255.0).round() as u8;
    let current = (app.state.layer, app.state.head);
    let query = app.state.query;
    let mut hovered = None;
    egui::ScrollArea::both().show(ui, |ui| {
        egui::Grid::new("model-grid")
            .spacing(vec2(gap, gap))
            .show(ui, |ui| {
                ui.label("");
                for c in 0..cols {
                    ui.small(if c == 0 {
                        "mean".to_string()
                    } else {
                        format!("h{}", c - 1)
                    });
                }
                ui.end_row();
                for l in 0..rows.layers {
                    ui.small(format!("L{l}"));
                    for c in 0..cols {
                        let head = if c == 0 {
                            HeadSel::Mean
                        } else {
                            HeadSel::Head(c - 1)
                        };
                        // a Swin stage with fewer heads than the widest: its last cells stay empty
                        if !rows.has_head(l, head) {
                            ui.allocate_exact_size(size, Sense::hover());
                            continue;
                        }
                        let map = rows.patch_map(l, head);
                        let range = match preview {
                            // the preview's own range (the settings' scales are the committed rows')
                            Some(_) => map.min_max(),
                            None => app.map_range(l, head).unwrap_or((0.0, 0.0)),
                        };
                        let tex = app.heat_texture(
                            &ctx,
                            &format!("model-{l}-{c}"),
                            (generation, preview.as_ref().map(|p| p.0)),
                            &map,
                            range,
                        );
                        let (rect, r) = ui.allocate_exact_size(size, Sense::click());
                        let name = format!("L{l} {}", head.label());
                        r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &name));
                        let painter = ui.painter_at(rect);
                        let uv =
                            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
                        // over the photo at the chosen opacity, as in the Attention view
                        if let Some(p) = photo {
                            painter.image(p, rect, uv, Color32::WHITE);
                        }
                        painter.image(tex, rect, uv, Color32::from_white_alpha(alpha));
                        if l == current.0 && head == current.1 {
                            painter.rect_stroke(
                                rect,
                                0.0,
                                egui::Stroke::new(3.0, ui.visuals().selection.bg_fill),
                                egui::StrokeKind::Inside,
                            );
                        }
                        if let QuerySpec::Patch(qr, qc) = query {
                            outline_cell(&painter, rect, gh, gw, (qr, qc), Color32::RED);
                        }
                        if let Some((QuerySpec::Patch(pr, pc), _)) = preview {
                            outline_cell(&painter, rect, gh, gw, (pr, pc), Color32::YELLOW);
                        }
                        if let Some(pos) = r.hover_pos() {
                            hovered = Some(patch_at(rect, pos, gh, gw));
                        }
                        let ablated = match head {
                            HeadSel::Head(h) => app.state.intervention.ablated.contains(&(l, h)),
                            HeadSel::Mean => (0..rows.heads_at(l))
                                .all(|h| app.state.intervention.ablated.contains(&(l, h))),
                        };
                        if ablated {
                            let red = egui::Stroke::new(2.0, Color32::RED);
                            painter.line_segment([rect.left_top(), rect.right_bottom()], red);
                            painter.line_segment([rect.right_top(), rect.left_bottom()], red);
                        }
                        if r.clicked() && app.state.ablate_mode {
                            // a head's tile toggles that head; the mean's, the whole layer
                            let mut iv = app.state.intervention.clone();
                            let heads: Vec<usize> = match head {
                                HeadSel::Head(h) => vec![h],
                                HeadSel::Mean => (0..rows.heads_at(l)).collect(),
                            };
                            for h in heads {
                                if ablated {
                                    iv.ablated.remove(&(l, h));
                                } else {
                                    iv.ablated.insert((l, h));
                                }
                            }
                            cmds.push(UiCommand::SetIntervention(iv));
                        } else if r.double_clicked() {
                            cmds.push(UiCommand::SetHead(head));
                            cmds.push(UiCommand::SetLayer(l));
                            cmds.push(UiCommand::SetView(super::settings::View::Attention));
                        } else if r.clicked()
                            && let Some(pos) = r.interact_pointer_pos()
                        {
                            let (pr, pc) = patch_at(rect, pos, gh, gw);
                            cmds.push(UiCommand::SetQuery(QuerySpec::Patch(pr, pc)));
                        }
                    }
                    ui.end_row();
                }
            });
    });
    // hover previews (the committed query stays), leaving the tiles ends the preview
    let want = hovered
        .map(|(r, c)| QuerySpec::Patch(r, c))
        .filter(|q| *q != query);
    if want != app.state.preview_asked {
        cmds.push(UiCommand::PreviewQuery(want));
    }
}
