//! A client of Cynagora, the policy service of redpesk systems, as a
//! permission backend (`--permissions cynagora[:SOCKET]`): its line
//! protocol on the check socket (`cynagora 1` / `done 1 CACHEID`, then
//! `check ID CLIENT SESSION USER PERMISSION` / `yes|no ID [EXPIRE]`,
//! fields separated by spaces, `\` escaping space, newline and itself),
//! with its cache rules: an answer without EXPIRE is kept until the
//! service says `clear`, `-` is not kept, a time (`30`, `15d`, `2h`...) is
//! kept that long. One question at a time on one connection, opened on
//! first use and again after a failure; no answer within 5 s, a refused
//! connection or a garbled line refuses the permission (fail closed).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use afb_core::access::{PermissionBackend, PermissionQuery};
use afb_core::BoxFuture;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::time::Instant;

/// The check socket when neither the option nor `CYNAGORA_SOCKET_CHECK` names one.
pub(crate) const DEFAULT_SOCKET: &str = "/var/run/cynagora/cynagora.check";
/// How long an answer may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);
/// Longest line (the service's own limit).
const MAX_LINE: usize = 2000;
/// Most answers kept.
const MAX_CACHE: usize = 4096;

type Key = (String, String, String, String);

struct Conn {
    r: BufReader<tokio::net::unix::OwnedReadHalf>,
    w: tokio::net::unix::OwnedWriteHalf,
}

#[derive(Default)]
struct Cache {
    id: Option<String>,
    answers: HashMap<Key, (bool, Option<Instant>)>,
}

/// The Cynagora client.
pub(crate) struct Cynagora {
    path: PathBuf,
    timeout: Duration,
    conn: tokio::sync::Mutex<Option<Conn>>,
    cache: Mutex<Cache>,
    next_id: std::sync::atomic::AtomicU32,
}

/// Escapes one field.
fn field(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ' ' | '\n' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits a received line (without its newline) into fields.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut it = line.chars();
    while let Some(c) = it.next() {
        match c {
            ' ' => out.push(String::new()),
            '\\' => match it.next() {
                Some(n @ (' ' | '\n' | '\\')) => out.last_mut().map(|f| f.push(n)).unwrap_or(()),
                Some(n) => {
                    if let Some(f) = out.last_mut() {
                        f.push('\\');
                        f.push(n);
                    }
                }
                None => {}
            },
            c => out.last_mut().map(|f| f.push(c)).unwrap_or(()),
        }
    }
    out
}

/// Seconds of a TIMESPEC (`90`, `15d`, `1h30m`...).
pub(crate) fn timespec(s: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut n: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            n = Some(n.unwrap_or(0).checked_mul(10)?.checked_add(u64::from(d))?);
            continue;
        }
        let unit = match c {
            'y' => 365 * 86400,
            'w' => 7 * 86400,
            'd' => 86400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(n.take()?.checked_mul(unit)?)?;
    }
    if let Some(n) = n {
        total = total.checked_add(n)?;
    }
    Some(total)
}

