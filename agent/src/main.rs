use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use serialmesh_agent::run::{run, StartError};
use serialmesh_config::{error_chain, init_logging, AgentConfig, DeviceConfig, LogFormat};
use serialmesh_proto::LineSettings;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Shares this host's serial devices over mutual TLS.
#[derive(Parser)]
#[command(name = "seriald", version)]
struct Cli {
    /// Agent config (TOML). Without it, built-in defaults apply.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Also share a built-in echo device named `demo` (a pseudo-terminal),
    /// for trying serialmesh without hardware.
    #[arg(long)]
    demo: bool,
    /// Log output format.
    #[arg(long, value_enum, default_value_t = LogFormat::Plain)]
    log_format: LogFormat,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, "info");
    let host = host_name();
    let config = match &cli.config {
        Some(path) => AgentConfig::load(path, &host),
        None => serialmesh_config::parse_agent("", std::path::Path::new("<defaults>"), &host),
    };
    let mut config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("seriald: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.demo {
        if config.devices.iter().any(|d| d.name == "demo") {
            eprintln!("seriald: --demo adds a device named 'demo', but the config already has one; rename it");
            return ExitCode::from(2);
        }
        match serialmesh_agent::demo::start() {
            Ok(path) => config.devices.push(DeviceConfig {
                name: "demo".into(),
                path,
                settings: LineSettings::default(),
                takeover: false,
            }),
            Err(e) => {
                eprintln!("seriald: cannot create the demo device: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("seriald: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let signals = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            info!("shutting down");
            signals.cancel();
        });
        match run(config, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(StartError::Config(e)) => {
                eprintln!("seriald: {}", error_chain(e.as_ref()));
                ExitCode::from(2)
            }
            Err(StartError::Runtime(e)) => {
                eprintln!("seriald: {}", error_chain(e.as_ref()));
                ExitCode::from(1)
            }
        }
    })
}

async fn wait_for_signal() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the default action (exit) still applies.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Host names can hold dots and other characters that are not valid in
/// agent names; keep the first label, sanitised.
fn host_name() -> String {
    let raw = gethostname::gethostname().to_string_lossy().into_owned();
    let label = raw.split('.').next().unwrap_or("");
    let clean: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    if clean.is_empty() {
        "agent".into()
    } else {
        clean
    }
}
