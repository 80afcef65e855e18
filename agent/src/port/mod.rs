pub mod hold;
pub mod line_control;
pub mod serial;
pub mod session;
