//! Asked before an export would replace files: replace them, keep both (the new files get a numbered
//! stem, `chelsea-2_…`), or cancel. Nothing is overwritten without this answer.
use super::command::UiCommand;
use super::context::ViewCtx;

/// The answer to "replace existing files?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverwriteChoice {
    Replace,
    KeepBoth,
    Cancel,
}

pub fn ui(app: &ViewCtx, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    let Some((req, existing)) = &app.state.overwrite_prompt else {
        return;
    };
    let shown = 8;
    let response = egui::Modal::new(egui::Id::unique("overwrite prompt")).show(ui.ctx(), |ui| {
        ui.heading("Replace existing files?");
        ui.label(format!(
            "This export would replace {} file{} in {}:",
            existing.len(),
            if existing.len() == 1 { "" } else { "s" },
            req.out_dir.display()
        ));
        for f in existing.iter().take(shown) {
            ui.monospace(f.as_str());
        }
        if existing.len() > shown {
            ui.label(format!("… and {} more", existing.len() - shown));
        }
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            if ui.button("Replace").clicked() {
                cmds.push(UiCommand::ResolveOverwrite(OverwriteChoice::Replace));
            }
            if ui
                .button("Keep both")
                .on_hover_text("Write the new files under a numbered name (name-2_…)")
                .clicked()
            {
                cmds.push(UiCommand::ResolveOverwrite(OverwriteChoice::KeepBoth));
            }
            if ui.button("Cancel export").clicked() {
                cmds.push(UiCommand::ResolveOverwrite(OverwriteChoice::Cancel));
            }
        });
    });
    if response.should_close() && cmds.is_empty() {
        cmds.push(UiCommand::ResolveOverwrite(OverwriteChoice::Cancel));
    }
}
