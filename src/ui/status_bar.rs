//! The status bar: model, device, input size, time of the last forward pass, busy state.
use super::command::UiCommand;
use super::context::ViewCtx;

pub fn ui(app: &ViewCtx, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    let s = &app.state;
    // wraps onto a second line rather than losing its end on a narrow window
    ui.horizontal_wrapped(|ui| {
        if let Some((what, done, total)) = app.progress() {
            super::tiles::spinner(ui);
            ui.add(
                egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                    .desired_width(220.0)
                    .text(format!("{what} {done}/{total}")),
            );
            if ui.button("Cancel").clicked() {
                cmds.push(UiCommand::CancelWork);
            }
            ui.separator();
        } else if app.busy() {
            super::tiles::spinner(ui);
            ui.label("working…");
            ui.separator();
        }
        match &s.model {
            Some(m) => {
                ui.label(format!(
                    "{} · {} · {:.1} M params · {}",
                    m.name,
                    m.description,
                    m.parameters as f64 / 1e6,
                    m.shape()
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
        if let Some(bytes) = s.attention_bytes {
            ui.separator();
            ui.label(format!(
                "attention kept: {} ({})",
                human_bytes(bytes),
                s.attention.label()
            ));
        }
        if let Some(p) = &s.image_path {
            ui.separator();
            ui.label(
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        }
        // news stays in sight whatever the panel's scroll: the last export (E too) and notices
        if let Some(first) = s.last_export.first() {
            ui.separator();
            let name = first
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let more = s.last_export.len() - 1;
            ui.label(if more == 0 {
                format!("last export: {name}")
            } else {
                format!("last export: {name} and {more} more")
            })
            .on_hover_text(
                first
                    .parent()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            );
        }
        if let Some(n) = &s.notice {
            ui.separator();
            ui.add(
                egui::Label::new(egui::RichText::new(n).color(ui.visuals().warn_fg_color)).wrap(),
            );
        }
    });
}

/// `bytes` as KiB, MiB or GiB with one decimal.
fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..0x10_0000 => format!("{:.1} KiB", b / 1024.0),
        0x10_0000..0x4000_0000 => format!("{:.1} MiB", b / (1u64 << 20) as f64),
        _ => format!("{:.1} GiB", b / (1u64 << 30) as f64),
    }
}
