//! The model panel: what the loaded checkpoint is (family, size, token layout, preprocessing, what was
//! inferred) and, for models with a classifier, the top-5 classes for the current image.
use super::context::ViewCtx;

pub fn ui(app: &ViewCtx, ui: &mut egui::Ui) {
    let s = &app.state;
    let Some(m) = &s.model else { return };
    if !s.classes.is_empty() {
        ui.heading("Top classes");
        egui::Grid::new("top_classes")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                for c in &s.classes {
                    ui.label(format!("{:5.1} %", 100.0 * c.probability));
                    ui.label(&c.name)
                        .on_hover_text(format!("class {} · logit {:.3}", c.index, c.logit));
                    ui.end_row();
                }
            });
        ui.separator();
    }
    if !s.lens.is_empty() {
        egui::CollapsingHeader::new("Logit lens")
            .default_open(false)
            .show(ui, |ui| {
                ui.small(if s.classes.is_empty() {
                    "Each layer's pooled feature (its tokens through the final norm and pooling): cosine to the last layer's."
                } else {
                    "Each layer's tokens through the final norm and the head, as if the network ended there: where the answer forms."
                });
                let id = ui.scope_id().with("lens_chart");
                let mut chart = ui.data(|d| d.get_temp::<bool>(id)).unwrap_or(!s.classes.is_empty());
                if !s.classes.is_empty() {
                    ui.horizontal(|ui| {
                        ui.selectable_value(&mut chart, true, "Bump chart")
                            .on_hover_text("Each class's rank (1 = top) per layer, for the classes among some layer's top 5.");
                        ui.selectable_value(&mut chart, false, "Table");
                    });
                    ui.data_mut(|d| d.insert_temp(id, chart));
                }
                if chart && !s.classes.is_empty() {
                    bump_chart(ui, &s.lens);
                } else {
                    lens_table(ui, &s.lens);
                }
            });
    }
    let header = egui::CollapsingHeader::new("Model info")
        .default_open(false)
        .show(ui, |ui| {
            let tokens = match s.input_hw {
                Some((h, w)) => {
                    let (gh, gw) = (h / m.patch_size, w / m.patch_size);
                    format!(
                        "{} prefix + {gh}×{gw} patches = {} tokens at {h}×{w} px",
                        m.prefix_tokens.len(),
                        m.prefix_tokens.len() + gh * gw
                    )
                }
                None => format!("{} prefix tokens", m.prefix_tokens.len()),
            };
            let classes = match (m.num_classes, m.projection_dim) {
                (Some(c), _) => format!("{c} classes"),
                (None, Some(p)) => format!("no classifier; projection to {p}"),
                (None, None) => "no classifier (features only)".into(),
            };
            let rows: Vec<(&str, String)> = vec![
                ("Checkpoint", m.description.clone()),
                ("Naming", m.family.clone()),
                ("File", m.path.display().to_string()),
                ("Parameters", format!("{:.2} M", m.parameters as f64 / 1e6)),
                ("Layers × heads", m.shape()),
                ("Width", m.width.to_string()),
                ("MLP", m.mlp.clone()),
                ("Patch", format!("{} px", m.patch_size)),
                ("Positions", m.position.clone()),
                (
                    "Stages",
                    m.stages.clone().unwrap_or_else(|| "one (plain ViT)".into()),
                ),
                (
                    "Trained at",
                    format!(
                        "{}×{} px ({}×{} position grid)",
                        m.training_size.0, m.training_size.1, m.pos_grid.0, m.pos_grid.1
                    ),
                ),
                (
                    "Prefix tokens",
                    if m.prefix_tokens.is_empty() {
                        "none".into()
                    } else {
                        format!(
                            "{} ({} with position embedding)",
                            m.prefix_tokens.join(", "),
                            m.pos_prefix
                        )
                    },
                ),
                ("Tokens", tokens),
                ("Pooling", m.pool.clone()),
                ("Head", classes),
                (
                    "Mean / std",
                    format!("{:.3?} / {:.3?}", m.image_mean, m.image_std),
                ),
                ("Precision", m.precision.clone()),
                ("Device", m.device.clone()),
            ];
            // One wrapped line per fact: long values (paths, descriptions) must not widen the panel.
            for (k, v) in rows {
                ui.add(egui::Label::new(format!("{k}: {v}")).wrap());
            }
            for (title, items) in [("Inferred", &m.inferred), ("Not used", &m.ignored)] {
                if !items.is_empty() {
                    ui.small(format!("{title}: {}", items.join("; ")));
                }
            }
        });
    // Opening the section scrolls it into view (the panel above it is long).
    if header.openness > 0.0
        && header.openness < 1.0
        && let Some(body) = &header.body_response
    {
        ui.scroll_to_rect(body.rect, Some(egui::Align::TOP));
    }
}

