//! `serialctl pki ...`: thin wrappers that print what was made.

use anyhow::Result;
use serialmesh_pki::Role;

use crate::cli::{PkiCommand, RoleArg};
use crate::revoke::{Revoke, Target};

pub fn run(cmd: PkiCommand) -> Result<()> {
    match cmd {
        PkiCommand::Init { dir } => {
            let (ca, fingerprint) = serialmesh_pki::init_ca(&dir)?;
            println!("created CA {} (fingerprint {fingerprint})", ca.display());
            println!(
                "its key is {}: keep it off the hosts; agents and clients only need ca.pem",
                dir.join("ca.key").display()
            );
        }
        PkiCommand::Issue {
            dir,
            role,
            name,
            zone,
            out,
        } => {
            let role = match role {
                RoleArg::Agent => Role::Agent,
                RoleArg::Client => Role::Client,
            };
            let issued = serialmesh_pki::issue(&dir, role, &name, zone.as_deref(), &out)?;
            println!(
                "issued {role} certificate for '{name}' (fingerprint {})",
                issued.fingerprint
            );
            println!("  certificate: {}", issued.cert.display());
            println!("  key:         {} (mode 0600)", issued.key.display());
            println!("  CA:          {}", issued.ca.display());
        }
        PkiCommand::Revoke {
            dir,
            file,
            cert,
            fingerprint,
        } => {
            let file = match (file, dir) {
                (Some(f), _) => f,
                (None, Some(d)) => d.join(crate::revoke::DEFAULT_FILE),
                (None, None) => unreachable!("clap requires --dir or --file"),
            };
            let what = match (cert, fingerprint) {
                (Some(c), _) => Target::Cert(c),
                (None, Some(f)) => Target::Fingerprint(f),
                (None, None) => unreachable!("clap requires CERT.pem or --fingerprint"),
            };
            crate::revoke::run(Revoke { file, what })?;
        }
        PkiCommand::Show { file } => {
            print!("{}", serialmesh_pki::inspect(&file)?);
        }
    }
    Ok(())
}
