//! The desktop app (egui only). Views get a [`context::ViewCtx`] (the state as the worker last reported it,
//! their own fields, settings, textures) and emit [`command::UiCommand`]s; they never import the app.
//! `App::apply` (app/apply.rs) is the one place commands act. Only the worker thread touches tch.
pub mod app;
mod attention_view;
pub mod command;
pub mod compare_view;
pub mod context;
mod controls;
mod distance_view;
mod embeddings_view;
mod head_grid;
mod help;
mod intervene;
pub mod methods_view;
mod model_info;
mod model_view;
pub mod overwrite;
pub mod settings;
mod startup_report;
pub mod state;
mod status_bar;
mod textures;
mod tiles;
mod tokens_view;

pub use app::{App, StartOptions};

/// Open the app window (blocks until it closes).
pub fn run_app(start: StartOptions) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("vitscope")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([800.0, 500.0])
            .with_position([0.0, 0.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "vitscope",
        options,
        Box::new(move |cc| Ok(Box::new(App::new(cc, start)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