impl Cynagora {
    /// A client of the service listening on `path`.
    pub(crate) fn new(path: PathBuf, timeout: Duration) -> Self {
        Cynagora {
            path,
            timeout,
            conn: tokio::sync::Mutex::new(None),
            cache: Mutex::new(Cache::default()),
            next_id: std::sync::atomic::AtomicU32::new(1),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_cache_id(&self, id: &str) {
        let mut c = self.cache();
        if c.id.as_deref() != Some(id) {
            c.answers.clear();
            c.id = Some(id.to_owned());
        }
    }

    async fn read_line(r: &mut BufReader<tokio::net::unix::OwnedReadHalf>) -> Result<String, String> {
        let mut buf = Vec::new();
        let n = (&mut *r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the service closed the connection".into());
        }
        if buf.last() != Some(&b'\n') {
            return Err("line too long or cut".into());
        }
        buf.pop();
        String::from_utf8(buf).map_err(|_| "a line that is not UTF-8".into())
    }

    async fn connect(&self) -> Result<Conn, String> {
        let s = UnixStream::connect(&self.path)
            .await
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let (r, mut w) = s.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"cynagora 1\n").await.map_err(|e| e.to_string())?;
        let line = Self::read_line(&mut r).await?;
        let f = fields(&line);
        match f.as_slice() {
            [done, v, id] if done == "done" && v == "1" => self.set_cache_id(id),
            [done, v] if done == "done" && v == "1" => {}
            _ => return Err(format!("unexpected hello answer {line:?}")),
        }
        Ok(Conn { r, w })
    }

    async fn ask(&self, key: &Key) -> Result<bool, String> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            *guard = Some(self.connect().await?);
        }
        let Some(conn) = guard.as_mut() else {
            return Err("no connection".into());
        };
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_string();
        let line = format!(
            "check {id} {} {} {} {}\n",
            field(&key.0),
            field(&key.1),
            field(&key.2),
            field(&key.3)
        );
        if line.len() > MAX_LINE {
            return Err("question longer than the protocol allows".into());
        }
        let r = async {
            conn.w.write_all(line.as_bytes()).await.map_err(|e| e.to_string())?;
            loop {
                let l = Self::read_line(&mut conn.r).await?;
                let f = fields(&l);
                match f.first().map(String::as_str) {
                    Some("clear") => {
                        self.set_cache_id(f.get(1).map(String::as_str).unwrap_or(""));
                        continue;
                    }
                    Some(a @ ("yes" | "no")) if f.get(1) == Some(&id) => {
                        let granted = a == "yes";
                        let keep = match f.get(2).map(String::as_str) {
                            None => Some(None),
                            Some("-") => None,
                            Some(t) => timespec(t).map(|s| Some(Instant::now() + Duration::from_secs(s))),
                        };
                        return Ok((granted, keep));
                    }
                    _ => return Err(format!("unexpected line {l:?}")),
                }
            }
        };
        match tokio::time::timeout(self.timeout, r).await {
            Ok(Ok((granted, keep))) => {
                if let Some(until) = keep {
                    let mut c = self.cache();
                    if c.answers.len() >= MAX_CACHE {
                        c.answers.clear();
                    }
                    c.answers.insert(key.clone(), (granted, until));
                }
                Ok(granted)
            }
            Ok(Err(e)) => {
                *guard = None;
                Err(e)
            }
            Err(_) => {
                *guard = None;
                Err("no answer in time".into())
            }
        }
    }
}

/// The Cynagora client as a permission backend.
pub(crate) struct CynagoraBackend(pub(crate) std::sync::Arc<Cynagora>);

impl PermissionBackend for CynagoraBackend {
    fn describe(&self) -> String {
        format!("cynagora: permissions are asked of {}", self.0.path.display())
    }

