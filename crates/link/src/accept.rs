//! The accept loop of a server: until shutdown, every accepted connection
//! goes to the protocol; a failing accept (out of descriptors...) is logged
//! and retried after a pause instead of spinning. The listener (and its
//! socket file) goes when the loop ends.

use std::time::Duration;

use afb_endpoint::{Listener, PeerInfo, Stream};
use tokio_util::sync::CancellationToken;

/// Runs the accept loop of `listener` in a task; `what` names the server in logs.
pub fn accept_loop(
    listener: Listener,
    shutdown: CancellationToken,
    what: String,
    mut accepted: impl FnMut(Stream, PeerInfo) + Send + 'static,
) {
    tokio::spawn(async move {
        loop {
            let r = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = listener.accept() => r,
            };
            match r {
                Ok((stream, info)) => accepted(stream, info),
                Err(e) => {
                    tracing::warn!("{what}: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        drop(listener);
        tracing::info!("{what}: stopped");
    });
}
