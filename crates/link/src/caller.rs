//! The calling side of a link: the calls sent and not answered yet (their
//! ids, deadlines, and the ones answered here after their timeout, whose id
//! stays taken until the peer's late reply), the sessions and tokens
//! declared to the peer, and the timer that expires calls.

// Keys are ids this binder picks (16 bits): the fast hasher is safe here.
use hashbrown::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use afb_core::{status, Client, Request};
use tokio::time::Instant;

use crate::ids::{alloc_id, SessionIds, TokenIds};
use crate::peer::export_creds;

/// Calls one link may have waiting for the peer (both protocols' bound).
pub const MAX_PENDING: usize = 4095;

/// How a protocol announces declarations to its peer.
pub trait Declare {
    /// Session `id` is `uuid` from now on.
    fn session(&self, id: u16, uuid: &str);
    /// Session `id` is gone.
    fn forget_session(&self, id: u16);
    /// Token `id` is `token` from now on.
    fn token(&self, id: u16, token: &str);
    /// Token `id` is gone.
    fn forget_token(&self, id: u16);
}

/// What a call sent to the peer waits for.
pub enum Waiting<D> {
    /// A request of ours.
    Call(Request),
    /// Something else the protocol asked (a description).
    Other(D),
    /// Answered here already (timed out).
    Answered,
}

struct Pending<D> {
    waiting: Waiting<D>,
    deadline: Option<Instant>,
}

/// The ids of a call about to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// The call's id.
    pub callid: u16,
    /// The id of the client's session, declared.
    pub session: u16,
    /// The id of the client's token (0: none), declared.
    pub token: u16,
}

/// What the timer found.
pub struct Expired<D> {
    /// Requests past their deadline, to answer `timeout`.
    pub calls: Vec<Request>,
    /// Other waits past their deadline.
    pub others: Vec<D>,
    /// More than half of [`MAX_PENDING`] calls were answered here and never
    /// by the peer: the link should end.
    pub wedged: bool,
}

/// The calling side of one link.
pub struct Caller<D> {
    dead: bool,
    calls: HashMap<u16, Pending<D>>,
    next: u16,
    answered: usize,
    sessions: SessionIds,
    tokens: TokenIds,
    timeout: Option<Duration>,
}

impl<D> Caller<D> {
    /// Calls wait at most `timeout`; at most `max_tokens` tokens stay declared.
    pub fn new(timeout: Option<Duration>, max_tokens: usize) -> Caller<D> {
        Caller {
            dead: false,
            calls: HashMap::new(),
            next: 1,
            answered: 0,
            sessions: SessionIds::default(),
            tokens: TokenIds::new(max_tokens),
            timeout,
        }
    }

    /// A free call id; `None` when [`MAX_PENDING`] calls wait.
    pub fn new_id(&mut self) -> Option<u16> {
        if self.calls.len() >= MAX_PENDING {
            return None;
        }
        let calls = &self.calls;
        Some(alloc_id(&mut self.next, |id| calls.contains_key(&id)))
    }

    /// The ids of a new call of `client`, its session and token declared
    /// first with `how`; the error says why the link is too busy.
    pub fn prepare(&mut self, client: &Client, how: &impl Declare) -> Result<Prepared, String> {
        if self.calls.len() >= MAX_PENDING {
            return Err(format!("busy: {MAX_PENDING} calls already wait for the remote binder"));
        }
        let session = self
            .sessions
            .id_of(
                &client.session,
                |id, uuid| how.session(id, uuid),
                |id| how.forget_session(id),
            )
            .ok_or("busy: too many sessions on the link to the remote binder")?;
        let token = match &client.token {
            Some(t) => self
                .tokens
                .id_of(t, |id, text| how.token(id, text), |id| how.forget_token(id)),
            None => 0,
        };
        let callid = self.new_id().unwrap_or(0);
        Ok(Prepared { callid, session, token })
    }

    /// Records that call `id` was sent and waits for `waiting`.
    pub fn insert(&mut self, id: u16, waiting: Waiting<D>) {
        let deadline = self.timeout.map(|t| afb_core::clock::now() + t);
        self.calls.insert(id, Pending { waiting, deadline });
    }

    /// The wait of call `id`, removed; `None` when no call has this id.
    pub fn take(&mut self, id: u16) -> Option<Waiting<D>> {
        let p = self.calls.remove(&id)?;
        if matches!(p.waiting, Waiting::Answered) {
            self.answered = self.answered.saturating_sub(1);
        }
        Some(p.waiting)
    }

    /// The wait of call `id`, left in place.
    pub fn get(&self, id: u16) -> Option<&Waiting<D>> {
        self.calls.get(&id).map(|p| &p.waiting)
    }

    /// Expires the calls past their deadline (they stay as answered) and
    /// forgets the sessions gone or closed.
    pub fn tick(&mut self, now: Instant, how: &impl Declare) -> Expired<D> {
        let mut calls = Vec::new();
        let mut others = Vec::new();
        for p in self.calls.values_mut() {
            if p.deadline.is_some_and(|d| d <= now) {
                p.deadline = None;
                match std::mem::replace(&mut p.waiting, Waiting::Answered) {
                    Waiting::Call(r) => calls.push(r),
                    Waiting::Other(d) => others.push(d),
                    Waiting::Answered => {}
                }
            }
        }
        self.answered += calls.len() + others.len();
        self.sessions.sweep(|id| how.forget_session(id));
        Expired {
            calls,
            others,
            wedged: self.answered > MAX_PENDING / 2,
        }
    }

