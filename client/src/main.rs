use std::process::ExitCode;

use clap::Parser;
use serialmesh_client::cli::{Cli, Command};
use serialmesh_client::{connect, pki_cmd, UsageError};
use serialmesh_config::init_logging;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // pki commands print their own results; their logs are only warnings.
    let level = if matches!(cli.command, Command::Pki(_)) {
        "warn"
    } else {
        "info"
    };
    init_logging(cli.log_format, level);
    let result = match cli.command {
        Command::Pki(cmd) => pki_cmd::run(cmd),
        Command::Connect(args) => runtime().and_then(|rt| {
            rt.block_on(async {
                let shutdown = CancellationToken::new();
                tokio::spawn(cancel_on_signal(shutdown.clone()));
                connect::run(args, shutdown).await
            })
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serialctl: {e:#}");
            let usage = e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<serialmesh_pki::PkiError>().is_some();
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
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
