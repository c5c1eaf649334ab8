use clap::Parser;
use vitscope::cli::{Cli, run};

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // A usage error: its first line says what is wrong; `--help` says the rest.
            let text = e.render().to_string();
            eprintln!(
                "{} (see vitscope --help)",
                text.lines().next().unwrap_or("error: invalid arguments")
            );
            return std::process::ExitCode::from(2);
        }
    };
    // Ctrl-C or a SIGTERM during an export (CLI or app) removes its temporary files.
    vitscope::export::cleanup_on_signals();
    let result = match cli.command {
        Some(command) => {
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
        None => vitscope::ui::run_app(cli.open, cli.view),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", vitscope::cli::one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
