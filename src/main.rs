use clap::Parser;
use vitscope::cli::{Cli, run};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(command) => run(command),
        None => vitscope::ui::run_app(cli.open),
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
