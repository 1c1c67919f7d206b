//! Fuzzes the `multipart/form-data` reader (multer under the daemon's
//! limits) on in-memory bodies, in a current-thread runtime: the first line
//! of the input is the boundary, the rest the body, fed in small chunks.
//! No input panics; text fields are strings, files are `{"file","path"}`
//! objects whose temporary files are removed when the request ends.
#![no_main]
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::OnceLock;

use afb_http::upload::{read_multipart_stream, BodyError, UploadGuard};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().unwrap())
}

fn upload_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("afb-fuzz-multipart-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let boundary = String::from_utf8_lossy(&data[..split]).into_owned();
    let body = data.get(split + 1..).unwrap_or(&[]);
    let chunks: Vec<Result<Bytes, Infallible>> = body.chunks(61).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let mut guard = UploadGuard::new();
    let result = runtime().block_on(read_multipart_stream(
        futures_util::stream::iter(chunks),
        boundary,
        upload_dir(),
        16 * 1024,
        1024,
        &mut guard,
    ));
    let paths = guard.paths().to_vec();
    match result {
        Ok((fields, files)) => {
            assert!(files.len() <= paths.len());
            for v in fields.values() {
                match v {
                    Value::String(_) => {}
                    Value::Object(o) => assert!(o["file"].is_string() && o["path"].is_string(), "{v}"),
                    other => panic!("unexpected field value {other}"),
                }
            }
        }
        Err(BodyError::TooLarge(n)) => assert!(n == 16 * 1024 || n == 1024),
        Err(BodyError::Invalid(_) | BodyError::Io(_)) => {}
    }
    drop(guard);
    for p in paths {
        assert!(!p.exists(), "upload file left behind: {}", p.display());
    }
});
