//! `char:PATH`: a character device (a serial line, a pseudo-terminal)
//! opened read/write, without becoming the process's controlling terminal.
//! Connect only: nothing listens on a device. The line's settings (speed,
//! raw mode) are left as they are (`stty`).

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;

/// An open character device, read and written without blocking.
///
/// Its two ends are tokio's pipe ends made from two descriptors of the one
/// open device: they poll and read or write any non-blocking descriptor,
/// a terminal as well as a FIFO, and need no `unsafe` here.
#[derive(Debug)]
pub struct CharDevice {
    rx: pipe::Receiver,
    tx: pipe::Sender,
}

/// Opens the character device at `path`.
pub(crate) fn open(path: &Path) -> io::Result<CharDevice> {
    let meta = std::fs::metadata(path)?;
    if !meta.file_type().is_char_device() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a character device", path.display()),
        ));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    let writer = file.try_clone()?;
    Ok(CharDevice {
        rx: pipe::Receiver::from_file_unchecked(file)?,
        tx: pipe::Sender::from_file_unchecked(writer)?,
    })
}

impl CharDevice {
    /// Splits into the reading and the writing end.
    pub(crate) fn into_split(self) -> (pipe::Receiver, pipe::Sender) {
        (self.rx, self.tx)
    }
}

impl AsyncRead for CharDevice {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().rx).poll_read(cx, buf)
    }
}

impl AsyncWrite for CharDevice {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tx).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tx).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tx).poll_shutdown(cx)
    }
}
