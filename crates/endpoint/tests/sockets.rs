//! The listener and the connector on every kind of address: TCP (IPv4 and
//! IPv6 loopback, any address), unix socket files and abstract names,
//! sockets passed as by systemd, a pseudo-terminal as serial line; the
//! stale socket file rule; what is known of peers.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use afb_endpoint::{Connector, ListenOptions, Listener, PeerInfo, SocketUri, Stream};
use afb_testkit::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(10);

fn uri(text: &str) -> SocketUri {
    SocketUri::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

async fn bind(text: &str) -> std::io::Result<Listener> {
    Listener::bind(&uri(text), &ListenOptions::default()).await
}

async fn connect(text: &str) -> std::io::Result<Stream> {
    Connector::new(&uri(text))
        .unwrap_or_else(|e| panic!("{e}"))
        .connect()
        .await
}

/// Connects to `target`, accepts on `l`, sends a line each way; returns
/// what the listener knows of the peer.
async fn exchange(l: &Listener, target: &str) -> PeerInfo {
    let (client, accepted) = tokio::time::timeout(T, async { tokio::join!(connect(target), l.accept()) })
        .await
        .expect("connect and accept in time");
    let mut client = client.unwrap_or_else(|e| panic!("connect {target}: {e}"));
    let (mut server, peer) = accepted.unwrap_or_else(|e| panic!("accept on {l}: {e}"));
    client.write_all(b"ping\n").await.unwrap();
    let mut buf = [0u8; 5];
    server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping\n");
    server.write_all(b"pong\n").await.unwrap();
    client.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong\n");
    peer
}

#[tokio::test]
async fn tcp_ipv4_and_ipv6_loopback() {
    for (listen, host) in [("tcp:127.0.0.1:0", "127.0.0.1"), ("tcp:[::1]:0", "[::1]")] {
        let l = bind(listen).await.unwrap();
        let port = l.port().expect("a TCP port");
        assert_ne!(port, 0);
        assert_eq!(l.to_string(), format!("tcp:{host}:{port}"));
        let peer = exchange(&l, &format!("tcp:{host}:{port}/api")).await;
        let remote = peer.remote_addr().expect("a TCP peer");
        assert!(remote.ip().is_loopback(), "{peer}");
        assert_eq!(peer.cred(), None);
        assert!(peer.to_string().starts_with("tcp peer "), "{peer}");
        // no scheme is tcp
        exchange(&l, &format!("{host}:{port}")).await;
    }
}

#[tokio::test]
async fn tcp_any_address_takes_ipv4_and_ipv6_clients() {
    let l = bind("tcp:*:0").await.unwrap();
    let port = l.port().unwrap();
    exchange(&l, &format!("tcp:127.0.0.1:{port}")).await;
    exchange(&l, &format!("tcp:[::1]:{port}")).await;
    // connecting to "any" means the IPv4 loopback
    exchange(&l, &format!("tcp:*:{port}")).await;
    exchange(&l, &format!("tcp::{port}/x")).await;
}

#[tokio::test]
async fn tcp_connect_sets_nodelay_and_reports_failures() {
    let l = bind("tcp:127.0.0.1:0").await.unwrap();
    let port = l.port().unwrap();
    let target = format!("tcp:127.0.0.1:{port}");
    let (c, a) = tokio::join!(connect(&target), l.accept());
    match (c.unwrap(), a.unwrap().0) {
        (Stream::Tcp(c), Stream::Tcp(s)) => {
            assert!(c.nodelay().unwrap(), "client side");
            assert!(s.nodelay().unwrap(), "accepted side");
        }
        other => panic!("{other:?}"),
    }
    drop(l);
    let e = connect(&format!("tcp:127.0.0.1:{port}")).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    let e = connect("tcp:no-such-host.invalid:1").await.unwrap_err();
    assert!(e.to_string().contains("no-such-host.invalid"), "{e}");
}

#[tokio::test]
async fn unix_socket_file_with_peer_credentials() {
    let dir = TempDir::new("ep-unix");
    let path = dir.path().join("api");
    let text = format!("unix:{}", path.display());
    let l = Listener::bind(
        &uri(&text),
        &ListenOptions {
            socket_mode: Some(0o600),
        },
    )
    .await
    .unwrap();
    assert_eq!(l.to_string(), text);
    assert!(l.is_unix() && l.port().is_none());
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    let peer = exchange(&l, &text).await;
    let me = std::fs::metadata("/proc/self").unwrap();
    let cred = peer.cred().expect("SO_PEERCRED");
    assert_eq!((cred.uid, cred.gid), (me.uid(), me.gid()));
    assert_eq!(cred.pid, Some(std::process::id()));
    assert_eq!(
        peer.to_string(),
        format!("unix peer pid {} uid {}", std::process::id(), me.uid())
    );
    drop(l);
    assert!(!path.exists(), "a dropped listener removes its socket file");
}

#[tokio::test]
async fn unix_abstract_name() {
    let name = format!("afb-endpoint-test-{}", std::process::id());
    let text = format!("unix:@{name}/api");
    let l = bind(&text).await.unwrap();
    assert_eq!(l.to_string(), text);
    let peer = exchange(&l, &text).await;
    assert_eq!(peer.cred().map(|c| c.pid), Some(Some(std::process::id())));
    let e = bind(&text).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    drop(l);
    let e = connect(&text).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
}

/// What a killed process leaves: a socket file nothing listens on (a std
/// listener does not remove its file when dropped).
fn leave_stale_socket(path: &std::path::Path) {
    drop(std::os::unix::net::UnixListener::bind(path).unwrap());
    assert!(path.exists());
}

#[tokio::test]
async fn stale_socket_file_is_replaced() {
    let dir = TempDir::new("ep-stale");
    let path = dir.path().join("api");
    leave_stale_socket(&path);
    let text = format!("unix:{}", path.display());
    // (binding over the file without removing it fails with EADDRINUSE)
    let l = bind(&text).await.expect("the stale file is replaced");
    exchange(&l, &text).await;
}

#[tokio::test]
async fn socket_in_use_is_refused_and_left_alone() {
    let dir = TempDir::new("ep-live");
    let path = dir.path().join("api");
    let text = format!("unix:{}", path.display());
    let first = bind(&text).await.unwrap();
    let ino = std::fs::symlink_metadata(&path).unwrap().ino();
    let e = bind(&text).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&text) && msg.contains("in use"), "{msg}");
    assert_eq!(std::fs::symlink_metadata(&path).unwrap().ino(), ino, "not removed");
    // the probe's connection is seen and closed; the first listener still serves
    let (mut probe, _) = tokio::time::timeout(T, first.accept()).await.unwrap().unwrap();
    assert_eq!(probe.read(&mut [0u8; 1]).await.unwrap(), 0);
    exchange(&first, &text).await;

    // a listener whose backlog is full is in use too (std: no accept at all)
    let busy_path = dir.path().join("busy");
    let busy = std::os::unix::net::UnixListener::bind(&busy_path).unwrap();
    let busy_text = format!("unix:{}", busy_path.display());
    let mut held = Vec::new();
    for _ in 0..4096 {
        match tokio::time::timeout(Duration::from_millis(200), tokio::net::UnixStream::connect(&busy_path)).await {
            Ok(Ok(s)) => held.push(s),
            _ => break,
        }
    }
    let e = bind(&busy_text).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    assert!(busy_path.exists());
    drop(busy);
}

