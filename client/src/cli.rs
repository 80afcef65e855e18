//! Command line of `serialctl` (the contract in docs/design.md, "Command line").
//!
//! The only place clap's types live: each command's arguments are turned
//! into its library request type here (the `From` impls at the end), so the
//! library never depends on how the command line spells things. Checks
//! that are about the flags themselves (which go together, which exclude
//! each other) are made here too, with messages that name the flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serialmesh_client::cmd::pki::revoke::{self, Revoke};
use serialmesh_client::cmd::{connect, doctor, ls, pki};
use serialmesh_client::dial::serial_pin;
use serialmesh_client::dial::setup::TlsSource;
use serialmesh_client::endpoint::{Local, Wire};
use serialmesh_client::Error;
use serialmesh_config::{Address, LocalUser, LocalUsers, TlsConfig};
use serialmesh_observe::LogFormat;
use serialmesh_pki::Role;

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
    Ls(LsArgs),
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
    Doctor(DoctorArgs),
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

/// `serialctl ls [--json] [--watch] [--seed HOST:PORT]... [--config FILE]`
#[derive(clap::Args)]
pub struct LsArgs {
    /// Print JSON for scripts (schema: docs/ls-json.md) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Keep running and print again whenever something changes (with
    /// --json: one JSON document per line).
    #[arg(long)]
    pub watch: bool,
    /// Also ask the agent at HOST:PORT, for networks mDNS does not reach;
    /// repeatable, added to the config's seeds.
    #[arg(long = "seed", value_name = "HOST:PORT")]
    pub seeds: Vec<String>,
    /// Accept only the agent certificate with this SHA-256 fingerprint;
    /// every other agent is listed as unreachable, with the reason.
    #[arg(long, value_name = "HEX")]
    pub agent_fingerprint: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// `serialctl doctor [--config FILE | --cert/--key/--ca] [--agent HOST:PORT]...`
#[derive(clap::Args)]
pub struct DoctorArgs {
    /// Also check the agent at HOST:PORT (repeatable). The config's
    /// endpoint agents and seeds are checked too; with none of these, the
    /// agents that answer on mDNS are.
    #[arg(long = "agent", value_name = "HOST:PORT")]
    pub agents: Vec<String>,
    /// Client config to check (its [tls], seeds and endpoints).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "key", "ca"])]
    pub config: Option<PathBuf>,
    /// This client's certificate.
    #[arg(long, value_name = "FILE", requires_all = ["key", "ca"])]
    pub cert: Option<PathBuf>,
    /// This client's private key.
    #[arg(long, value_name = "FILE", requires_all = ["cert", "ca"])]
    pub key: Option<PathBuf>,
    /// The CA certificate agents must chain to.
    #[arg(long, value_name = "FILE", requires_all = ["cert", "key"])]
    pub ca: Option<PathBuf>,
    /// Agent certificates this client refuses (as `connect --revoked-file`),
    /// so a revoked agent is reported as refused, not as fine.
    #[arg(long, value_name = "FILE", requires_all = ["cert", "key", "ca"])]
    pub revoked_file: Option<PathBuf>,
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

impl From<TlsArgs> for Option<TlsSource> {
    /// clap lets through all of --cert, --key and --ca (with or without
    /// --revoked-file), or --config alone, or neither; neither is `None`.
    fn from(args: TlsArgs) -> Option<TlsSource> {
        match (args.cert, args.key, args.ca, args.config) {
            (Some(cert), Some(key), Some(ca), None) => Some(TlsSource::Files {
                tls: TlsConfig { cert, key, ca },
                revoked_file: args.revoked_file,
            }),
            (None, None, None, Some(path)) => Some(TlsSource::Config(path)),
            _ => None,
        }
    }
}

impl TryFrom<ConnectArgs> for connect::Request {
    type Error = Error;