/// The lens as a table: per layer its top class (three on hover), or the cosine without a classifier.
fn lens_table(ui: &mut egui::Ui, lens: &[crate::methods::lens::LensLayer]) {
    egui::Grid::new("lens")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            for l in lens {
                ui.small(format!("L{}", l.layer));
                match l.top.first() {
                    Some(c) => {
                        ui.small(format!("{:5.1} %", 100.0 * c.probability));
                        ui.small(&c.name).on_hover_text(
                            l.top
                                .iter()
                                .map(|c| format!("{:.1} % {}", 100.0 * c.probability, c.name))
                                .collect::<Vec<_>>()
                                .join("\n"),
                        );
                    }
                    None => {
                        ui.small(format!("cos {:.3}", l.cosine_to_final));
                        ui.small("");
                    }
                }
                ui.end_row();
            }
        });
}

/// The lens as a bump chart: x the layer, y the rank (1 at the top), one line per class.
fn bump_chart(ui: &mut egui::Ui, lens: &[crate::methods::lens::LensLayer]) {
    use egui_plot::{Line, Plot, PlotPoints, Points};
    let lines = crate::methods::lens::bump(lens, 8);
    let ranks = lens.iter().map(|l| l.top.len()).max().unwrap_or(1).max(1);
    let layers = lens.len().max(1);
    let colour = |i: usize| {
        let [r, g, b] = crate::render::category(i);
        egui::Color32::from_rgb(r, g, b)
    };
    Plot::new("lens_bump")
        .height(170.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_y(-(ranks as f64) - 0.5)
        .include_y(-0.5)
        .include_x(-0.5)
        .include_x(layers as f64 - 0.5)
        .x_axis_label("layer")
        .y_axis_label("rank")
        .x_grid_spacer(egui_plot::uniform_grid_spacer(|_| [1.0, 1.0, 1.0]))
        .y_grid_spacer(egui_plot::uniform_grid_spacer(|_| [1.0, 1.0, 1.0]))
        .y_axis_formatter(|m, _| {
            if m.value < 0.0 && m.value.fract() == 0.0 {
                format!("{}", -m.value)
            } else {
                String::new()
            }
        })
        .x_axis_formatter(move |m, _| {
            if m.value >= 0.0 && m.value.fract() == 0.0 && (m.value as usize) < layers {
                format!("{}", m.value)
            } else {
                String::new()
            }
        })
        .label_formatter(|pos| match pos {
            egui_plot::HoverPosition::NearDataPoint {
                plot_name,
                position,
                ..
            } if !plot_name.is_empty() => Some(format!(
                "{plot_name}\nlayer {:.0}, rank {:.0}",
                position.x, -position.y
            )),
            _ => None,
        })
        .show(ui, |plot| {
            for (i, line) in lines.iter().enumerate() {
                let colour = colour(i);
                let name = format!("{} ({})", line.name, line.class);
                for run in &line.runs {
                    let pts: Vec<[f64; 2]> =
                        run.iter().map(|&(l, r)| [l as f64, -(r as f64)]).collect();
                    if pts.len() > 1 {
                        plot.line(
                            Line::new(&name, PlotPoints::from(pts.clone()))
                                .color(colour)
                                .width(2.0),
                        );
                    }
                    plot.points(
                        Points::new(&name, PlotPoints::from(pts))
                            .color(colour)
                            .radius(3.5),
                    );
                }
            }
        });
    // the key under the chart (a legend inside would cover the lines)
    ui.horizontal_wrapped(|ui| {
        for (i, line) in lines.iter().enumerate() {
            ui.label(egui::RichText::new(&line.name).small().color(colour(i)))
                .on_hover_text(format!("class {}", line.class));
        }
    });
}
