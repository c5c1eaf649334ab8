//! The desktop app (egui only): views read state and emit [`app::UiCommand`]s; `App::apply` is the one
//! place commands change state. Only the worker thread touches tch.
pub mod app;
mod attention_view;
pub mod compare_view;
mod controls;
mod distance_view;
mod embeddings_view;
mod head_grid;
mod methods_view;
mod model_info;
mod model_view;
pub mod overwrite;
pub mod settings;
mod startup_report;
mod status_bar;
mod textures;
mod tiles;
mod tokens_view;

pub use app::{App, StartOptions};

use crate::cli::ModelImageArgs;
use crate::model::source::default_image;

/// Open the app window (blocks until it closes).
pub fn run_app(args: ModelImageArgs, view: Option<settings::View>) -> anyhow::Result<()> {
    // With no model or image on the command line, the app reopens the last ones (the built-in model and a
    // sample photo on first start).
    let restore_last =
        matches!(args.model.model, crate::model::ModelSource::Default) && args.image.is_none();
    let start = StartOptions {
        restore_last,
        model: Some(args.model.model),
        image: args.image.or_else(default_image),
        size: args.model.size,
        device: args.model.device,
        precision: args.model.precision,
        attention: args.model.attention,
        export_dir: None,
        view,
        settings_file: settings::default_settings_file(),
        download: args.model.download,
    };
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
