pub mod admission;
pub mod handler;
pub mod server;
