//! Opening a serial device at its line settings, and changing them later.

use std::io;
use std::path::Path;

use serialmesh_proto::{DataBits, FlowControl, LineSettings, Parity, StopBits};
use tokio_serial::{ClearBuffer, SerialPort, SerialPortBuilderExt, SerialStream};
use tracing::debug;

/// Opens `path` exclusively, in raw mode, at `settings`.
///
/// Input that queued up while nobody had the port open is discarded: a
/// client that attaches now must not receive frames meant for a previous one.
pub fn open(path: &Path, settings: &LineSettings) -> io::Result<SerialStream> {
    let mut port = tokio_serial::new(path.to_string_lossy(), settings.baud)
        .data_bits(data_bits(settings.data_bits))
        .parity(parity(settings.parity))
        .stop_bits(stop_bits(settings.stop_bits))
        .flow_control(flow_control(settings.flow_control))
        .open_native_async()
        .map_err(io::Error::from)?;
    if let Err(e) = port.clear(ClearBuffer::Input) {
        debug!(path = %path.display(), error = %e, "could not discard stale input");
    }
    apply_modem_lines(&mut port, settings, path);
    Ok(port)
}

/// Applies new line settings to an open port (a client changed them).
pub fn apply(port: &mut SerialStream, settings: &LineSettings, path: &Path) -> io::Result<()> {
    port.set_baud_rate(settings.baud)?;
    port.set_data_bits(data_bits(settings.data_bits))?;
    port.set_parity(parity(settings.parity))?;
    port.set_stop_bits(stop_bits(settings.stop_bits))?;
    port.set_flow_control(flow_control(settings.flow_control))?;
    apply_modem_lines(port, settings, path);
    Ok(())
}

/// Pseudo-terminals and some adapters have no modem lines; that is not an
/// error worth refusing a session over.
fn apply_modem_lines(port: &mut SerialStream, settings: &LineSettings, path: &Path) {
    if let Some(dtr) = settings.dtr {
        if let Err(e) = port.write_data_terminal_ready(dtr) {
            debug!(path = %path.display(), error = %e, "device has no DTR line; ignored");
        }
    }
    if let Some(rts) = settings.rts {
        if let Err(e) = port.write_request_to_send(rts) {
            debug!(path = %path.display(), error = %e, "device has no RTS line; ignored");
        }
    }
}

fn data_bits(v: DataBits) -> tokio_serial::DataBits {
    match v {
        DataBits::Five => tokio_serial::DataBits::Five,
        DataBits::Six => tokio_serial::DataBits::Six,
        DataBits::Seven => tokio_serial::DataBits::Seven,
        DataBits::Eight => tokio_serial::DataBits::Eight,
    }
}

fn parity(v: Parity) -> tokio_serial::Parity {
    match v {
        Parity::None => tokio_serial::Parity::None,
        Parity::Odd => tokio_serial::Parity::Odd,
        Parity::Even => tokio_serial::Parity::Even,
    }
}

fn stop_bits(v: StopBits) -> tokio_serial::StopBits {
    match v {
        StopBits::One => tokio_serial::StopBits::One,
        StopBits::Two => tokio_serial::StopBits::Two,
    }
}

fn flow_control(v: FlowControl) -> tokio_serial::FlowControl {
    match v {
        FlowControl::None => tokio_serial::FlowControl::None,
        FlowControl::Software => tokio_serial::FlowControl::Software,
        FlowControl::Hardware => tokio_serial::FlowControl::Hardware,
    }
}
