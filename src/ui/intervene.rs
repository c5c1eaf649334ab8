//! Interventions in the app: the Attention view's toolbar (paint occlusions, ablate heads in the Model view,
//! drop prefix tokens, undo) and the "what changed" panel (top classes or feature similarity before and
//! after, the shown map before, after and their difference, the prefix mass). Every edit is one
//! [`UiCommand::SetIntervention`]; the worker re-runs the model at once.
use egui::{Color32, Rect, Stroke, pos2, vec2};

use super::command::UiCommand;
use super::context::ViewCtx;
use crate::analysis::HeadSel;
use crate::model::{Ablation, Fill, Intervention, PrefixToken};

/// Height the "what changed" panel takes under the map.
pub const PANEL_HEIGHT: f32 = 170.0;

/// The toolbar above the map.
pub fn toolbar(app: &mut ViewCtx, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    let s = &mut *app.state;
    let Some(rows) = &s.rows else { return };
    let mut iv = s.intervention.clone();
    ui.horizontal_wrapped(|ui| {
        ui.toggle_value(&mut s.paint, "Occlude patches")
            .on_hover_text("Clicks and drags on the map hide patches from the model (click an occluded patch to bring it back); the model re-runs at once.");
        if s.paint {
            s.brush = s.brush.max(1);
            ui.add(egui::Slider::new(&mut s.brush, 1..=4).text("brush"))
                .on_hover_text("A square of this many patches per side.");
        }
        egui::ComboBox::from_label("fill")
            .selected_text(iv.fill.name())
            .show_ui(ui, |ui| {
                for f in Fill::ALL {
                    ui.selectable_value(&mut iv.fill, f, f.name())
                        .on_hover_text(f.explain());
                }
            });
        ui.separator();
        ui.toggle_value(&mut s.ablate_mode, "Ablate heads")
            .on_hover_text("In the Model view, a click on a head's tile ablates it (the mean column: the whole layer); click again to restore it.");
        egui::ComboBox::from_label("ablated output")
            .selected_text(iv.ablation.name())
            .show_ui(ui, |ui| {
                for a in [Ablation::Zero, Ablation::Mean] {
                    ui.selectable_value(&mut iv.ablation, a, a.name())
                        .on_hover_text(match a {
                            Ablation::Zero => "the head's output set to zero",
                            Ablation::Mean => "the head's output replaced by its mean over the image's tokens",
                        });
                }
            });
        // prefix tokens other than CLS can be dropped from every layer's keys
        for (i, p) in rows.layout.prefix.iter().enumerate() {
            if *p == PrefixToken::Cls || !rows.windows.is_empty() {
                continue;
            }
            let mut on = iv.dropped.contains(&i);
            if ui
                .toggle_value(&mut on, format!("Drop {}", p.label()))
                .on_hover_text("Remove this token from the keys of every layer: nobody attends to it.")
                .changed()
            {
                if on {
                    iv.dropped.insert(i);
                } else {
                    iv.dropped.remove(&i);
                }
            }
        }
        ui.separator();
        if ui
            .add_enabled(!s.intervention.is_none(), egui::Button::new("Undo intervention"))
            .on_hover_text("Back to the untouched model and image.")
            .clicked()
        {
            iv = Intervention::default();
        }
    });
    if iv != s.intervention {
        // a fill or an ablation kind alone changes nothing until a patch or a head uses it: no re-run
        let same_sets = iv.occluded == s.intervention.occluded
            && iv.ablated == s.intervention.ablated
            && iv.dropped == s.intervention.dropped;
        let unused = (iv.fill == s.intervention.fill || iv.occluded.is_empty())
            && (iv.ablation == s.intervention.ablation || iv.ablated.is_empty());
        if same_sets && unused {
            s.intervention = iv;
        } else {
            cmds.push(UiCommand::SetIntervention(iv));
        }
    }
    if !s.intervention.is_none() {
        ui.label(
            egui::RichText::new(format!("Intervention: {}", s.intervention.describe()))
                .color(ui.visuals().warn_fg_color),
        );
    }
}

/// The brush's patches around `(r, c)` on a `gh × gw` grid, row-major.
pub fn brush(r: usize, c: usize, size: usize, gh: usize, gw: usize) -> Vec<usize> {
    let half = (size.max(1) - 1) / 2;
    let (r0, c0) = (r.saturating_sub(half), c.saturating_sub(half));
    (r0..(r0 + size.max(1)).min(gh))
        .flat_map(|y| (c0..(c0 + size.max(1)).min(gw)).map(move |x| y * gw + x))
        .collect()
}

/// Shade the occluded patches over the map in `rect` (`gh × gw` grid).
pub fn draw_occluded(painter: &egui::Painter, rect: Rect, gh: usize, gw: usize, iv: &Intervention) {
    let cell = vec2(rect.width() / gw as f32, rect.height() / gh as f32);
    for &k in &iv.occluded {
        let (r, c) = (k / gw, k % gw);
        if r >= gh {
            continue;
        }
        let min = rect.min + vec2(c as f32 * cell.x, r as f32 * cell.y);
        let cell_rect = Rect::from_min_size(min, cell);
        painter.rect_filled(cell_rect, 0.0, Color32::from_black_alpha(150));
        painter.line_segment(
            [cell_rect.left_bottom(), cell_rect.right_top()],
            Stroke::new(1.0, Color32::from_white_alpha(120)),
        );
    }
}

