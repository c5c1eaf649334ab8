//! The help overlay (F1 or ?): every keyboard shortcut and mouse action, in one window.

/// What each key and mouse action does: (key or gesture, action).
pub const KEYS: [(&str, &str); 11] = [
    ("Left / Right", "previous / next layer"),
    ("Up / Down", "previous / next head (mean, h0, h1, …)"),
    ("O", "overlay on / off"),
    (
        "E",
        "export what the view shows: the map (Attention, Model), the figure (Methods, Compare, Tokens, Embeddings), the plot and table (Distance)",
    ),
    ("Escape", "close an error or this help"),
    ("F1 or ?", "this help"),
    ("Click a patch", "make it the query in every view"),
    (
        "Hover a map",
        "the patch (row, column) and the map's value there; in the Model view, a preview of that patch's maps",
    ),
    (
        "Wheel over the large map",
        "zoom about the pointer (1× to 16×)",
    ),
    (
        "Drag the zoomed map",
        "pan; a double click fits the whole image again",
    ),
    (
        "Double-click a Model view tile",
        "open that layer and head in the Attention view",
    ),
];

pub fn ui(ctx: &egui::Context, open: &mut bool) {
    if !*open {
        return;
    }
    egui::Window::new("Keyboard and mouse")
        .open(open)
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
        .show(ctx, |ui| {
            ui.small("Keys work when no text field has focus.");
            egui::Grid::new("help_keys")
                .num_columns(2)
                .striped(true)
                .show(ui, |ui| {
                    for (k, what) in KEYS {
                        ui.strong(k);
                        ui.label(what);
                        ui.end_row();
                    }
                });
        });
}
