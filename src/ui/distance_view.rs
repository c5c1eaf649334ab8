//! Distance: mean attention distance and entropy per head against layer (the ViT paper's Fig. 7 right), as
//! egui_plot scatters; hovering names the head, a click opens that layer and head in the Attention view.
use egui_plot::{Legend, Plot, PlotPoints, Points};

use super::command::UiCommand;
use super::context::ViewCtx;
use crate::analysis::{HeadStats, PrefixConvention};
use crate::jobs::{AnalysisRequest, AnalysisResult};
use crate::render::category;

pub fn ui(app: &mut ViewCtx, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    ui.horizontal(|ui| {
        ui.label("Prefix tokens:");
        let c = &mut app.state.stats_convention;
        ui.radio_value(c, PrefixConvention::Renormalise, "renormalise over patches")
            .on_hover_text("Drop attention to CLS/registers and renormalise each row over the patches.");
        ui.radio_value(c, PrefixConvention::Drop, "drop")
            .on_hover_text("Drop attention to CLS/registers without renormalising: that mass counts as distance 0.");
    });
    ui.horizontal(|ui| {
        ui.label("Images:");
        ui.radio_value(&mut app.state.distance_folder, false, "this image")
            .on_hover_text("The statistics of the current image.");
        ui.radio_value(&mut app.state.distance_folder, true, "a folder")
            .on_hover_text(
                "Averaged over every image in a folder (progress and Cancel in the status bar).",
            );
        if app.state.distance_folder {
            let field = ui.add(
                egui::TextEdit::singleline(&mut app.state.folder_field)
                    .desired_width(260.0)
                    .hint_text("folder of images"),
            );
            field.widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Folder of images")
            });
            if ui.button("Run over folder").clicked() {
                cmds.push(UiCommand::RunFolderStats(
                    app.state.folder_field.trim().into(),
                ));
            }
        }
    });
    let (stats, fresh) = if app.state.distance_folder {
        let want = AnalysisRequest::FolderStats {
            folder: app.state.folder_field.trim().into(),
            convention: app.state.stats_convention,
        };
        match app.state.result(&want) {
            Some((
                AnalysisResult::FolderStats {
                    stats,
                    skipped,
                    cancelled,
                },
                fresh,
            )) => {
                ui.small(format!(
                    "{} image(s) averaged{}{}",
                    stats.images,
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!(", {} skipped", skipped.len())
                    },
                    if *cancelled {
                        " (cancelled: partial)"
                    } else {
                        ""
                    }
                ))
                .on_hover_text(skipped.join("\n"));
                (stats.clone(), fresh)
            }
            _ => {
                ui.label("Pick a folder and press Run over folder (progress and Cancel in the status bar).");
                return;
            }
        }
    } else {
        let want = AnalysisRequest::Stats(app.state.stats_convention);
        match app.state.result(&want) {
            Some((AnalysisResult::Stats(stats), fresh)) => (stats.clone(), fresh),
            _ => {
                super::tiles::spinner(ui);
                return;
            }
        }
    };
    if !fresh {
        super::tiles::spinner(ui);
    }
    if ui
        .button("Export plot + CSV")
        .on_hover_text("The ViT-paper figure as PNG and layer,head,mean_distance_px,entropy as CSV, in the export folder.")
        .clicked()
    {
        cmds.push(UiCommand::ExportDistance);
    }
    ui.small("d(l,h) = mean over patch queries of Σ_j A[i,j]·P·|g_i − g_j| (pixels at the model input). Entropy over the full row, nats. Click a dot to open that head; `vitscope distance` averages a folder.");
    let h = (ui.available_height() / 2.0 - 10.0).max(150.0);
    plot(
        ui,
        "distance",
        "mean attention distance (px)",
        &stats,
        h,
        |l, hd| stats.distance(l, hd),
        cmds,
    );
    plot(
        ui,
        "entropy",
        "attention entropy (nats)",
        &stats,
        h,
        |l, hd| stats.entropy(l, hd),
        cmds,
    );
}

fn plot(
    ui: &mut egui::Ui,
    id: &str,
    y_label: &str,
    stats: &HeadStats,
    height: f32,
    value: impl Fn(usize, usize) -> f64,
    cmds: &mut Vec<UiCommand>,
) {
    let unit = if id == "distance" { "px" } else { "nats" };
    let layers = stats.layers;
    let response = Plot::new(id)
        .legend(Legend::default())
        // room right of the last layer for the legend, so it covers no dot
        .include_x(-0.5)
        .include_x(stats.layers as f64 + 0.8)
        .label_formatter(move |pos| hover_label(pos, unit))
        // layers only: the room kept for the legend has no tick labels
        .x_axis_formatter(move |mark, _| {
            let v = mark.value;
            if v >= 0.0 && v < layers as f64 && v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        })
        .height(height)
        .x_axis_label("layer")
        .y_axis_label(y_label)
        .allow_scroll(false)
        .show(ui, |p| {
            for hd in 0..stats.heads {
                let pts: Vec<[f64; 2]> = (0..stats.layers)
                    .map(|l| [l as f64, value(l, hd)])
                    .collect();
                let [r, g, b] = category(hd);
                p.points(
                    Points::new(format!("head {hd}"), PlotPoints::from(pts))
                        .radius(4.0)
                        .color(egui::Color32::from_rgb(r, g, b)),
                );
            }
            p.pointer_coordinate()
        });
    if response.response.clicked()
        && let Some(at) = response.inner
    {
        // The nearest dot in screen space.
        let t = response.transform;
        let mut best = (f32::MAX, 0, 0);
        for l in 0..stats.layers {
            for hd in 0..stats.heads {
                let s = t.position_from_point(&egui_plot::PlotPoint::new(l as f64, value(l, hd)));
                let d = s.distance(t.position_from_point(&at));
                if d < best.0 {
                    best = (d, l, hd);
                }
            }
        }
        if best.0 < 12.0 {
            cmds.push(UiCommand::OpenHead(best.1, best.2));
        }
    }
}

/// The hover text of a dot: which head, which layer, its value; nothing away from the dots.
fn hover_label(pos: &egui_plot::HoverPosition<'_>, unit: &str) -> Option<String> {
    match pos {
        egui_plot::HoverPosition::NearDataPoint {
            plot_name,
            position,
            ..
        } if !plot_name.is_empty() => Some(format!(
            "{plot_name}, layer {:.0}: {:.2} {unit}\nclick to open this head",
            position.x, position.y
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use egui_plot::{HoverPosition, PlotPoint};

    #[test]
    fn a_dot_s_hover_names_its_head_and_layer() {
        let near = HoverPosition::NearDataPoint {
            plot_name: "head 4",
            position: PlotPoint::new(11.0, 123.456),
            index: 11,
        };
        assert_eq!(
            super::hover_label(&near, "px").unwrap(),
            "head 4, layer 11: 123.46 px\nclick to open this head"
        );
        let away = HoverPosition::Elsewhere {
            position: PlotPoint::new(3.3, 1.0),
        };
        assert_eq!(super::hover_label(&away, "px"), None);
    }
}