    /// The link ended: no more calls; every wait, removed.
    pub fn close(&mut self) -> Vec<Waiting<D>> {
        self.dead = true;
        self.answered = 0;
        self.calls.drain().map(|(_, p)| p.waiting).collect()
    }

    /// Whether the link ended.
    pub fn is_dead(&self) -> bool {
        self.dead
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the call of `req` on a link whose state `state` holds its
/// [`Caller`] (`caller` finds it): takes the ids (declarations sent with
/// `how`), has `send` send the call, records it. `send` fails with `None`
/// when the link is closed, with the reason when the call cannot be sent.
/// `Err(req)`: the link is dead, the request comes back; a busy link or a
/// call that cannot be sent answers `not-available`. `send` gets the
/// client's credentials as the C binders write them, when it has some.
pub fn start_call<S, D>(
    state: &Mutex<S>,
    caller: fn(&mut S) -> &mut Caller<D>,
    how: &impl Declare,
    req: Request,
    send: impl FnOnce(Prepared, &Request, Option<&str>) -> Result<(), Option<String>>,
) -> Result<(), Request> {
    let mut st = lock(state);
    let c = caller(&mut st);
    if c.dead {
        return Err(req);
    }
    let refused = match c.prepare(req.client(), how) {
        Ok(ids) => match send(ids, &req, req.client().creds.as_deref().map(export_creds).as_deref()) {
            Ok(()) => {
                caller(&mut st).insert(ids.callid, Waiting::Call(req));
                return Ok(());
            }
            Err(None) => return Err(req),
            Err(Some(why)) => format!("the call cannot be sent: {why}"),
        },
        Err(why) => why,
    };
    // Answered without the lock: the reply may go through this very link.
    drop(st);
    req.fail(status::NOT_AVAILABLE, Some(refused));
    Ok(())
}

/// The period of a link's timer: a quarter of the call timeout, between
/// 10 ms and 1 s (1 s without timeout).
#[derive(Debug, Clone, Copy)]
pub struct Ticker {
    every: Duration,
    next: Instant,
}

impl Ticker {
    /// The timer of calls waiting at most `timeout`.
    pub fn new(timeout: Option<Duration>) -> Ticker {
        let every = timeout
            .map(|t| (t / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)))
            .unwrap_or(Duration::from_secs(1));
        Ticker {
            every,
            next: Instant::now() + every,
        }
    }

    /// When it fires next.
    pub fn at(&self) -> Instant {
        self.next
    }

    /// It fired: the time now, and the next firing set.
    pub fn fire(&mut self) -> Instant {
        let now = Instant::now();
        self.next = now + self.every;
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use afb_core::{Registry, RegistryConfig};
    use std::cell::RefCell;

    #[derive(Default)]
    struct Log(RefCell<Vec<String>>);

    impl Declare for Log {
        fn session(&self, id: u16, uuid: &str) {
            self.0.borrow_mut().push(format!("S{id}={uuid}"));
        }
        fn forget_session(&self, id: u16) {
            self.0.borrow_mut().push(format!("s{id}"));
        }
        fn token(&self, id: u16, token: &str) {
            self.0.borrow_mut().push(format!("T{id}={token}"));
        }
        fn forget_token(&self, id: u16) {
            self.0.borrow_mut().push(format!("t{id}"));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_declarations_and_timeouts() {
        let registry = Registry::new(RegistryConfig::default());
        let session = registry.sessions().create().unwrap();
        let client = Client::new(session.clone()).with_token(Some("tk".into()));
        let log = Log::default();
        let mut c: Caller<u8> = Caller::new(Some(Duration::from_secs(2)), 4);
        let p = c.prepare(&client, &log).unwrap();
        assert_eq!((p.callid, p.session, p.token), (1, 1, 1));
        assert_eq!(*log.0.borrow(), [format!("S1={}", session.uuid()), "T1=tk".to_owned()]);
        c.insert(p.callid, Waiting::Other(7));
        let q = c.prepare(&client, &log).unwrap();
        assert_eq!((q.callid, q.session, q.token), (2, 1, 1), "declared once");
        c.insert(q.callid, Waiting::Other(8));
        assert!(matches!(c.take(2), Some(Waiting::Other(8))));
        assert!(c.take(2).is_none());
        tokio::time::advance(Duration::from_secs(3)).await;
        let e = c.tick(Instant::now(), &log);
        assert_eq!((e.others, e.calls.len(), e.wedged), (vec![7], 0, false));
        assert!(matches!(c.get(1), Some(Waiting::Answered)), "the id stays taken");
        assert!(matches!(c.take(1), Some(Waiting::Answered)));
        assert_eq!(c.close().len(), 0);
        assert!(c.is_dead());
    }
}
