//! Request bodies: size-limited reads, and `multipart/form-data` uploads
//! whose file parts are stored each in a new file of the upload directory
//! and removed when the request ends ([`UploadGuard`]).

use std::path::{Path, PathBuf};

use afb_core::FileArg;
use bytes::Bytes;
use http_body_util::{BodyDataStream, BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde_json::{json, Map, Value};
use tokio::io::AsyncWriteExt;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Over the size limit (413).
    TooLarge(u64),
    /// Malformed (400).
    Invalid(String),
    /// The client went away or a file could not be written.
    Io(String),
}

/// What a multipart body gives: its fields (text fields as strings, files as
/// `{"file","path"}` objects) and its files.
pub type MultipartArgs = (Map<String, Value>, Vec<FileArg>);

/// Removes the uploaded files it holds when dropped: held by the HTTP
/// request's future, so that the files go when the request ends, whether
/// by a reply, an error, a timeout or the client going away.
#[derive(Debug, Default)]
pub struct UploadGuard {
    paths: Vec<PathBuf>,
}

impl UploadGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes care of `path`.
    pub fn push(&mut self, path: PathBuf) {
        self.paths.push(path);
    }

    /// The files held.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        for p in self.paths.drain(..) {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                // The binding moved or removed it: fine.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot remove uploaded file {}: {e}", p.display()),
            }
        }
    }
}

/// Reads a whole body of at most `max` bytes.
pub async fn read_limited(body: Incoming, max: u64) -> Result<Bytes, BodyError> {
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge(max)),
        Err(e) => Err(BodyError::Io(e.to_string())),
    }
}

/// A new, uniquely named, empty file in `dir` (created exclusively, mode 0600).
async fn new_upload_file(dir: &Path) -> std::io::Result<(PathBuf, tokio::fs::File)> {
    loop {
        let path = dir.join(format!("afb-upload-{}", uuid::Uuid::new_v4().simple()));
        match tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .await
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn multer_error(e: multer::Error) -> BodyError {
    match e {
        multer::Error::StreamSizeExceeded { limit } => BodyError::TooLarge(limit),
        multer::Error::FieldSizeExceeded { limit, .. } => BodyError::TooLarge(limit),
        multer::Error::StreamReadFailed(e) => BodyError::Io(e.to_string()),
        other => BodyError::Invalid(format!("malformed multipart body: {other}")),
    }
}

/// Reads a `multipart/form-data` body: text fields become strings (at most
/// `max_field` bytes each); each file part is stored in a new file of `dir`
/// (registered in `guard` before a byte is written) and appears as
/// `{"file":"<client name>","path":"<local path>"}`. The whole body is
/// bounded by `max_total`.
pub async fn read_multipart(
    body: Incoming,
    boundary: String,
    dir: &Path,
    max_total: u64,
    max_field: u64,
    guard: &mut UploadGuard,
) -> Result<MultipartArgs, BodyError> {
    read_multipart_stream(BodyDataStream::new(body), boundary, dir, max_total, max_field, guard).await
}

/// [`read_multipart`] on any stream of body chunks (in-memory bodies in
/// tests and fuzzing).
pub async fn read_multipart_stream<S, E>(
    stream: S,
    boundary: String,
    dir: &Path,
    max_total: u64,
    max_field: u64,
    guard: &mut UploadGuard,
) -> Result<MultipartArgs, BodyError>
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let constraints = multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(max_total));
    let mut mp = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut fields = Map::new();
    let mut files = Vec::new();
    while let Some(mut field) = mp.next_field().await.map_err(multer_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            Some(file_name) => {
                let (path, mut file) = new_upload_file(dir)
                    .await
                    .map_err(|e| BodyError::Io(format!("cannot create an upload file in {}: {e}", dir.display())))?;
                guard.push(path.clone());
                while let Some(chunk) = field.chunk().await.map_err(multer_error)? {
                    file.write_all(&chunk)
                        .await
                        .map_err(|e| BodyError::Io(format!("writing {}: {e}", path.display())))?;
                }
                file.flush()
                    .await
                    .map_err(|e| BodyError::Io(format!("writing {}: {e}", path.display())))?;
                let path_text = path.to_string_lossy().into_owned();
                fields.insert(name.clone(), json!({"file": file_name, "path": path_text}));
                files.push(FileArg {
                    field: name,
                    filename: file_name,
                    path,
                });
            }
            None => {
                let mut text = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multer_error)? {
                    if (text.len() + chunk.len()) as u64 > max_field {
                        return Err(BodyError::TooLarge(max_field));
                    }
                    text.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(text)
                    .map_err(|_| BodyError::Invalid(format!("multipart field {name:?} is not UTF-8 text")))?;
                fields.insert(name, Value::String(text));
            }
        }
    }
    Ok((fields, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs [`read_multipart_stream`] on an in-memory body.
    pub(crate) fn parse_in_memory(
        body: &[u8],
        boundary: &str,
        dir: &Path,
    ) -> (Result<MultipartArgs, BodyError>, Vec<PathBuf>) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let chunks: Vec<Result<Bytes, std::convert::Infallible>> =
            body.chunks(7).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let mut guard = UploadGuard::new();
        let r = rt.block_on(read_multipart_stream(
            futures_util::stream::iter(chunks),
            boundary.to_owned(),
            dir,
            4096,
            64,
            &mut guard,
        ));
        let paths = guard.paths().to_vec();
        (r, paths)
    }

    #[test]
    fn multipart_in_memory_fields_files_and_errors() {
        let dir = std::env::temp_dir().join(format!("afb-multipart-mem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n\
--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n\r\n\x00\x01\xff\r\n--XX--\r\n";
        let (r, paths) = parse_in_memory(body, "XX", &dir);
        let (fields, files) = r.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(fields["a"], "hello");
        assert_eq!(fields["f"]["file"], "x.bin");
        assert_eq!(files.len(), 1);
        assert!(paths.iter().all(|p| !p.exists()), "the guard removed the files");
        // A text field over 64 bytes, a body over 4096 bytes, garbage.
        let long = format!(
            "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n{}\r\n--XX--\r\n",
            "x".repeat(65)
        );
        assert!(matches!(
            parse_in_memory(long.as_bytes(), "XX", &dir).0,
            Err(BodyError::TooLarge(64))
        ));
        let huge = format!(
            "--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"y\"\r\n\r\n{}\r\n--XX--\r\n",
            "x".repeat(5000)
        );
        assert!(matches!(
            parse_in_memory(huge.as_bytes(), "XX", &dir).0,
            Err(BodyError::TooLarge(4096))
        ));
        assert!(matches!(
            parse_in_memory(b"garbage", "XX", &dir).0,
            Err(BodyError::Invalid(_))
        ));
        let not_utf8 = b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff\r\n--XX--\r\n";
        assert!(matches!(
            parse_in_memory(not_utf8, "XX", &dir).0,
            Err(BodyError::Invalid(_))
        ));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn guard_removes_its_files_and_tolerates_moved_ones() {
        let dir = std::env::temp_dir().join(format!("afb-upload-guard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a");
        let b = dir.join("b");
        std::fs::write(&a, b"x").unwrap();
        {
            let mut g = UploadGuard::new();
            g.push(a.clone());
            g.push(b.clone()); // never created (or moved away by the binding)
            assert_eq!(g.paths().len(), 2);
        }
        assert!(!a.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