    /// The address, then what the endpoint is, then who may use it; each
    /// message names the flag to change (clap has already refused --tcp
    /// with --pty).
    fn try_from(a: ConnectArgs) -> Result<connect::Request, Error> {
        let address: Address = a.address.parse().map_err(Error::usage)?;
        if a.rfc2217 && a.tcp.is_none() {
            return Err(Error::usage(
                "--rfc2217 needs a TCP endpoint: give --tcp HOST:PORT (a pty carries line settings through its termios)",
            ));
        }
        if !a.allow_user.is_empty() && a.tcp.is_none() {
            return Err(Error::usage(
                "--allow-user needs a TCP endpoint: give --tcp 127.0.0.1:PORT (a pty is guarded by its owner and mode 0600; see --pty-owner)",
            ));
        }
        if a.pty_owner.is_some() && a.pty.is_none() {
            return Err(Error::usage(
                "--pty-owner needs a pty endpoint: give --pty PATH (for a TCP endpoint, --allow-user USER limits who may connect)",
            ));
        }
        let local = match (a.tcp, a.pty) {
            (Some(listen), None) => Local::Tcp {
                listen,
                users: local_users("--allow-user", &a.allow_user)?,
                wire: if a.rfc2217 { Wire::Rfc2217 } else { Wire::Raw },
            },
            (None, Some(link)) => Local::Pty {
                link,
                owner: a
                    .pty_owner
                    .as_deref()
                    .map(|o| {
                        o.parse()
                            .map_err(|m| Error::usage(format!("--pty-owner: {m}")))
                    })
                    .transpose()?,
            },
            _ => {
                return Err(Error::usage(
                    "give one local endpoint: --tcp HOST:PORT (e.g. --tcp 127.0.0.1:5000) or --pty PATH (e.g. --pty /dev/ttyZWAVE)",
                ))
            }
        };
        let expect_serial = a
            .expect_serial
            .as_deref()
            .map(|s| serial_pin::parse("--expect-serial", s))
            .transpose()
            .map_err(Error::usage)?;
        Ok(connect::Request {
            address,
            local,
            expect_serial,
            agent: a.agent,
            admin: a.admin,
            agent_fingerprint: a.agent_fingerprint,
            tls: a.tls.into(),
        })
    }
}

/// `--allow-user` values: nobody named means anyone may connect.
fn local_users(what: &str, users: &[String]) -> Result<LocalUsers, Error> {
    if users.is_empty() {
        return Ok(LocalUsers::Anyone);
    }
    let users = users
        .iter()
        .map(|u| {
            u.parse::<LocalUser>()
                .map_err(|m| Error::usage(format!("{what}: {m}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(LocalUsers::Only(users))
}

impl From<LsArgs> for ls::Request {
    fn from(a: LsArgs) -> ls::Request {
        ls::Request {
            json: a.json,
            watch: a.watch,
            seeds: a.seeds,
            agent_fingerprint: a.agent_fingerprint,
            tls: a.tls.into(),
        }
    }
}

impl From<DoctorArgs> for doctor::Request {
    fn from(a: DoctorArgs) -> doctor::Request {
        let tls = match (a.config, a.cert, a.key, a.ca) {
            (Some(path), ..) => Some(TlsSource::Config(path)),
            (None, Some(cert), Some(key), Some(ca)) => Some(TlsSource::Files {
                tls: TlsConfig { cert, key, ca },
                revoked_file: a.revoked_file,
            }),
            _ => None,
        };
        doctor::Request {
            agents: a.agents,
            tls,
        }
    }
}

impl From<PkiCommand> for pki::Command {
    fn from(cmd: PkiCommand) -> pki::Command {
        match cmd {
            PkiCommand::Init { dir } => pki::Command::Init { dir },
            PkiCommand::Issue {
                dir,
                role,
                name,
                zone,
                out,
            } => pki::Command::Issue {
                dir,
                role: match role {
                    RoleArg::Agent => Role::Agent,
                    RoleArg::Client => Role::Client,
                },
                name,
                zone,
                out,
            },
            PkiCommand::Show { file } => pki::Command::Show { file },
            PkiCommand::Revoke {
                dir,
                file,
                cert,
                fingerprint,
            } => pki::Command::Revoke(Revoke {
                file: match (file, dir) {
                    (Some(f), _) => f,
                    (None, Some(d)) => d.join(revoke::DEFAULT_FILE),
                    (None, None) => unreachable!("clap requires --dir or --file"),
                },
                what: match (cert, fingerprint) {
                    (Some(c), _) => revoke::Target::Cert(c),
                    (None, Some(f)) => revoke::Target::Fingerprint(f),
                    (None, None) => unreachable!("clap requires CERT.pem or --fingerprint"),
                },
            }),
        }
    }
}
