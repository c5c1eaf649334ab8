//! `vitscope`: the launcher. It parses the command line with the same definition as the engine
//! (src/cli/args.rs), answers `--help`, `--version` and usage errors itself — in milliseconds, because it
//! does not load libtorch — and hands every other command line, unchanged, to `vitscope-engine` next to it
//! (exec: same process id, same signals, same exit status).
use std::process::ExitCode;

use clap::Parser;

mod cli {
    #[path = "args.rs"]
    pub mod args;
}
mod model {
    #[path = "input_size.rs"]
    pub mod input_size;
    pub use input_size::InputSize;
}

/// The engine's file name, next to this executable.
const ENGINE: &str = "vitscope-engine";

fn main() -> ExitCode {
    if let Err(e) = cli::args::Cli::try_parse() {
        return cli::args::usage_error(e);
    }
    let here = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot find where vitscope is installed: {e}");
            return ExitCode::from(127);
        }
    };
    let engine = here.with_file_name(format!("{ENGINE}{}", std::env::consts::EXE_SUFFIX));
    let mut command = std::process::Command::new(&engine);
    command
        .args(std::env::args_os().skip(1))
        .env("VITSCOPE_LAUNCHER_SOURCE", env!("VITSCOPE_SOURCE_ID"));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = command.exec(); // returns only on failure
        eprintln!(
            "error: cannot start {}: {e} (it is built with vitscope: `cargo build` builds both)",
            engine.display()
        );
        ExitCode::from(127)
    }
    #[cfg(not(unix))]
    match command.status() {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!(
                "error: cannot start {}: {e} (it is built with vitscope: `cargo build` builds both)",
                engine.display()
            );
            ExitCode::from(127)
        }
    }
}
