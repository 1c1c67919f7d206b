//! The id tables of a link. On the calling side, [`SessionIds`] and
//! [`TokenIds`] give each local session and token a 16-bit id, declared to
//! the peer the first time it is used (the peer then sees the same session
//! uuid); on the called side, [`Declared`] holds what the peer declared,
//! bounded in bytes.

// Keys are ids and addresses this binder or its peer picks (bounded by the
// protocols to 16 bits for ids): the fast hasher is safe here.
use hashbrown::HashMap;
use std::sync::{Arc, Weak};

use afb_core::session::{ConnectionGuard, SessionError};
use afb_core::{Registry, Session};

/// The next free id from `*next` on (0 is never used), and `*next` moved
/// past it. The caller makes sure a free id exists.
pub fn alloc_id(next: &mut u16, used: impl Fn(u16) -> bool) -> u16 {
    let mut id = *next;
    while id == 0 || used(id) {
        id = id.wrapping_add(1);
    }
    *next = id.wrapping_add(1);
    id
}

/// Local sessions declared on a link, by id.
#[derive(Default)]
pub struct SessionIds {
    /// Local session (by address) -> declared id.
    sessions: HashMap<usize, (u16, Weak<Session>)>,
    ids: HashMap<u16, usize>,
    next: u16,
}

impl SessionIds {
    /// The id of `session`; the first time, `declare(id, uuid)` announces
    /// it. When every id is taken, the sessions gone or closed are forgotten
    /// first (`forget(id)`); `None` when none is.
    pub fn id_of(
        &mut self,
        session: &Arc<Session>,
        declare: impl FnOnce(u16, &str),
        forget: impl FnMut(u16),
    ) -> Option<u16> {
        let key = Arc::as_ptr(session) as usize;
        if let Some((id, _)) = self.sessions.get(&key) {
            return Some(*id);
        }
        if self.ids.len() >= usize::from(u16::MAX) {
            self.sweep(forget);
            if self.ids.len() >= usize::from(u16::MAX) {
                return None;
            }
        }
        let ids = &self.ids;
        let id = alloc_id(&mut self.next, |id| ids.contains_key(&id));
        declare(id, session.uuid());
        self.sessions.insert(key, (id, Arc::downgrade(session)));
        self.ids.insert(id, key);
        Some(id)
    }

    /// Forgets the sessions that are gone or closed, `forget(id)` for each.
    pub fn sweep(&mut self, mut forget: impl FnMut(u16)) {
        let mut gone = Vec::new();
        for (key, (id, weak)) in &self.sessions {
            if weak.upgrade().is_none_or(|s| s.is_closed()) {
                gone.push((*key, *id));
            }
        }
        for (key, id) in gone {
            self.sessions.remove(&key);
            self.ids.remove(&id);
            forget(id);
        }
    }

    /// Number of sessions declared.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether none is declared.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Tokens declared on a link, by id; beyond `max`, the least recently used
/// one is forgotten.
pub struct TokenIds {
    tokens: HashMap<Arc<str>, (u16, u64)>,
    ids: HashMap<u16, Arc<str>>,
    next: u16,
    clock: u64,
    max: usize,
}

impl TokenIds {
    /// A table of at most `max` tokens (at least 1, at most 65535).
    pub fn new(max: usize) -> TokenIds {
        TokenIds {
            tokens: HashMap::new(),
            ids: HashMap::new(),
            next: 1,
            clock: 0,
            max: max.clamp(1, usize::from(u16::MAX)),
        }
    }

