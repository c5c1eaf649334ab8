//! `vitscope-engine`: everything `vitscope` does, with libtorch loaded. The `vitscope` launcher
//! (src/main.rs) answers help, version and usage errors without libtorch and hands every other command line
//! to this binary, unchanged.
use clap::Parser;
use vitscope::cli::{Cli, ModelImageArgs, ViewArg, run, usage_error};
use vitscope::model::ModelSource;
use vitscope::ui::StartOptions;
use vitscope::ui::settings::View;

fn main() -> std::process::ExitCode {
    if std::env::var("VITSCOPE_LAUNCHER_SOURCE").is_ok_and(|l| l != env!("VITSCOPE_SOURCE_ID")) {
        eprintln!(
            "warning: vitscope-engine was built from other sources than the vitscope launcher that started it \
             (`cargo run` rebuilds only the launcher): run `cargo build` to rebuild both"
        );
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // Ctrl-C or a SIGTERM during an export (CLI or app) removes its temporary files.
    vitscope::export::cleanup_on_signals();
    let result = match cli.command {
        Some(command) => {
            // Output piped into `head` and the like: end quietly when the reader goes, as Unix tools do,
            // instead of failing on the broken pipe.
            #[cfg(target_os = "linux")]
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
            // A bug must still end in one clear line, not a backtrace hint.
            std::panic::set_hook(Box::new(|info| {
                let msg = vitscope::jobs::panic_text(info.payload());
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                eprintln!("error: internal error (please report): {msg}{at}");
            }));
            match std::panic::catch_unwind(|| run(command)) {
                Ok(r) => r,
                Err(_) => return std::process::ExitCode::from(101),
            }
        }
        None => vitscope::ui::run_app(app_start(cli.open, cli.view)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", vitscope::cli::one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// How the app starts from the command line's model, image and view. Here, where both front ends meet, so that
/// neither imports the other.
fn app_start(args: ModelImageArgs, view: Option<ViewArg>) -> StartOptions {
    let source = args.model.source();
    // With no model or image on the command line, the app reopens the last ones (the built-in model and a
    // sample photo on first start).
    let restore_last = matches!(source, ModelSource::Default) && args.image.is_none();
    StartOptions {
        restore_last,
        model: Some(source),
        image: args.image.or_else(vitscope::model::source::default_image),
        size: args.model.size,
        device: args.model.device.into(),
        precision: args.model.precision.into(),
        attention: args.model.attention.into(),
        export_dir: None,
        view: view.map(|v| match v {
            ViewArg::Attention => View::Attention,
            ViewArg::Model => View::Model,
            ViewArg::Methods => View::Methods,
            ViewArg::Compare => View::Compare,
            ViewArg::Distance => View::Distance,
            ViewArg::Tokens => View::Tokens,
            ViewArg::Embeddings => View::Embeddings,
        }),
        settings_file: vitscope::ui::settings::default_settings_file(),
        download: args.model.download,
    }
}