    fn check(&self, q: PermissionQuery) -> BoxFuture<Result<bool, String>> {
        let key = (q.client(), q.session.clone(), q.user(), q.permission.clone());
        let cached = {
            let mut c = self.0.cache();
            match c.answers.get(&key) {
                Some((g, None)) => Some(*g),
                Some((g, Some(until))) if *until > Instant::now() => Some(*g),
                Some(_) => {
                    c.answers.remove(&key);
                    None
                }
                None => None,
            }
        };
        if let Some(g) = cached {
            return Box::pin(std::future::ready(Ok(g)));
        }
        let me = self.0.clone();
        Box::pin(async move { me.ask(&key).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::net::UnixListener;

    #[test]
    fn escaping_and_times() {
        assert_eq!(field("a b\\c"), "a\\ b\\\\c");
        assert_eq!(fields("yes 12 a\\ b"), vec!["yes", "12", "a b"]);
        assert_eq!(fields("check 1  s"), vec!["check", "1", "", "s"]);
        assert_eq!(timespec("90"), Some(90));
        assert_eq!(timespec("1h30m"), Some(5400));
        assert_eq!(timespec("2d"), Some(172_800));
        assert_eq!(timespec("x"), None);
        assert_eq!(timespec("h"), None);
    }

    /// A test service speaking the check protocol: grants permissions
    /// starting with `urn:yes`; answers `urn:yes:nocache` with `-`,
    /// `urn:yes:short` with `1s`; sends `clear 2` before answering
    /// `urn:clear`; never answers `urn:silent`.
    async fn service(path: PathBuf, queries: Arc<AtomicUsize>, seen: Arc<Mutex<Vec<Vec<String>>>>) {
        let l = UnixListener::bind(&path).unwrap();
        loop {
            let (s, _) = l.accept().await.unwrap();
            let (q, seen) = (queries.clone(), seen.clone());
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                let mut line = String::new();
                while r.read_line(&mut line).await.unwrap_or(0) > 0 {
                    let f = fields(line.trim_end_matches('\n'));
                    line.clear();
                    let answer = match f[0].as_str() {
                        "cynagora" => "done 1 1\n".to_owned(),
                        "check" => {
                            q.fetch_add(1, Ordering::SeqCst);
                            seen.lock().unwrap().push(f.clone());
                            let (id, perm) = (&f[1], &f[5]);
                            match perm.as_str() {
                                "urn:silent" => continue,
                                "urn:clear" => format!("clear 2\nno {id}\n"),
                                "urn:yes:nocache" => format!("yes {id} -\n"),
                                "urn:yes:short" => format!("yes {id} 1s\n"),
                                p if p.starts_with("urn:yes") => format!("yes {id}\n"),
                                _ => format!("no {id}\n"),
                            }
                        }
                        _ => "error\n".to_owned(),
                    };
                    w.write_all(answer.as_bytes()).await.unwrap();
                }
            });
        }
    }

    fn q(perm: &str) -> PermissionQuery {
        PermissionQuery {
            permission: perm.into(),
            creds: Some(Arc::new(afb_core::Credentials {
                uid: 1000,
                gid: 1000,
                pid: 7,
                label: Some("App:x y".into()),
                cert: None,
            })),
            session: "S".into(),
            loa: 0,
        }
    }

    #[tokio::test]
    async fn checks_cache_and_fail_closed() {
        let dir = std::env::temp_dir().join(format!("afb-cyn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("check");
        let _ = std::fs::remove_file(&path);
        let queries = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let srv = tokio::spawn(service(path.clone(), queries.clone(), seen.clone()));
        tokio::task::yield_now().await;
        let b = CynagoraBackend(Arc::new(Cynagora::new(path.clone(), Duration::from_secs(1))));
        let n = || queries.load(Ordering::SeqCst);
        assert_eq!(b.check(q("urn:yes:a")).await, Ok(true));
        assert_eq!(
            seen.lock().unwrap()[0],
            vec!["check", "1", "App:x y", "S", "1000", "urn:yes:a"]
        );
        assert_eq!(b.check(q("urn:yes:a")).await, Ok(true), "cached");
        assert_eq!(n(), 1);
        assert_eq!(b.check(q("urn:no")).await, Ok(false));
        assert_eq!(b.check(q("urn:no")).await, Ok(false));
        assert_eq!(n(), 2);
        assert_eq!(b.check(q("urn:yes:nocache")).await, Ok(true));
        assert_eq!(b.check(q("urn:yes:nocache")).await, Ok(true));
        assert_eq!(n(), 4, "'-' is not kept");
        assert_eq!(b.check(q("urn:yes:short")).await, Ok(true));
        assert_eq!(b.check(q("urn:yes:short")).await, Ok(true));
        assert_eq!(n(), 5);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(b.check(q("urn:yes:short")).await, Ok(true));
        assert_eq!(n(), 6, "expired");
        // `clear` empties the cache.
        assert_eq!(b.check(q("urn:clear")).await, Ok(false));
        assert_eq!(b.check(q("urn:yes:a")).await, Ok(true));
        assert_eq!(n(), 8, "asked again after clear");
        // No answer in time: refused, and the next question reconnects.
        assert!(b.check(q("urn:silent")).await.is_err());
        assert_eq!(b.check(q("urn:yes:b")).await, Ok(true));
        // The service gone: refused (fail closed).
        srv.abort();
        let _ = srv.await;
        std::fs::remove_file(&path).unwrap();
        let b2 = CynagoraBackend(Arc::new(Cynagora::new(path.clone(), Duration::from_secs(1))));
        assert!(b2.check(q("urn:yes:a")).await.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