    /// The id of `token`; the first time, `declare(id, token)` announces it,
    /// after `forget(id)` of the least recently used one when the table is full.
    pub fn id_of(&mut self, token: &Arc<str>, declare: impl FnOnce(u16, &str), forget: impl FnOnce(u16)) -> u16 {
        self.clock += 1;
        let now = self.clock;
        if let Some((id, used)) = self.tokens.get_mut(token) {
            *used = now;
            return *id;
        }
        if self.tokens.len() >= self.max {
            let oldest = self
                .tokens
                .iter()
                .min_by_key(|(_, (_, u))| *u)
                .map(|(t, (id, _))| (t.clone(), *id));
            if let Some((t, id)) = oldest {
                self.tokens.remove(&t);
                self.ids.remove(&id);
                forget(id);
            }
        }
        let ids = &self.ids;
        let id = alloc_id(&mut self.next, |id| ids.contains_key(&id));
        declare(id, token);
        self.tokens.insert(token.clone(), (id, now));
        self.ids.insert(id, token.clone());
        id
    }
}

/// Why a declaration of the peer is refused.
#[derive(Debug)]
pub enum DeclareError {
    /// More bytes of sessions and tokens than allowed.
    TooMuch,
    /// The id is live and re-declaring is not allowed.
    Duplicate,
}

/// Why a call cannot run in the session it names.
#[derive(Debug)]
pub enum Unusable {
    /// The default session could not be made (the store is full).
    Store(SessionError),
    /// The id names no usable session (undeclared, or its declaration was refused).
    Unknown,
}

/// A session the peer declared: its uuid, and the local session of that
/// uuid while it lives. The table does not keep the session alive: an idle
/// one can be evicted or expire like any other, and the next call naming it
/// finds or makes the session of that uuid again. (A link pinning every
/// session its peer ever declared would let one front fill the store with
/// sessions nothing can evict, and then refuse every new client.)
struct Mirror {
    uuid: Arc<str>,
    session: Weak<Session>,
}

/// Sessions and tokens the peer declared on a link, by the peer's ids, and
/// the link's default session (made at first need). The bytes of the uuids
/// and tokens held are bounded.
pub struct Declared {
    sessions: HashMap<u16, Mirror>,
    tokens: HashMap<u16, Arc<str>>,
    anonymous: Option<ConnectionGuard>,
    bytes: usize,
    max_bytes: usize,
}

impl Declared {
    /// An empty table holding at most `max_bytes` of uuids and tokens.
    pub fn new(max_bytes: usize) -> Declared {
        Declared {
            sessions: HashMap::new(),
            tokens: HashMap::new(),
            anonymous: None,
            bytes: 0,
            max_bytes,
        }
    }

    /// Declares session `id` as `uuid`: found in the registry's store or
    /// made with that uuid. A live `id` is replaced when `replace`, else it
    /// is [`DeclareError::Duplicate`]. `Ok(Err(_))`: the store could not make
    /// the session now (it is full of sessions in use); `id` is declared all
    /// the same, and each call naming it tries again.
    pub fn declare_session(
        &mut self,
        registry: &Registry,
        id: u16,
        uuid: &str,
        replace: bool,
    ) -> Result<Result<(), SessionError>, DeclareError> {
        if !replace && self.sessions.contains_key(&id) {
            return Err(DeclareError::Duplicate);
        }
        let old = self.sessions.get(&id).map_or(0, |m| m.uuid.len());
        if self.bytes.saturating_sub(old) + uuid.len() > self.max_bytes {
            return Err(DeclareError::TooMuch);
        }
        let (session, result) = match registry.sessions().get_or_create(uuid) {
            Ok((s, _created)) => (Arc::downgrade(&s), Ok(())),
            Err(e) => (Weak::new(), Err(e)),
        };
        self.bytes = self.bytes.saturating_sub(old) + uuid.len();
        self.sessions.insert(
            id,
            Mirror {
                uuid: uuid.into(),
                session,
            },
        );
        Ok(result)
    }

    /// Forgets session `id`; false when it was not declared.
    pub fn forget_session(&mut self, id: u16) -> bool {
        match self.sessions.remove(&id) {
            Some(old) => {
                self.bytes = self.bytes.saturating_sub(old.uuid.len());
                true
            }
            None => false,
        }
    }

    /// Whether session `id` is declared.
    pub fn has_session(&self, id: u16) -> bool {
        self.sessions.contains_key(&id)
    }

