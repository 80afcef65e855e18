//! `serialctl pki ...`: thin wrappers that print what was made.

pub mod revoke;

use std::path::PathBuf;

use serialmesh_pki::Role;

use crate::Result;
use revoke::Revoke;

/// What `serialctl pki` was asked to do.
pub enum Command {
    /// Create a CA in `dir`.
    Init {
        dir: PathBuf,
    },
    /// Issue a certificate from the CA in `dir` into `out`.
    Issue {
        dir: PathBuf,
        role: Role,
        name: String,
        zone: Option<String>,
        out: PathBuf,
    },
    /// Print what a certificate says.
    Show {
        file: PathBuf,
    },
    Revoke(Revoke),
}

pub fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Init { dir } => {
            let (ca, fingerprint) = serialmesh_pki::init_ca(&dir)?;
            println!("created CA {} (fingerprint {fingerprint})", ca.display());
            println!(
                "its key is {}: keep it off the hosts; agents and clients only need ca.pem",
                dir.join("ca.key").display()
            );
        }
        Command::Issue {
            dir,
            role,
            name,
            zone,
            out,
        } => {
            let issued = serialmesh_pki::issue(&dir, role, &name, zone.as_deref(), &out)?;
            println!(
                "issued {role} certificate for '{name}' (fingerprint {})",
                issued.fingerprint
            );
            println!("  certificate: {}", issued.cert.display());
            println!("  key:         {} (mode 0600)", issued.key.display());
            println!("  CA:          {}", issued.ca.display());
        }
        Command::Revoke(r) => revoke::run(r)?,
        Command::Show { file } => {
            print!("{}", serialmesh_pki::inspect(&file)?);
        }
    }
    Ok(())
}