#[tokio::test]
async fn other_files_are_never_removed() {
    let dir = TempDir::new("ep-file");
    let file = dir.path().join("regular");
    std::fs::write(&file, b"precious").unwrap();
    let e = bind(&format!("unix:{}", file.display())).await.unwrap_err();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");

    let sub = dir.path().join("dir");
    std::fs::create_dir(&sub).unwrap();
    let e = bind(&format!("unix:{}", sub.display())).await.unwrap_err();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert!(sub.is_dir());

    // a symbolic link to a stale socket: the link is not followed nor removed
    let target = dir.path().join("target");
    leave_stale_socket(&target);
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let e = bind(&format!("unix:{}", link.display())).await.unwrap_err();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

#[tokio::test]
async fn a_replaced_socket_file_is_not_removed_by_the_old_listener() {
    let dir = TempDir::new("ep-replaced");
    let path = dir.path().join("api");
    let text = format!("unix:{}", path.display());
    let old = bind(&text).await.unwrap();
    std::fs::remove_file(&path).unwrap();
    let new = bind(&text).await.unwrap();
    drop(old);
    assert!(path.exists(), "the new listener's file stays");
    exchange(&new, &text).await;
}

#[tokio::test]
async fn systemd_sockets_are_taken_by_name_once() {
    let pid = std::process::id();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let dir = TempDir::new("ep-sd");
    let path = dir.path().join("sd.sock");
    let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (tcp_name, unix_name) = (format!("web-{pid}"), format!("api-{pid}"));
    afb_endpoint::provide_systemd_sockets([
        (tcp_name.clone(), OwnedFd::from(tcp)),
        (unix_name.clone(), OwnedFd::from(unix)),
    ]);
    let l = bind(&format!("sd:{tcp_name}")).await.unwrap();
    assert_eq!(l.port(), Some(port));
    assert_eq!(l.to_string(), format!("sd:{tcp_name} (tcp:127.0.0.1:{port})"));
    exchange(&l, &format!("tcp:127.0.0.1:{port}")).await;
    let l = bind(&format!("sd:{unix_name}/hello?as-api=x")).await.unwrap();
    assert!(l.is_unix());
    let peer = exchange(&l, &format!("unix:{}", path.display())).await;
    assert!(peer.cred().is_some());
    drop(l);
    assert!(path.exists(), "a passed socket's file belongs to whoever made it");
    let e = bind(&format!("sd:{unix_name}")).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("sd:{unix_name}")) && msg.contains("no socket named"),
        "{msg}"
    );

    let file = std::fs::File::open("/proc/self/stat").unwrap();
    let e = Listener::from_fd(OwnedFd::from(file)).unwrap_err();
    assert!(e.to_string().contains("neither"), "{e}");
}