    /// The session of a call naming session `id` (0: the link's default,
    /// made at first need), marked used. A declared session that was
    /// evicted, expired or closed since is found or made again with its uuid.
    pub fn session_for(&mut self, registry: &Registry, id: u16) -> Result<Arc<Session>, Unusable> {
        if id == 0 {
            return self.anonymous(registry).map_err(Unusable::Store);
        }
        let m = self.sessions.get_mut(&id).ok_or(Unusable::Unknown)?;
        if let Some(s) = m.session.upgrade() {
            if s.touch_live() {
                return Ok(s);
            }
        }
        let (s, _created) = registry.sessions().get_or_create(&m.uuid).map_err(Unusable::Store)?;
        m.session = Arc::downgrade(&s);
        Ok(s)
    }

    /// The link's default session, made at first need.
    pub fn anonymous(&mut self, registry: &Registry) -> Result<Arc<Session>, SessionError> {
        if let Some(g) = &self.anonymous {
            return Ok(g.session().clone());
        }
        let s = registry.sessions().create()?;
        self.anonymous = Some(s.connect());
        Ok(s)
    }

    /// Sets the link's default session (an upgraded HTTP connection's).
    pub fn set_anonymous(&mut self, session: &Arc<Session>) {
        self.anonymous = Some(session.connect());
    }

    /// Declares token `id` (replaced when live and `replace`).
    pub fn declare_token(&mut self, id: u16, token: &str, replace: bool) -> Result<(), DeclareError> {
        if !replace && self.tokens.contains_key(&id) {
            return Err(DeclareError::Duplicate);
        }
        if self.bytes + token.len() > self.max_bytes {
            return Err(DeclareError::TooMuch);
        }
        self.bytes += token.len();
        if let Some(old) = self.tokens.insert(id, token.into()) {
            self.bytes = self.bytes.saturating_sub(old.len());
        }
        Ok(())
    }

    /// Forgets token `id`; false when it was not declared.
    pub fn forget_token(&mut self, id: u16) -> bool {
        match self.tokens.remove(&id) {
            Some(t) => {
                self.bytes = self.bytes.saturating_sub(t.len());
                true
            }
            None => false,
        }
    }

    /// Token `id`, if declared.
    pub fn token(&self, id: u16) -> Option<&Arc<str>> {
        self.tokens.get(&id)
    }

    /// Number of sessions and tokens declared.
    pub fn count(&self) -> usize {
        self.sessions.len() + self.tokens.len()
    }

