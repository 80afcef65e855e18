//! Opening a serial device at its line settings, and changing them later.
//!
//! Ports are opened with mio-serial (the layer under tokio-serial) and
//! driven by [`TtyIo`], which registers them with the runtime for reading
//! only: tokio-serial's registration for reading and writing woke the agent
//! twice more per small write (see `serialmesh_io::TtyIo`).

use std::io;
use std::path::Path;

use mio_serial::{ClearBuffer, SerialPort, SerialStream};
use serialmesh_io::TtyIo;
use serialmesh_proto::{DataBits, FlowControl, LineSettings, Parity, StopBits};
use tracing::{debug, warn};

/// Opens `path` exclusively, in raw mode, at `settings`; also returns how
/// many bytes of stale input were discarded.
///
/// Input that queued up while nobody had the port open is discarded: a
/// client that attaches now must not receive frames meant for a previous one.
/// It is device output lost while no client was attached, so it is counted.
///
/// The open runs on a blocking thread: opening a USB adapter means control
/// transfers that a struggling device can stretch to seconds.
pub async fn open(path: &Path, settings: &LineSettings) -> io::Result<(Tty, u64)> {
    let (owned, settings) = (path.to_path_buf(), *settings);
    let (port, stale) = tokio::task::spawn_blocking(move || open_blocking(&owned, &settings))
        .await
        .map_err(io::Error::other)??;
    Ok((TtyIo::new(port)?, stale))
}

fn open_blocking(path: &Path, settings: &LineSettings) -> io::Result<(SerialStream, u64)> {
    let builder = mio_serial::new(path.to_string_lossy(), settings.baud)
        .data_bits(data_bits(settings.data_bits))
        .parity(parity(settings.parity))
        .stop_bits(stop_bits(settings.stop_bits))
        .flow_control(flow_control(settings.flow_control));
    let mut port = SerialStream::open(&builder).map_err(io::Error::from)?;
    let stale = drain_stale(&port);
    if let Err(e) = port.clear(ClearBuffer::Input) {
        debug!(path = %path.display(), error = %e, "could not discard stale input");
    }
    apply_modem_lines(&mut port, settings, path);
    Ok((port, stale))
}

/// Closes `port` on a blocking thread, then drops `guard`. Closing a tty
/// waits until its output has drained, up to the driver's closing_wait
/// (30 s for USB serial): a port stalled by flow control, or slow at 9600
/// baud with a buffer full, must not stall every other session with it.
pub async fn close<P: Send + 'static, G: Send + 'static>(port: P, guard: G) {
    let closed = tokio::task::spawn_blocking(move || {
        drop(port);
        drop(guard);
    });
    if let Err(e) = closed.await {
        warn!(error = %e, "closing the port failed");
    }
}

/// An open serial device: its settings through [`TtyIo::get_mut`].
pub type Tty = TtyIo<SerialStream>;

/// Reads and discards what is waiting, returning the count. Reading
/// rather than only flushing sees everything the driver holds (TIOCINQ
/// reports only the line discipline's 4 KiB, not the driver's buffers),
/// and is bounded so a device that never stops talking cannot hold us.
fn drain_stale(port: &SerialStream) -> u64 {
    use std::os::fd::AsRawFd;
    let fd = port.as_raw_fd();
    let mut buf = [0u8; 4096];
    let mut total = 0u64;
    while total < 1 << 20 {
        // SAFETY: read(2) into a local buffer of the given length on the
        // port's descriptor, which mio opened non-blocking.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        total += n as u64;
    }
    total
}

/// Applies new line settings to an open port (a client changed them).
pub fn apply(port: &mut Tty, settings: &LineSettings, path: &Path) -> io::Result<()> {
    let port = port.get_mut();
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

fn data_bits(v: DataBits) -> mio_serial::DataBits {
    match v {
        DataBits::Five => mio_serial::DataBits::Five,
        DataBits::Six => mio_serial::DataBits::Six,
        DataBits::Seven => mio_serial::DataBits::Seven,
        DataBits::Eight => mio_serial::DataBits::Eight,
    }
}

fn parity(v: Parity) -> mio_serial::Parity {
    match v {
        Parity::None => mio_serial::Parity::None,
        Parity::Odd => mio_serial::Parity::Odd,
        Parity::Even => mio_serial::Parity::Even,
    }
}

fn stop_bits(v: StopBits) -> mio_serial::StopBits {
    match v {
        StopBits::One => mio_serial::StopBits::One,
        StopBits::Two => mio_serial::StopBits::Two,
    }
}

fn flow_control(v: FlowControl) -> mio_serial::FlowControl {
    match v {
        FlowControl::None => mio_serial::FlowControl::None,
        FlowControl::Software => mio_serial::FlowControl::Software,
        FlowControl::Hardware => mio_serial::FlowControl::Hardware,
    }
}

#[cfg(test)]
#[path = "serial_tests.rs"]
mod tests;
