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
    let result = match cli.command {
        Some(command) => run(command),
        None => vitscope::ui::run_app(cli.open, cli.view),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            let msg: Vec<String> = e
                .chain()
                .map(|c| c.to_string().replace('\n', "; "))
                .collect();
            eprintln!("error: {}", msg.join(": "));
            std::process::ExitCode::FAILURE
        }
    }
}