    /// Forgets everything (the link ended): the sessions are released.
    pub fn clear(&mut self) {
        self.sessions.clear();
        self.tokens.clear();
        self.anonymous = None;
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use afb_core::RegistryConfig;

    #[test]
    fn ids_skip_zero_and_used() {
        let mut next = u16::MAX;
        assert_eq!(alloc_id(&mut next, |_| false), u16::MAX);
        assert_eq!(alloc_id(&mut next, |id| id == 1), 2);
        assert_eq!(next, 3);
    }

    #[test]
    fn sessions_are_declared_once_and_swept() {
        let registry = Registry::new(RegistryConfig::default());
        let a = registry.sessions().create().unwrap();
        let b = registry.sessions().create().unwrap();
        let mut t = SessionIds::default();
        let mut declared = Vec::new();
        let ia = t.id_of(&a, |id, u| declared.push((id, u.to_owned())), |_| {});
        let ib = t.id_of(&b, |id, u| declared.push((id, u.to_owned())), |_| {});
        assert_eq!(t.id_of(&a, |_, _| panic!("declared twice"), |_| {}), ia);
        assert_eq!(declared, vec![(1, a.uuid().to_owned()), (2, b.uuid().to_owned())]);
        assert_eq!(ib, Some(2));
        a.close();
        let mut forgot = Vec::new();
        t.sweep(|id| forgot.push(id));
        assert_eq!((forgot, t.len()), (vec![1], 1));
    }

    #[test]
    fn tokens_least_recently_used_go_first() {
        let mut t = TokenIds::new(2);
        let (x, y, z): (Arc<str>, Arc<str>, Arc<str>) = ("x".into(), "y".into(), "z".into());
        let ix = t.id_of(&x, |_, _| {}, |_| panic!());
        t.id_of(&y, |_, _| {}, |_| panic!());
        t.id_of(&x, |_, _| panic!("known"), |_| panic!());
        let mut forgot = None;
        t.id_of(&z, |_, _| {}, |id| forgot = Some(id));
        assert_eq!(forgot, Some(2), "y was the least recently used");
        assert_eq!(t.id_of(&x, |_, _| panic!("known"), |_| panic!()), ix);
    }

    #[test]
    fn declarations_are_bounded() {
        let registry = Registry::new(RegistryConfig::default());
        let mut d = Declared::new(40);
        assert!(d
            .declare_session(&registry, 1, "uuid-number-one", false)
            .unwrap()
            .is_ok());
        assert!(matches!(
            d.declare_session(&registry, 1, "uuid-number-one", false),
            Err(DeclareError::Duplicate)
        ));
        assert!(d.declare_token(1, "tok", false).is_ok());
        assert!(matches!(
            d.declare_token(2, &"t".repeat(30), false),
            Err(DeclareError::TooMuch)
        ));
        assert!(d.forget_token(1) && !d.forget_token(1));
        assert!(d.declare_token(2, &"t".repeat(20), false).is_ok());
        assert_eq!(
            d.session_for(&registry, 1).map(|s| s.uuid().to_owned()).ok().as_deref(),
            Some("uuid-number-one")
        );
        assert!(!d.has_session(2));
        assert!(matches!(d.session_for(&registry, 2), Err(Unusable::Unknown)));
        d.clear();
        assert_eq!(d.count(), 0);
    }

    fn store_of(max: usize) -> Arc<Registry> {
        Registry::new(RegistryConfig {
            sessions: afb_core::SessionConfig {
                max,
                ..afb_core::SessionConfig::default()
            },
            ..RegistryConfig::default()
        })
    }

    #[test]
    fn declared_sessions_do_not_pin_the_store() {
        // Regression: a front declaring more sessions than the back's store
        // holds filled it with sessions nothing could evict, and every new
        // client of the back was refused from then on.
        let registry = store_of(2);
        let mut d = Declared::new(4096);
        for (id, uuid) in [(1, "front-a"), (2, "front-b"), (3, "front-c")] {
            assert!(d.declare_session(&registry, id, uuid, false).unwrap().is_ok(), "{uuid}");
        }
        assert_eq!(registry.sessions().len(), 2, "the oldest idle one was evicted");
        let direct = registry.sessions().create().expect("room for a direct client");
        assert_eq!(registry.sessions().len(), 2);
        // A call naming an evicted session gets the session of its uuid again.
        let a = d.session_for(&registry, 1).expect("made again");
        assert_eq!(a.uuid(), "front-a");
        assert!(registry.sessions().get("front-a").is_some());
        drop((a, direct));
    }

    #[test]
    fn a_declared_session_is_the_same_while_it_lives_and_made_again_once_closed() {
        let registry = store_of(8);
        let mut d = Declared::new(4096);
        d.declare_session(&registry, 7, "mirror", false).unwrap().unwrap();
        let first = d.session_for(&registry, 7).unwrap();
        assert!(Arc::ptr_eq(&first, &d.session_for(&registry, 7).unwrap()));
        assert_eq!(first.connections(), 0, "the table holds no connection on it");
        registry.sessions().remove("mirror");
        assert!(first.is_closed());
        let second = d.session_for(&registry, 7).unwrap();
        assert!(!Arc::ptr_eq(&first, &second) && !second.is_closed());
        assert_eq!(second.uuid(), "mirror");
    }

    #[test]
    fn a_declaration_the_full_store_refused_is_tried_again_at_each_call() {
        let registry = store_of(1);
        let busy = registry.sessions().create().unwrap();
        let _in_use = busy.connect();
        let mut d = Declared::new(4096);
        assert!(d.declare_session(&registry, 1, "later", false).unwrap().is_err());
        assert!(d.has_session(1));
        assert!(matches!(d.session_for(&registry, 1), Err(Unusable::Store(_))));
        drop(_in_use);
        drop(busy);
        assert_eq!(d.session_for(&registry, 1).unwrap().uuid(), "later");
    }
}
