//! Observability shared by `seriald` and `serialctl`: a metrics registry cheap
//! enough for the data path, the optional admin HTTP endpoint that serves
//! `/healthz`, `/readyz` and Prometheus `/metrics` (docs/design.md, "Operations"),
//! and the log output (plain or JSON on stderr).
//!
//! Every process also exports its build and its cost (`process.rs`), and
//! no family grows past a fixed number of series (`metrics.rs`): label
//! values must never follow what a peer sends (docs/observability.md).
//!
//! The admin server is hand-written HTTP/1.1, one request per connection:
//! scrapers and probes need nothing more, and it keeps hyper out of the
//! dependency tree.

mod admin;
mod exposition;
mod http;
mod logging;
mod metrics;
mod process;
mod sampled;
mod slots;

pub use admin::{bind_admin, serve_admin, serve_admin_with, AdminLimits, AdminState, Readiness};
pub use logging::{error_chain, init_logging, no_color, LogFormat};
pub use metrics::{Counter, Gauge, Kind, Metrics, MAX_SERIES_PER_FAMILY};
pub use process::{GIT_COMMIT, VERSION};
pub use sampled::{Float, Histogram};
