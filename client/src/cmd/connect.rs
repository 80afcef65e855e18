//! `serialctl connect`: one endpoint in the foreground.
//!
//! What the endpoint is comes checked (the command line's flags are
//! turned into a [`Local`] by the binary's `cli.rs`); here the users are
//! looked up, the pty directory checked, the client's certificate loaded,
//! and the route to the agent chosen, in that order, each failure a usage
//! error that names the flag to change.

use std::net::SocketAddr;
use std::sync::Arc;

use serialmesh_config::{check_host_port, Address};
use tokio_util::sync::CancellationToken;

use crate::dial::pinned::Dialers;
use crate::dial::setup::{client_setup, dialer_for, follow_own_renewals, TlsSource};
use crate::endpoint::{serve, Local, LocalEnd, Names, Spec};
use crate::resolve::{report_at_start, Resolver};
use crate::route::Route;
use crate::{Error, Result};

/// What `serialctl connect ADDRESS ...` asks for.
pub struct Request {
    pub address: Address,
    pub local: Local,
    /// `--agent HOST:PORT` as given (checked by [`run`]); without it the
    /// address is resolved.
    pub agent: Option<String>,
    pub admin: Option<SocketAddr>,
    /// `--agent-fingerprint` as given (checked by [`run`]).
    pub agent_fingerprint: Option<String>,
    /// `None`: the command line named no certificate.
    pub tls: Option<TlsSource>,
    /// `--expect-serial`, checked: the USB serial number the device must have.
    pub expect_serial: Option<String>,
}

/// How the flags of local users are named, for messages.
const FLAG_NAMES: Names = Names {
    allow_users: "--allow-user",
    pty_owner: "--pty-owner",
};

pub async fn run(args: Request, shutdown: CancellationToken) -> Result<()> {
    let local = LocalEnd::resolve(&args.local, &FLAG_NAMES)?;
    let pin = super::parse_pin(args.agent_fingerprint.as_deref())?;
    let setup = client_setup(args.tls.as_ref())?;
    setup.revocation.watch();
    follow_own_renewals(&setup.tls, shutdown.clone())?;
    let route = match args.agent {
        Some(agent) => {
            let dialer = Arc::new(dialer_for(&setup.tls, pin, &setup.revocation)?);
            check_host_port("--agent", &agent).map_err(Error::usage)?;
            Route::Fixed { agent, dialer }
        }
        None => {
            let dialers = Arc::new(Dialers::new(&setup.tls, setup.revocation.clone())?);
            let resolver = Arc::new(Resolver::new(dialers, setup.seeds, true));
            report_at_start(&resolver, &args.address);
            Route::Resolved { resolver, pin }
        }
    };
    let spec = Spec {
        address: args.address,
        local,
        route: Arc::new(route),
        expect_serial: args.expect_serial,
    };
    serve(vec![spec], args.admin, shutdown).await
}
