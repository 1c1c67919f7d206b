//! A call the peer made through a link: where its reply goes and how it
//! subscribes the peer's client to events, for any protocol.

use std::sync::Arc;

use afb_core::{Client, ClientCancel, Credentials, Event, Reply, ReplySink, Session, SubscribeError, Subscriber};

use crate::caller::MAX_PENDING;

/// What a link does for the calls its peer makes.
pub trait CallSide: Send + Sync + 'static {
    /// Sends the reply of call `callid`.
    fn reply(&self, callid: u16, reply: Reply);
    /// Call `callid` subscribes the peer's client to `event`.
    fn subscribe(&self, callid: u16, event: &Event) -> Result<(), SubscribeError>;
    /// Call `callid` unsubscribes the peer's client from `event`.
    fn unsubscribe(&self, callid: u16, event: &Event) -> Result<(), SubscribeError>;
    /// The address of the peer (TCP links), shown in the client info.
    fn remote(&self) -> Option<std::net::SocketAddr> {
        None
    }
}

/// Call `callid` of the peer of `link`: the reply sink and the subscriber
/// of the request it runs.
pub struct PeerCall<L> {
    /// The link.
    pub link: Arc<L>,
    /// The peer's id of the call.
    pub callid: u16,
}

impl<L: CallSide> ReplySink for PeerCall<L> {
    fn reply(self: Box<Self>, reply: Reply) {
        self.link.reply(self.callid, reply)
    }
}

impl<L: CallSide> Subscriber for PeerCall<L> {
    fn subscribe(&self, event: &Event) -> Result<(), SubscribeError> {
        self.link.subscribe(self.callid, event)
    }

    fn unsubscribe(&self, event: &Event) -> Result<(), SubscribeError> {
        self.link.unsubscribe(self.callid, event)
    }
}

impl<L: CallSide> PeerCall<L> {
    /// The client of call `callid` of the peer of `link` (its session,
    /// token and credentials as resolved by the protocol), and where its
    /// reply goes. `gone` is cancelled when the link ends.
    pub fn client(
        link: &Arc<L>,
        callid: u16,
        session: Arc<Session>,
        token: Option<Arc<str>>,
        creds: Option<Arc<Credentials>>,
        gone: &ClientCancel,
    ) -> (Client, Box<dyn ReplySink>) {
        let call = || PeerCall {
            link: link.clone(),
            callid,
        };
        let client = Client {
            session,
            token,
            subscriber: Some(Arc::new(call())),
            creds,
            cancel: Some(gone.clone()),
            transport: afb_core::Transport::Internal,
            remote: link.remote(),
        };
        (client, Box::new(call()))
    }
}

/// The calls of the peer running at once on a link.
#[derive(Debug)]
pub struct Inflight {
    running: usize,
    max: usize,
}

/// Whether a call of the peer may run.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// It runs (call [`Inflight::done`] when it replied).
    Run,
    /// Too many run: answer `not-available` with this reason.
    Busy(String),
}

impl Inflight {
    /// At most `max` calls (and at most [`MAX_PENDING`]).
    pub fn new(max: usize) -> Inflight {
        Inflight {
            running: 0,
            max: max.min(MAX_PENDING),
        }
    }

    /// One more call; beyond `max`, [`Admit::Busy`] when `limited` (calls),
    /// always admitted otherwise (descriptions). Beyond [`MAX_PENDING`] the
    /// peer ignores the protocol's bound: an error that ends the link.
    pub fn admit(&mut self, limited: bool) -> Result<Admit, String> {
        if self.running >= MAX_PENDING {
            return Err(format!("more than {MAX_PENDING} calls in progress"));
        }
        if limited && self.running >= self.max {
            return Ok(Admit::Busy(format!(
                "too many calls in progress on this link ({})",
                self.max
            )));
        }
        self.running += 1;
        Ok(Admit::Run)
    }

    /// A call replied.
    pub fn done(&mut self) {
        self.running = self.running.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission() {
        let mut n = Inflight::new(2);
        assert_eq!(n.admit(true), Ok(Admit::Run));
        assert_eq!(n.admit(true), Ok(Admit::Run));
        assert!(matches!(n.admit(true), Ok(Admit::Busy(_))));
        assert_eq!(n.admit(false), Ok(Admit::Run), "descriptions are not limited");
        n.done();
        n.done();
        assert_eq!(n.admit(true), Ok(Admit::Run));
        let mut full = Inflight::new(usize::MAX);
        for _ in 0..MAX_PENDING {
            assert_eq!(full.admit(true), Ok(Admit::Run));
        }
        assert!(full.admit(false).is_err());
    }
}
