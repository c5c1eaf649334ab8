//! Methods: raw attention, rollout, (flow), gradient rollout and relevance side by side for the same query,
//! with live parameters. Hover a map for its exact definition; click a patch to make it the query.
use egui::vec2;

use super::command::UiCommand;
use super::context::ViewCtx;
use super::state::ViewState;
use super::tiles::{colour_bar, query_tile};
use crate::analysis::{HeadFusion, QueryRows};
use crate::grid::Grid;
use crate::jobs::{AnalysisRequest, AnalysisResult, Refusal};

pub fn ui(app: &mut ViewCtx, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    let Some(rows) = app.state.rows.clone() else {
        ui.label(
            app.state
                .loading()
                .unwrap_or_else(|| "Load a model and an image.".into()),
        );
        return;
    };
    let layers = rows.layers;
    let p = &mut app.state.methods;
    ui.spacing_mut().slider_width = 110.0;
    ui.horizontal_wrapped(|ui| {
        egui::ComboBox::from_label("Head fusion")
            .selected_text(p.opts.fusion.label())
            .show_ui(ui, |ui| {
                for f in [HeadFusion::Mean, HeadFusion::Max, HeadFusion::Min] {
                    ui.selectable_value(&mut p.opts.fusion, f, f.label());
                }
            });
        ui.label("Residual α");
        ui.add(egui::Slider::new(&mut p.opts.residual, 0.0..=1.0))
            .on_hover_text("Â = rownorm((1 − α)·F + α·I)");
        ui.label("Discard");
        ui.add(egui::Slider::new(&mut p.opts.discard_ratio, 0.0..=0.99))
            .on_hover_text("In each row the floor(r·N) smallest entries are set to 0 before the residual; the row's largest entry is always kept.");
    });
    ui.horizontal_wrapped(|ui| {
        let mut end = p.opts.end_layer.unwrap_or(layers - 1).min(layers - 1);
        p.opts.start_layer = p.opts.start_layer.min(end);
        ui.add(egui::Slider::new(&mut p.opts.start_layer, 0..=layers - 1).text("first layer"))
            .on_hover_text("Rollout and flow multiply the layers from this one …");
        ui.add(egui::Slider::new(&mut end, p.opts.start_layer..=layers - 1).text("last layer"))
            .on_hover_text("… to this one.");
        p.opts.end_layer = (end != layers - 1).then_some(end);
        ui.checkbox(&mut p.flow, "Flow").on_hover_text(
            "Attention flow: an exact max-flow per input token (seconds at high resolution).",
        );
    });
    ui.horizontal(|ui| {
        ui.label("Target");
        let field = ui.add(
            egui::TextEdit::singleline(&mut app.state.target_field)
                .desired_width(120.0)
                .hint_text("top"),
        );
        field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Target"));
        if ui.button("Apply target").clicked()
            || (field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)))
        {
            let t = app.state.target_field.trim();
            app.state.methods.target = if t.is_empty() { "top".into() } else { t.to_string() };
        }
        ui.small("top · class N · A-B · sim:ROW,COL")
            .on_hover_text("The scalar the gradient methods explain: a class logit, a difference of two logits, or for models without a head the cosine similarity of the pooled feature to a token's final feature.");
    });
    ui.separator();
    if rows.kind == crate::analysis::RowsKind::Probe {
        ui.label(
            "From the MAP probe only rollout is defined (its head-mean row times the encoder's rollout): \
             flow and the gradient methods start from a token of the sequence. Click a patch to compare them all.",
        );
    }

    let (tiles, refused, fresh) = tiles(app.state, &rows);
    if !fresh {
        match app.state.failure(&methods_request(app.state)) {
            // a refusal or a failure ends the wait, and says why where the maps would be
            Some(why) => {
                ui.add(
                    egui::Label::new(
                        egui::RichText::new(format!("The methods could not be computed: {why}"))
                            .color(ui.visuals().warn_fg_color),
                    )
                    .wrap(),
                );
            }
            None => {
                ui.horizontal(|ui| {
                    super::tiles::spinner(ui);
                    ui.label("computing…");
                });
            }
        }
    }
    let (gh, gw) = (rows.layout.grid_h, rows.layout.grid_w);
    let Some((ih, iw)) = app.photo_size() else {
        return;
    };
    let panes = tiles.len() + refused.len();
    let cols = if panes > 3 { 3 } else { panes };
    // the tiles, their gaps and a scroll bar's room in the view's width
    let gap = ui.spacing().item_spacing.x;
    let avail = ui.available_width() - gap * (cols as f32 - 1.0) - 20.0;
    let w = (avail / cols as f32).max(120.0);
    let size = vec2(w, w * ih / iw);
    let ctx = ui.ctx().clone();
    let photo = app.photo_texture(&ctx);
    let (cmap, opacity) = (app.settings.colormap, app.settings.opacity);
    let query = app.state.query;
    let epoch = app.state.analysis_epoch;
    let panes: Vec<Result<&Tile, &Refusal>> = tiles
        .iter()
        .map(Ok)
        .chain(refused.iter().map(Err))
        .collect();
    egui::ScrollArea::vertical().show(ui, |ui| {
        for chunk in panes.chunks(cols).enumerate() {
            ui.horizontal(|ui| {
                for (k, pane) in chunk.1.iter().enumerate() {
                    let (caption, definition, grid, prefix) = match pane {
                        Ok(t) => t,
                        Err(r) => {
                            refused_pane(ui, r, size, cmds);
                            continue;
                        }
                    };
                    let i = chunk.0 * cols + k;
                    let heat = app.heat_texture(
                        &ctx,
                        &format!("method-{i}"),
                        (epoch, caption, definition),
                        grid,
                        grid.min_max(),
                    );
                    ui.vertical(|ui| {
                        ui.set_max_width(w);
                        let r = query_tile(
                            ui,
                            photo,
                            heat,
                            opacity,
                            size,
                            caption,
                            (gh, gw),
                            query,
                            cmds,
                        );
                        let prefix_text = prefix
                            .iter()
                            .map(|(l, v)| format!("{l} {v:.3}"))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let here = super::tiles::readout(&r, grid)
                            .map(|t| format!("{t}\n"))
                            .unwrap_or_default();
                        r.on_hover_text(if prefix_text.is_empty() {
                            format!("{here}{definition}")
                        } else {
                            format!("{here}{definition}\nPrefix tokens: {prefix_text}")
                        });
                        let (lo, hi) = grid.min_max();
                        colour_bar(ui, cmap, lo, hi, "");
                    });
                }
            });
        }
        faithfulness(app, ui, cmds);
    });
}