/// The "what changed" panel under the map, when an intervention is applied.
pub fn what_changed(app: &mut ViewCtx, ui: &mut egui::Ui) {
    let Some(change) = app.state.change.clone() else {
        return;
    };
    let Some(rows) = app.state.rows.clone() else {
        return;
    };
    let (layer, head) = (app.state.layer, app.state.head);
    let head = if change.before.has_head(layer, head) {
        head
    } else {
        HeadSel::Mean
    };
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_max_width(300.0);
            ui.strong("What changed");
            if change.classes.is_empty() {
                ui.label(format!(
                    "Pooled feature: cosine {:.4} to the untouched one",
                    change.pooled_cosine
                ));
                let n = change.token_cosine.len().max(1) as f32;
                let mean = change.token_cosine.iter().sum::<f32>() / n;
                let min = change.token_cosine.iter().copied().fold(f32::MAX, f32::min);
                ui.label(format!(
                    "Tokens' final features: cosine mean {mean:.4}, lowest {min:.4}"
                ));
            } else {
                egui::Grid::new("classes-change")
                    .striped(true)
                    .show(ui, |ui| {
                        ui.small("class");
                        ui.small("before");
                        ui.small("after");
                        ui.end_row();
                        let after = |i: usize| {
                            app.state
                                .classes
                                .iter()
                                .find(|c| c.index == i)
                                .map_or("-".to_string(), |c| format!("{:.3}", c.probability))
                        };
                        for c in &change.classes {
                            ui.small(&c.name);
                            ui.small(format!("{:.3}", c.probability));
                            ui.small(after(c.index));
                            ui.end_row();
                        }
                        if let Some(top) = app.state.classes.first()
                            && !change.classes.iter().any(|c| c.index == top.index)
                        {
                            ui.small(format!("{} (new top)", top.name));
                            ui.small("-");
                            ui.small(format!("{:.3}", top.probability));
                            ui.end_row();
                        }
                    });
            }
            if !rows.layout.prefix.is_empty() {
                ui.small(format!(
                    "Attention to prefix tokens (L{layer} {}): {:.1} % before, {:.1} % after",
                    head.label(),
                    100.0 * change.before.prefix_mass(layer, head),
                    100.0 * rows.prefix_mass(layer, head)
                ));
            }
        });
        // before, after and their difference, each on its own scale
        let before = change.before.patch_map(layer, head);
        let after = rows.patch_map(layer, head);
        let diff = crate::grid::Grid {
            h: after.h,
            w: after.w,
            data: after
                .data
                .iter()
                .zip(&before.data)
                .map(|(a, b)| a - b)
                .collect(),
        };
        let ctx = ui.ctx().clone();
        // the tiles share the width left by the text, no taller than the panel
        let aspect = after.w as f32 / after.h.max(1) as f32;
        let h = (PANEL_HEIGHT - 40.0).max(60.0);
        let photo = app.photo_tex_id();
        // without a classifier, each patch's final feature against its untouched one, as a map
        let np = rows.layout.num_prefix();
        let cosine = (change.classes.is_empty()
            && change.token_cosine.len() == np + after.h * after.w)
            .then(|| crate::grid::Grid {
                h: after.h,
                w: after.w,
                data: change.token_cosine[np..].to_vec(),
            });
        let mut tiles = vec![
            ("before", &before),
            ("after", &after),
            ("after − before", &diff),
        ];
        if let Some(c) = &cosine {
            tiles.push(("patch feature cosine", c));
        }
        let n_tiles = tiles.len() as f32;
        let room = (ui.available_width() - n_tiles * ui.spacing().item_spacing.x) / n_tiles;
        let h = h.min(room / aspect);
        let w = h * aspect;
        for (i, (name, grid)) in tiles.into_iter().enumerate() {
            ui.vertical(|ui| {
                let range = grid.min_max();
                let v = |x: f32| {
                    if x != 0.0 && x.abs() < 0.01 {
                        format!("{x:.1e}")
                    } else {
                        format!("{x:.3}")
                    }
                };
                ui.small(format!("{name} [{}, {}]", v(range.0), v(range.1)));
                let tex = app.heat_texture(
                    &ctx,
                    &format!("change-{i}"),
                    (app.state.rows_generation, layer, head, i),
                    grid,
                    range,
                );
                let (rect, r) = ui.allocate_exact_size(vec2(w, h), egui::Sense::hover());
                r.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::Image, true, format!("Change {name}"))
                });
                let painter = ui.painter_at(rect);
                let uv = Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0));
                if let Some(p) = photo {
                    painter.image(p, rect, uv, Color32::WHITE);
                }
                painter.image(tex, rect, uv, Color32::from_white_alpha(200));
                if i > 0 {
                    draw_occluded(&painter, rect, after.h, after.w, &change.intervention);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_brush_is_a_clamped_square() {
        assert_eq!(super::brush(0, 0, 1, 3, 4), [0]);
        assert_eq!(super::brush(1, 1, 2, 3, 4), [5, 6, 9, 10]);
        assert_eq!(super::brush(1, 1, 3, 3, 4), [0, 1, 2, 4, 5, 6, 8, 9, 10]);
        assert_eq!(super::brush(2, 3, 3, 3, 4), [6, 7, 10, 11]);
    }
}
