mod devices_cmd;
mod devices_pins;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use serialmesh_agent::authz::reload::{ConfigFile, ConfigSource};
use serialmesh_agent::failure::Failure;
use serialmesh_agent::run::run;
use serialmesh_agent::usb::DiscoveryConfig;
use serialmesh_config::{AgentConfig, DeviceConfig};
use serialmesh_observe::{init_logging, LogFormat};
use serialmesh_proto::LineSettings;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Shares this host's serial devices over mutual TLS.
#[derive(Parser)]
#[command(name = "seriald", version)]
struct Cli {
    /// Agent config (TOML). Without it, built-in defaults apply.
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Also share a built-in echo device named `demo` (a pseudo-terminal),
    /// for trying serialmesh without hardware.
    #[arg(long)]
    demo: bool,
    /// Check the config and its TLS files (certificate, key and its mode,
    /// CA), print what they amount to and exit: 0 when the agent would
    /// start, 2 when not. Binds nothing.
    #[arg(long, conflicts_with = "demo")]
    check: bool,
    /// Log output format.
    #[arg(long, value_parser = serialmesh_cli::log_format(), default_value = "plain", global = true)]
    log_format: LogFormat,
    /// Without a command, run the agent.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// List the serial devices discovery finds, the profile each matched
    /// (or why none did) and the name it would be shared under. Shares
    /// nothing; with --config, that file's profiles and share_unknown apply.
    Devices {
        /// Where sysfs is mounted [default: the config's `sysfs`, else /sys]
        #[arg(long, value_name = "DIR")]
        sysfs: Option<PathBuf>,
        /// Print a JSON array instead of a table.
        #[arg(long, conflicts_with = "pins")]
        json: bool,
        /// Print only a [[profile]] pin for each device: TOML to paste
        /// into the agent config, so each keeps its bare name for good.
        #[arg(long)]
        pins: bool,
    },
    /// Print the shell completion script for SHELL.
    Completions {
        #[arg(value_enum)]
        shell: serialmesh_cli::Shell,
    },
    /// Write man pages (seriald.1, seriald-SUBCOMMAND.1) into DIR.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    match seriald(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("seriald: {failure}");
            ExitCode::from(failure.exit_status())
        }
    }
}

fn seriald(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Some(Command::Completions { shell }) => {
            serialmesh_cli::completions(Cli::command(), *shell, &mut std::io::stdout());
            return Ok(());
        }
        Some(Command::Man { dir }) => {
            let files = serialmesh_cli::man_pages(Cli::command(), dir).map_err(Failure::ManDir)?;
            for f in files {
                println!("{}", f.display());
            }
            return Ok(());
        }
        _ => {}
    }
    init_logging(cli.log_format, "info");
    let mut config = match &cli.config {
        Some(path) => AgentConfig::load(path),
        None => serialmesh_config::parse_agent("", std::path::Path::new("<defaults>")),
    }?;
    if let Some(Command::Devices { sysfs, json, pins }) = cli.command {
        let format = match (json, pins) {
            (true, _) => devices_cmd::Format::Json,
            (_, true) => devices_cmd::Format::Pins,
            _ => devices_cmd::Format::Table,
        };
        return devices(&config, sysfs, format);
    }
    if cli.check {
        return check(&config, cli.config.as_deref());
    }
    if cli.demo {
        if config.devices.iter().any(|d| d.name == "demo") {
            return Err(Failure::DemoNameTaken);
        }
        let path = serialmesh_agent::demo::start().map_err(Failure::Demo)?;
        config.devices.push(DeviceConfig {
            name: "demo".into(),
            path,
            settings: LineSettings::default(),
            takeover: false,
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Failure::Runtime)?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let signals = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            info!("shutting down");
            signals.cancel();
        });
        // The demo device is added again, so a reload compares like with like.
        let demo = cli
            .demo
            .then(|| config.devices.iter().find(|d| d.name == "demo").cloned())
            .flatten();
        let source: ConfigSource = cli.config.clone().map(|path| ConfigFile {
            path: path.clone(),
            read: Box::new(move || {
                let mut reloaded = AgentConfig::load(&path)?;
                reloaded.devices.extend(demo.clone());
                Ok(reloaded)
            }),
        });
        Ok(run(config, source, shutdown).await?)
    })
}

/// `seriald --check`: the report on stdout, or the one-line error.
fn check(config: &AgentConfig, path: Option<&std::path::Path>) -> Result<(), Failure> {
    let lines = serialmesh_agent::check::check(config)?;
    let source = path.map_or("built-in defaults".into(), |p| p.display().to_string());
    println!("{source}: OK");
    for line in lines {
        println!("  {line}");
    }
    Ok(())
}

/// `seriald devices`: the config's discovery settings, `--sysfs` winning.
fn devices(
    config: &AgentConfig,
    sysfs: Option<PathBuf>,
    format: devices_cmd::Format,
) -> Result<(), Failure> {
    let mut cfg = DiscoveryConfig::from(config);
    if let Some(dir) = sysfs {
        cfg.sysfs = dir;
    }
    if !config.discovery {
        eprintln!(
            "seriald: note: the config says discovery = false, so the agent shares none of these"
        );
    }
    let reserved: Vec<String> = config.devices.iter().map(|d| d.name.clone()).collect();
    devices_cmd::run(&cfg, &reserved, format, &mut std::io::stdout().lock())
        .map_err(Failure::Devices)
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