/// The deletion and insertion curves the Methods view's parameters ask for.
pub fn faithfulness_request(state: &ViewState) -> AnalysisRequest {
    let p = &state.methods;
    AnalysisRequest::Faithfulness {
        opts: p.opts,
        target: p.target.clone(),
        flow: p.flow,
        steps: p.steps,
        fill: p.fill,
    }
}

/// Faithfulness: the deletion and insertion curves of every method's ranking, on demand.
fn faithfulness(app: &mut ViewCtx, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    use egui_plot::{Legend, Line, Plot, PlotPoints};
    ui.separator();
    let p = &mut app.state.methods;
    ui.horizontal_wrapped(|ui| {
        ui.strong("Faithfulness")
            .on_hover_text("Deletion and insertion curves (Petsiuk et al., Chefer et al.): patches removed from the image, or added back to an image with all removed, in the order each map ranks them, the model re-run at each step; the score is the target class's probability (without a classifier: the pooled feature's cosine to the unchanged image's). A good ranking falls fast on deletion (low area) and rises fast on insertion (high area). Random: a seeded order.");
        ui.add(egui::Slider::new(&mut p.steps, 2..=50).text("steps"))
            .on_hover_text("Steps per curve: 20 removes 5 % of the patches per step; each step re-runs the model twice (deletion, insertion) per method.");
        egui::ComboBox::from_label("removed patches")
            .selected_text(p.fill.name())
            .show_ui(ui, |ui| {
                for f in crate::model::Fill::ALL {
                    ui.selectable_value(&mut p.fill, f, f.name())
                        .on_hover_text(f.explain());
                }
            });
        let label = if p.faithfulness { "Hide curves" } else { "Compute curves" };
        if ui.button(label).clicked() {
            p.faithfulness = !p.faithfulness;
        }
    });
    if !app.state.methods.faithfulness {
        return;
    }
    let want = faithfulness_request(app.state);
    let result = match app.state.result(&want) {
        Some((AnalysisResult::Faithfulness { curves, score }, true)) => {
            Some((curves.clone(), score.clone()))
        }
        _ => None,
    };
    let Some((curves, score)) = result else {
        match app.state.failure(&want) {
            Some(why) => {
                ui.colored_label(ui.visuals().warn_fg_color, format!("No curves: {why}"));
            }
            None => {
                ui.horizontal(|ui| {
                    super::tiles::spinner(ui);
                    ui.label("computing the curves… (progress and Cancel in the status bar)");
                });
            }
        }
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.small(format!(
            "Score: {score}. Areas under the curves in the legend."
        ));
        if ui
            .button("Export curves")
            .on_hover_text("The plot (PNG, and SVG with \"SVG too\", at the plot resolution), the areas (CSV) and the curves (CSV), as `vitscope faithfulness` writes them.")
            .clicked()
        {
            cmds.push(UiCommand::ExportCurves);
        }
    });
    let w = (ui.available_width() / 2.0 - 8.0).max(200.0);
    ui.horizontal(|ui| {
        for (deletion, id, x) in [
            (true, "deletion", "fraction of patches removed"),
            (false, "insertion", "fraction of patches inserted"),
        ] {
            Plot::new(id)
                .legend(Legend::default())
                .width(w)
                .height(260.0)
                .x_axis_label(x)
                .y_axis_label("score")
                .allow_scroll(false)
                .show(ui, |plot| {
                    for (k, (name, c)) in curves.iter().enumerate() {
                        let (ys, auc) = if deletion {
                            (&c.deletion, c.deletion_auc())
                        } else {
                            (&c.insertion, c.insertion_auc())
                        };
                        let pts: Vec<[f64; 2]> =
                            c.fractions.iter().zip(ys).map(|(x, y)| [*x, *y]).collect();
                        let [r, g, b] = crate::render::category(k);
                        plot.line(
                            Line::new(format!("{name} ({id} {auc:.3})"), PlotPoints::from(pts))
                                .color(egui::Color32::from_rgb(r, g, b)),
                        );
                    }
                });
        }
    });
}

