//! The `claude-memory` binary. Memory behaviour lives in the engine crate;
//! what is the binary's own is how it reaches the engine from outside: the
//! blocking hook client (`hook`, `client`), the stdio MCP relay with
//! reconnect and autostart (`service`), starting it at login (`autostart`),
//! `install`, `doctor` and the benchmarks that time the real process.

mod autostart;
mod bench_hook;
mod bench_team;
mod cli;
mod client;
mod commands;
mod doctor;
mod hook;
mod install;
mod models;
mod output;
mod paths;
mod service;
mod setup;
mod team;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::Layer as _;

fn main() -> ExitCode {
    // Hooks run for every prompt and tool call: no runtime, no logging, no
    // output but the answer, and always success. A plain `hook EVENT` is
    // answered before the command-line parser is even built (building every
    // subcommand's parser is most of a hook's start-up); one with global
    // options goes through the parser to the same place.
    if let Some(event) = hook_event(std::env::args_os()) {
        hook::run(&event);
        return ExitCode::SUCCESS;
    }
    let cli = cli::Cli::parse();
    if let cli::Command::User(cli::UserCommand::Hook { event }) = &cli.command {
        hook::run(event);
        return ExitCode::SUCCESS;
    }
    init_logging(matches!(cli.command, cli::Command::User(cli::UserCommand::Serve { .. })));
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cm_core::error_chain(&*e));
            ExitCode::FAILURE
        }
    }
}

/// The event of exactly `claude-memory hook EVENT`; anything else (an
/// option, `--help`, a missing or extra argument) goes through the parser.
fn hook_event(args: impl IntoIterator<Item = std::ffi::OsString>) -> Option<String> {
    let mut args = args.into_iter().skip(1);
    let (command, event) = (args.next()?, args.next()?);
    let event = event.into_string().ok()?;
    (command == "hook" && !event.starts_with('-') && args.next().is_none()).then_some(event)
}

/// Logs go to stderr (stdout carries results), filtered by `CLAUDE_MEMORY_LOG`;
/// the engine (`serve`) also appends them to `<home>/logs/engine.log`, at
/// `info` by default. A command shows warnings only, and none from the
/// embedding service: what fails there reaches the command as an error it
/// reports in one line of its own (a model that cannot load is `warning:
/// embedding model … unavailable`), where the log line would say it again.
fn init_logging(serving: bool) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let default =
        if serving { cm_server::launch::LOG_FILTER } else { "warn,hf_hub=off,cm_embed::service=off" };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("CLAUDE_MEMORY_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
    };
    // Colour codes only for a person at a terminal, not in pipes and captured logs.
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_filter(filter());
    let file = serving.then(service::log_file).flatten().and_then(|path| {
        std::fs::create_dir_all(path.parent()?).ok()?;
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        // Logs name projects and queries: the owner's alone.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).ok()?;
        Some(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .with_filter(filter()),
        )
    });
    let _ = tracing_subscriber::registry().with(stderr).with(file).try_init();
}

#[cfg(test)]
mod tests {
    use super::hook_event;

    fn event(args: &[&str]) -> Option<String> {
        hook_event(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn only_a_plain_hook_call_skips_the_parser() {
        assert_eq!(
            event(&["claude-memory", "hook", "UserPromptSubmit"]).as_deref(),
            Some("UserPromptSubmit")
        );
        assert_eq!(event(&["claude-memory", "hook", "--help"]), None);
        assert_eq!(event(&["claude-memory", "hook"]), None);
        assert_eq!(event(&["claude-memory", "hook", "Stop", "extra"]), None);
        assert_eq!(event(&["claude-memory", "search", "hook"]), None);
        assert_eq!(event(&["claude-memory", "--json", "hook"]), None);
    }
}
