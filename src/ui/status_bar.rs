//! The status bar: model, device, input size, time of the last forward pass, busy state.
use super::app::App;

pub fn ui(app: &App, ui: &mut egui::Ui) {
    let s = &app.state;
    ui.horizontal(|ui| {
        if app.busy() {
            ui.spinner();
            ui.label("working…");
            ui.separator();
        }
        match &s.model {
            Some(m) => {
                ui.label(format!(
                    "{} · {} · {:.1} M params · {} layers × {} heads",
                    m.name,
                    m.description,
                    m.parameters as f64 / 1e6,
                    m.layers,
                    m.heads
                ))
                .on_hover_text(format!(
                    "{}\ninferred: {}",
                    m.path.display(),
                    if m.inferred.is_empty() {
                        "nothing".into()
                    } else {
                        m.inferred.join("; ")
                    }
                ));
                ui.separator();
                ui.label(format!("device {}", m.device));
            }
            None => {
                ui.label("no model");
            }
        }
        if let (Some((h, w)), Some(rows)) = (s.input_hw, &s.rows) {
            ui.separator();
            ui.label(format!(
                "input {h}×{w} ({}×{} patches, {} tokens)",
                rows.layout.grid_h,
                rows.layout.grid_w,
                rows.layout.num_tokens()
            ));
        }
        if let Some(ms) = s.forward_ms {
            ui.separator();
            ui.label(format!("forward {ms:.0} ms"));
        }
        if let Some(p) = &s.image_path {
            ui.separator();
            ui.label(
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        }
    });
}