/// The pane of a method that could not be computed: its name, the reason, and the input size that would fit
/// as a button when memory was the reason.
fn refused_pane(ui: &mut egui::Ui, r: &Refusal, size: egui::Vec2, cmds: &mut Vec<UiCommand>) {
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let warn = ui.visuals().warn_fg_color;
    ui.painter().rect_stroke(
        rect,
        2.0,
        egui::Stroke::new(1.0, warn),
        egui::StrokeKind::Inside,
    );
    ui.scope_builder(egui::UiBuilder::new().max_rect(rect.shrink(10.0)), |ui| {
        ui.strong(format!("{} not computed", r.name));
        ui.add(egui::Label::new(egui::RichText::new(&r.reason).color(warn)).wrap());
        if let Some(px) = r.suggest_size
            && ui
                .button(format!("Use {px} px"))
                .on_hover_text("Re-run the model with this shorter side.")
                .clicked()
            && let Ok(size) = px.to_string().parse()
        {
            cmds.push(UiCommand::SetSize(size));
        }
    });
}

/// One map of the Methods view: caption, definition, the patch grid, prefix-token values.
pub type Tile = (String, String, Grid, Vec<(String, f32)>);

/// The request the Methods view's parameters make.
pub fn methods_request(state: &ViewState) -> AnalysisRequest {
    AnalysisRequest::Methods {
        opts: state.methods.opts,
        target: state.methods.target.clone(),
        flow: state.methods.flow,
    }
}

/// The maps the Methods view shows (the selected attention map, then each method's, only when they answer
/// the current parameters, query and image), the methods refused for them, and whether they do answer.
pub fn tiles(state: &ViewState, rows: &QueryRows) -> (Vec<Tile>, Vec<Refusal>, bool) {
    let want = methods_request(state);
    let result = state.result(&want).and_then(|(r, fresh)| match r {
        AnalysisResult::Methods(m, refused) => Some((m.clone(), refused.clone(), fresh)),
        _ => None,
    });
    // never a result for other parameters, another query or another image than the ones shown
    let (maps, refused, fresh) = match result {
        Some((m, r, true)) => (m, r, true),
        _ => (Vec::new(), Vec::new(), false),
    };
    let s = &state;
    let mut tiles = vec![(
        format!("Attention L{} {}", s.layer, s.head.label()),
        "The query's softmax attention in the selected layer and head (patch tokens; min–max)."
            .to_string(),
        rows.patch_map(s.layer, s.head),
        vec![],
    )];
    for m in &maps {
        tiles.push((
            format!("{} ({:.0} ms)", m.name, m.ms),
            m.definition.clone(),
            m.map.patch_grid(),
            m.map.prefix(),
        ));
    }
    (tiles, refused, fresh)
}
