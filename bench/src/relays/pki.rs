//! Certificates for the mutual-TLS relays, made with our own
//! `serialctl pki` (the same files socat's OpenSSL and seriald load).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub const AGENT_NAME: &str = "bench-agent";
pub const ZONE: &str = "bench";
pub const CLIENT_NAME: &str = "bench-client";

/// One certificate, its key and the CA it chains to.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Pki {
    pub agent: CertFiles,
    pub client: CertFiles,
}

impl Pki {
    /// A throwaway CA in `dir/ca` and an agent and a client certificate.
    pub fn create(serialctl: &Path, dir: &Path) -> Result<Self> {
        let ca_dir = dir.join("ca");
        run(
            serialctl,
            &["pki", "init", "--dir", &display(&ca_dir)],
            "pki init",
        )?;
        let agent_out = dir.join("agent");
        run(
            serialctl,
            &[
                "pki",
                "issue",
                "--dir",
                &display(&ca_dir),
                "--role",
                "agent",
                "--name",
                AGENT_NAME,
                "--zone",
                ZONE,
                "--out",
                &display(&agent_out),
            ],
            "pki issue (agent)",
        )?;
        let client_out = dir.join("client");
        run(
            serialctl,
            &[
                "pki",
                "issue",
                "--dir",
                &display(&ca_dir),
                "--role",
                "client",
                "--name",
                CLIENT_NAME,
                "--out",
                &display(&client_out),
            ],
            "pki issue (client)",
        )?;
        let files = |out: &Path, name: &str| CertFiles {
            cert: out.join(format!("{name}.pem")),
            key: out.join(format!("{name}.key")),
            ca: out.join("ca.pem"),
        };
        Ok(Self {
            agent: files(&agent_out, AGENT_NAME),
            client: files(&client_out, CLIENT_NAME),
        })
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

fn run(program: &Path, args: &[&str], what: &str) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "serialctl {what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
