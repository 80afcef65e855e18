//! Command line of `serialctl` (the contract in docs/design.md, "Command line").

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serialmesh_observe::LogFormat;

#[derive(Parser)]
#[command(
    name = "serialctl",
    version,
    about = "Reach serialmesh devices and manage certificates"
)]
pub struct Cli {
    /// Log output format (logs go to stderr).
    #[arg(long, value_parser = serialmesh_cli::log_format(), default_value = "plain", global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Make and inspect certificates.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Expose one device as a local endpoint, in the foreground.
    Connect(ConnectArgs),
    /// List every zone, agent and device, and who is using each.
    Ls(crate::ls::LsArgs),
    /// Serve every [[endpoint]] of a client config (beside a gateway).
    Sidecar {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Serve /healthz, /readyz and /metrics here (overrides `admin`).
        #[arg(long, value_name = "HOST:PORT")]
        admin: Option<SocketAddr>,
        /// Check the config and its TLS files, print the endpoints and
        /// exit: 0 when the sidecar would start, 2 when not. Binds nothing.
        #[arg(long)]
        check: bool,
    },
    /// Check this client's setup and the agents it would use, and say what
    /// to fix: config, certificates, key permissions, agents, mDNS, clock.
    Doctor(crate::doctor::DoctorArgs),
    /// Print the shell completion script for SHELL.
    Completions {
        #[arg(value_enum)]
        shell: serialmesh_cli::Shell,
    },
    /// Write man pages (serialctl.1, serialctl-SUBCOMMAND.1) into DIR.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum PkiCommand {
    /// Create a new CA: DIR/ca.pem and DIR/ca.key (keep it off the hosts).
    Init {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Issue a certificate for an agent or a client.
    Issue {
        /// Directory holding the CA (from `pki init`).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long)]
        name: String,
        #[arg(long)]
        zone: Option<String>,
        /// Where to write NAME.pem, NAME.key and ca.pem.
        #[arg(long, value_name = "OUT")]
        out: PathBuf,
    },
    /// Print a certificate's subject, role, key fingerprint (the value to
    /// revoke and pin) and validity.
    Show { file: PathBuf },
    /// Add the fingerprint of a certificate's key to a revoked file (DIR/revoked.txt,
    /// or --file); agents reading it refuse the certificate at once.
    #[command(group(clap::ArgGroup::new("where").required(true).args(["dir", "file"])))]
    #[command(group(clap::ArgGroup::new("what").required(true).args(["cert", "fingerprint"])))]
    Revoke {
        /// The CA directory: writes DIR/revoked.txt.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The revoked file to write instead (e.g. an agent's own copy).
        #[arg(long, value_name = "FILE", conflicts_with = "dir")]
        file: Option<PathBuf>,
        /// The certificate to revoke (its .pem).
        #[arg(value_name = "CERT.pem")]
        cert: Option<PathBuf>,
        /// Its key fingerprint instead (spki:HEX or sha256//BASE64), as
        /// `serialctl pki show` prints it.
        #[arg(long, value_name = "HEX", conflicts_with = "cert")]
        fingerprint: Option<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Agent,
    Client,
}

#[derive(Args)]
pub struct ConnectArgs {
    /// Device address: NAME@ZONE, NAME@AGENT or NAME.
    pub address: String,
    /// Serve the device on this local TCP address (e.g. 127.0.0.1:5000).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "pty")]
    pub tcp: Option<SocketAddr>,
    /// The TCP endpoint speaks RFC 2217 (telnet COM-PORT-OPTION): clients
    /// such as pyserial's rfc2217:// set baud rate, framing, flow control,
    /// DTR/RTS and break on the device.
    #[arg(long)]
    pub rfc2217: bool,
    /// Accept TCP connections only from this local user (a name or a
    /// numeric uid); repeat for more. Needs a loopback --tcp address.
    #[arg(long, value_name = "USER")]
    pub allow_user: Vec<String>,
    /// Serve the device on a pty, symlinked at PATH (e.g.
    /// /run/serialmesh/ttyZWAVE), in a directory nobody else can write.
    #[arg(long, value_name = "PATH")]
    pub pty: Option<PathBuf>,
    /// Give the pty to this user (a name or a numeric uid; default: the
    /// user running serialctl). Mode 0600: nobody else can open it.
    #[arg(long, value_name = "USER")]
    pub pty_owner: Option<String>,
    /// Agent to use, as HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub agent: Option<String>,
    /// Serve /healthz, /readyz and /metrics here.
    #[arg(long, value_name = "HOST:PORT")]
    pub admin: Option<SocketAddr>,
    /// Accept only the agent whose key has this fingerprint (spki:HEX)
    /// (as `serialctl pki show` prints it).
    #[arg(long, value_name = "HEX")]
    pub agent_fingerprint: Option<String>,
    /// Accept only the device with this USB serial number (as `serialctl
    /// ls` shows it): another device under the address is refused, and the
    /// endpoint keeps retrying as for an absent one.
    #[arg(long, value_name = "SERIAL")]
    pub expect_serial: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Args)]
pub struct TlsArgs {
    /// This client's certificate.
    #[arg(long, value_name = "FILE", requires_all = ["key", "ca"], conflicts_with = "config")]
    pub cert: Option<PathBuf>,
    /// This client's private key (mode 0600).
    #[arg(long, value_name = "FILE", requires_all = ["cert", "ca"])]
    pub key: Option<PathBuf>,
    /// The CA certificate agents must chain to.
    #[arg(long, value_name = "FILE", requires_all = ["cert", "key"])]
    pub ca: Option<PathBuf>,
    /// Client config whose [tls] table (and seeds, revoked agents) to use.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Refuse agent certificates listed in FILE (written by `serialctl
    /// pki revoke`); re-read when it changes.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub revoked_file: Option<PathBuf>,
}
