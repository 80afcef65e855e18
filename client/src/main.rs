//! `serialctl`: parses the command line, runs the command, and ends with
//! the exit status the command's [`Error`] carries (1 or 2).

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use serialmesh_client::cmd::{connect, doctor, ls, pki, sidecar};
use serialmesh_client::{Error, Result};
use serialmesh_observe::{error_chain, init_logging};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // pki commands print their own results; their logs are only warnings.
    let level = if matches!(
        cli.command,
        Command::Pki(_) | Command::Ls(_) | Command::Doctor(_)
    ) {
        "warn"
    } else {
        "info"
    };
    init_logging(cli.log_format, level);
    let result = match cli.command {
        Command::Pki(cmd) => pki::run(cmd.into()),
        Command::Connect(args) => connect::Request::try_from(args)
            .and_then(|request| serve(|shutdown| connect::run(request, shutdown))),
        Command::Ls(args) => serve(|shutdown| ls::run(args.into(), shutdown)),
        Command::Sidecar {
            config,
            check: true,
            ..
        } => sidecar::check(&config),
        Command::Sidecar { config, admin, .. } => {
            serve(|shutdown| async move { sidecar::run(&config, admin, shutdown).await })
        }
        Command::Completions { shell } => {
            serialmesh_cli::completions(Cli::command(), shell, &mut std::io::stdout());
            Ok(())
        }
        Command::Man { dir } => serialmesh_cli::man_pages(Cli::command(), &dir)
            .map(|files| {
                for f in files {
                    println!("{}", f.display());
                }
            })
            .map_err(|source| Error::usage(ManDir { source })),
        Command::Doctor(args) => match serve(|_| async { Ok(doctor::run(args.into()).await) }) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serialctl: {}", error_chain(&e));
            ExitCode::from(e.exit_status())
        }
    }
}

/// Runs a long-lived command until it ends or SIGTERM/SIGINT stops it.
fn serve<F, Fut, T>(command: F) -> Result<T>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        command(shutdown).await
    })
}

async fn cancel_on_signal(token: CancellationToken) {
    if let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down");
        token.cancel();
    }
}

/// `man --dir DIR` could not write there.
#[derive(Debug, thiserror::Error)]
#[error("{source}; give an existing directory with --dir")]
struct ManDir {
    source: std::io::Error,
}
