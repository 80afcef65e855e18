use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use serialmesh_client::cli::{Cli, Command};
use serialmesh_client::{connect, doctor, ls, pki_cmd, sidecar, UsageError};
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
        Command::Pki(cmd) => pki_cmd::run(cmd),
        Command::Connect(args) => serve(|shutdown| connect::run(args, shutdown)),
        Command::Ls(args) => serve(|shutdown| ls::run(args, shutdown)),
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
            .map_err(|e| UsageError(format!("{e}; give an existing directory with --dir")).into()),
        Command::Doctor(args) => match serve(|_| doctor::run(args)) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serialctl: {}", error_chain(e.as_ref()));
            let usage = e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<serialmesh_pki::PkiError>().is_some();
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// Runs a long-lived command until it ends or SIGTERM/SIGINT stops it.
fn serve<F, Fut, T>(command: F) -> anyhow::Result<T>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
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