#[tokio::test]
async fn serial_line_on_a_pseudo_terminal() {
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    let mut raw = tcgetattr(&pty.slave).unwrap();
    cfmakeraw(&mut raw);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &raw).unwrap();
    let tty = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).unwrap();
    let text = format!("char:{}", tty.display());
    let mut line = connect(&text).await.unwrap_or_else(|e| panic!("{text}: {e}"));
    assert!(matches!(line, Stream::Char(_)));
    let mut master = std::fs::File::from(pty.master);
    line.write_all(b"hello").await.unwrap();
    let got = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut buf = [0u8; 5];
        master.read_exact(&mut buf).unwrap();
        master.write_all(b"world").unwrap();
        (buf, master)
    })
    .await
    .unwrap();
    assert_eq!(&got.0, b"hello");
    let (mut rd, _wr) = line.into_split();
    let mut buf = [0u8; 5];
    tokio::time::timeout(T, rd.read_exact(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf, b"world");

    let e = connect("char:/proc/self/stat").await.unwrap_err();
    assert!(e.to_string().contains("not a character device"), "{e}");
    let e = bind(&text).await.unwrap_err();
    assert!(e.to_string().contains("not listened on"), "{e}");
}

#[tokio::test]
async fn what_cannot_be_done_is_refused_with_the_uri() {
    for (text, why) in [
        ("sd:web", "servers only"),
        ("tcp:127.0.0.1:0/x", "port 0"),
        // No process-wide material in this test: mTLS has no certificate.
        ("mtls+unix:/x", "needs a certificate"),
        ("tls+tcp:127.0.0.1:1/x?trust=/nonexistent/ca.pem", "/nonexistent/ca.pem"),
    ] {
        let e = Connector::new(&uri(text)).unwrap_err();
        assert!(
            e.to_string().contains(why) && e.to_string().contains(text),
            "{text}: {e}"
        );
    }
    let e = bind("tls+tcp:127.0.0.1:0").await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("needs a certificate"), "{e}");
    // ws+ is the protocol's business: the socket is the same
    let l = bind("ws+tcp:127.0.0.1:0").await.unwrap();
    exchange(&l, &format!("ws+tcp:127.0.0.1:{}/api", l.port().unwrap())).await;
}
