//! Where media files live, addressed by URI. Services pass URIs between each other, never bytes.
//!
//! One API over two kinds of store:
//!
//! - **local**: a directory. A key such as `jobs/12/script-3/scene-1.mp4` is the file under it,
//!   named by a `file://` URI; tools write straight into the store.
//! - **S3**: a bucket (and an optional prefix) of an S3-compatible service. A key is the object
//!   `{prefix}/{key}`, named by `s3://bucket/prefix/key`. ffmpeg and espeak-ng need local files,
//!   so tools work in a scratch directory: a finished file is uploaded to its final key by
//!   [`MediaStore::publish`] (one PUT, or a multipart upload completed at the end — both atomic,
//!   so a crash never leaves half an object under a final key), and inputs are downloaded by
//!   [`MediaStore::fetch`] before a tool reads them.
//!
//! Every URI a service is handed is checked to lie inside its store (the directory, or the
//! bucket and prefix), so a caller cannot make a service read, move or delete anything else.

pub mod partial;
pub mod process;
pub mod sweep;

pub use shortline_config::StoreLocation;

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::{ObjectStore, ObjectStoreExt as _};
use tokio::io::AsyncWriteExt as _;

use shortline_config::{check_bucket_name, is_valid_key, Config, S3Config};

#[derive(Debug, thiserror::Error)]
pub enum MediaStoreError {
    #[error("`{uri}` is not a URI inside the media store")]
    OutsideStore { uri: String },
    #[error("`{uri}` is missing from the media store")]
    Missing { uri: String },
    #[error("media store I/O on {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("object storage {operation} {location}: {source}")]
    ObjectStorage { operation: &'static str, location: String, source: object_store::Error },
    #[error("media store `{root}`: {reason}")]
    Config { root: String, reason: String },
}

type Result<T, E = MediaStoreError> = std::result::Result<T, E>;

/// Something a sweep found under a prefix of the store, not modified for a while: a file or
/// object, or a work directory a killed tool left.
#[derive(Debug, Clone)]
pub struct StaleItem {
    /// The URI a row would name; `None` for what no row ever names (a scratch file of object
    /// storage, a work directory).
    pub uri: Option<String>,
    pub modified: SystemTime,
    place: Place,
}

#[derive(Debug, Clone)]
enum Place {
    File(PathBuf),
    Dir(PathBuf),
    Object(object_store::path::Path),
}

/// The media store of one service; cheap to clone.
#[derive(Clone)]
pub struct MediaStore {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Local { root: PathBuf },
    S3(Arc<S3Store>),
}

struct S3Store {
    client: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
    /// Where tools write files before upload and read downloaded inputs.
    scratch: PathBuf,
}

// By hand: only the store's URI, never the client (its settings hold credentials).
impl fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MediaStore").field(&self.root_uri()).finish()
    }
}

/// Local copies of stored inputs for tools that read files; dropping it removes them. A local
/// store's inputs are its own files, so it makes no copies.
#[derive(Debug)]
pub struct Downloads {
    dir: Option<tempfile::TempDir>,
}

impl MediaStore {
    /// The store `media.root` names, with `media.s3` and `media.scratch_dir` for object storage.
    pub fn from_config(config: &Config) -> Result<Self> {
        let root = config.media_root();
        match StoreLocation::parse(&root).map_err(|reason| MediaStoreError::Config { root: root.clone(), reason })? {
            StoreLocation::Local(path) => Self::local_dir(&path),
            StoreLocation::S3 { bucket, prefix } => {
                Self::s3(&bucket, &prefix, &config.media.s3, &config.media_scratch_dir())
            }
        }
    }

    /// A store rooted at `root` (a directory path or a `file://` URI), created if missing.
    pub fn local(root: &str) -> Result<Self> {
        Self::local_dir(Path::new(root.strip_prefix("file://").unwrap_or(root)))
    }

    fn local_dir(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|source| io(path, source))?;
        let root = std::fs::canonicalize(path).map_err(|source| io(path, source))?;
        Ok(MediaStore { backend: Backend::Local { root } })
    }

    /// A store in `bucket` under `prefix` (may be empty). Credentials and anything `settings`
    /// leaves out come from the standard AWS environment variables.
    pub fn s3(bucket: &str, prefix: &str, settings: &S3Config, scratch: &Path) -> Result<Self> {
        let root = s3_uri(bucket, prefix, "");
        let config_error = |reason: String| MediaStoreError::Config { root: root.clone(), reason };
        check_bucket_name(bucket).map_err(config_error)?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &settings.region {
            builder = builder.with_region(region);
        }
        // Only switched on here, so AWS_ALLOW_HTTP / AWS_VIRTUAL_HOSTED_STYLE_REQUEST still work.
        if settings.allow_http {
            builder = builder.with_allow_http(true);
        }
        if settings.virtual_hosted_style {
            builder = builder.with_virtual_hosted_style_request(true);
        }
        let client = builder.build().map_err(|e| config_error(e.to_string()))?;
        std::fs::create_dir_all(scratch).map_err(|source| io(scratch, source))?;
        Ok(MediaStore {
            backend: Backend::S3(Arc::new(S3Store {
                client: Arc::new(client),
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                scratch: scratch.to_owned(),
            })),
        })
    }

    /// The store itself as a URI: `file:///abs/dir` or `s3://bucket/prefix`.
    pub fn root_uri(&self) -> String {
        match &self.backend {
            Backend::Local { root } => file_uri(root),
            Backend::S3(s3) => s3_uri(&s3.bucket, &s3.prefix, ""),
        }
    }

    /// The local file a tool writes the media of `key` to; its directory is created so the
    /// caller can write at once. Local: the stored file itself. S3: a scratch file that
    /// [`MediaStore::publish`] uploads.
    pub fn local_path(&self, key: &str) -> Result<PathBuf> {
        let path = match &self.backend {
            Backend::Local { root } => root.join(key),
            Backend::S3(s3) => s3.scratch.join(key),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| io(parent, source))?;
        }
        Ok(path)
    }

    /// Stores the finished file `file` (made at [`MediaStore::local_path`]`(key)`) under `key` and
    /// returns its URI. S3: uploaded whole, then the scratch file is removed (uploaded or not:
    /// a failed attempt is made again from the start).
    pub async fn publish(&self, key: &str, file: &Path) -> Result<String> {
        match &self.backend {
            Backend::Local { root } => {
                let dest = root.join(key);
                if file != dest {
                    tokio::fs::rename(file, &dest).await.map_err(|source| io(file, source))?;
                }
                Ok(file_uri(&dest))
            }
            Backend::S3(s3) => {
                let uploaded = s3.upload(file, key).await;
                if let Err(error) = tokio::fs::remove_file(file).await {
                    tracing::warn!(path = %file.display(), %error, "cannot remove an uploaded scratch file");
                }
                uploaded?;
                Ok(s3_uri(&s3.bucket, &s3.prefix, key))
            }
        }
    }

    /// A place for the local copies [`MediaStore::fetch`] makes.
    pub fn downloads(&self) -> Result<Downloads> {
        match &self.backend {
            Backend::Local { .. } => Ok(Downloads { dir: None }),
            Backend::S3(s3) => {
                let dir = tempfile::Builder::new()
                    .prefix(".downloads-")
                    .tempdir_in(&s3.scratch)
                    .map_err(|source| io(&s3.scratch, source))?;
                Ok(Downloads { dir: Some(dir) })
            }
        }
    }

    /// A local file with the media `uri` names, for a tool to read: a local store's own file, or
    /// a download into `downloads`. [`MediaStoreError::Missing`] when there is nothing there.
    pub async fn fetch(&self, uri: &str, downloads: &Downloads) -> Result<PathBuf> {
        let key = self.key_of(uri)?;
        match (&self.backend, &downloads.dir) {
            (Backend::Local { root }, _) => {
                let path = root.join(&key);
                match tokio::fs::metadata(&path).await {
                    Ok(meta) if meta.is_file() => Ok(path),
                    _ => Err(MediaStoreError::Missing { uri: uri.to_owned() }),
                }
            }
            (Backend::S3(s3), Some(dir)) => s3.download(uri, &key, &dir.path().join(&key)).await,
            (Backend::S3(_), None) => Err(MediaStoreError::Io {
                path: uri.to_owned(),
                source: std::io::Error::other("downloads made by another store"),
            }),
        }
    }

    /// Moves the media `uri` names to `key` and returns the new URI. Local: an atomic rename on
    /// one filesystem. S3: a server-side copy, then the old object is deleted.
    pub async fn move_to(&self, uri: &str, key: &str) -> Result<String> {
        let from = self.key_of(uri)?;
        match &self.backend {
            Backend::Local { root } => {
                let to = self.local_path(key)?;
                tokio::fs::rename(root.join(&from), &to).await.map_err(|source| io(&root.join(&from), source))?;
                Ok(file_uri(&to))
            }
            Backend::S3(s3) => {
                let (source, dest) = (s3.location(&from)?, s3.location(key)?);
                s3.client.rename(&source, &dest).await.map_err(|e| s3.error("move", uri, e))?;
                Ok(s3_uri(&s3.bucket, &s3.prefix, key))
            }
        }
    }

    /// Removes the media `uri` names.
    pub async fn delete(&self, uri: &str) -> Result<()> {
        let key = self.key_of(uri)?;
        match &self.backend {
            Backend::Local { root } => {
                let path = root.join(&key);
                tokio::fs::remove_file(&path).await.map_err(|source| io(&path, source))
            }
            Backend::S3(s3) => s3.client.delete(&s3.location(&key)?).await.map_err(|e| s3.error("DELETE", uri, e)),
        }
    }

    /// What lies under `prefix` unmodified for `min_age`: files (the partial files and work
    /// directories of killed tools included), and with object storage its objects and the
    /// scratch files of `prefix`.
    pub async fn list_stale(&self, prefix: &str, min_age: Duration) -> Result<Vec<StaleItem>> {
        let before = SystemTime::now() - min_age;
        let scratch = self.local_path(prefix)?;
        let local_uris = matches!(self.backend, Backend::Local { .. });
        let mut items = tokio::task::spawn_blocking(move || {
            let mut items = Vec::new();
            walk_stale(&scratch, before, local_uris, &mut items);
            items
        })
        .await
        .map_err(|e| MediaStoreError::Io { path: prefix.to_owned(), source: std::io::Error::other(e) })?;
        if let Backend::S3(s3) = &self.backend {
            let root = s3_uri(&s3.bucket, &s3.prefix, "");
            let mut objects = s3.client.list(Some(&s3.location(prefix)?));
            while let Some(object) = objects.next().await {
                let object = object.map_err(|e| s3.error("LIST", &root, e))?;
                let modified = SystemTime::from(object.last_modified);
                if modified < before {
                    let key = object.location.as_ref().strip_prefix(&s3.prefix).unwrap_or(object.location.as_ref());
                    let uri = s3_uri(&s3.bucket, &s3.prefix, key.trim_start_matches('/'));
                    items.push(StaleItem { uri: Some(uri), modified, place: Place::Object(object.location) });
                }
            }
        }
        Ok(items)
    }

    /// Removes an item [`MediaStore::list_stale`] found, unless a local file was written again
    /// since (by an attempt that is making it anew). Returns whether it was removed.
    pub async fn remove_stale(&self, item: &StaleItem) -> Result<bool> {
        match (&item.place, &self.backend) {
            (Place::File(path), _) => {
                let rewritten = std::fs::metadata(path).and_then(|m| m.modified()).map_or(true, |m| m > item.modified);
                if rewritten {
                    return Ok(false);
                }
                tokio::fs::remove_file(path).await.map_err(|source| io(path, source))?;
            }
            (Place::Dir(path), _) => tokio::fs::remove_dir_all(path).await.map_err(|source| io(path, source))?,
            (Place::Object(location), Backend::S3(s3)) => {
                s3.client.delete(location).await.map_err(|e| s3.error("DELETE", location.as_ref(), e))?
            }
            (Place::Object(location), Backend::Local { .. }) => {
                return Err(MediaStoreError::OutsideStore { uri: location.to_string() })
            }
        }
        Ok(true)
    }

    /// The key of a URI inside this store; anything else is [`MediaStoreError::OutsideStore`].
    pub fn key_of(&self, uri: &str) -> Result<String> {
        let outside = || MediaStoreError::OutsideStore { uri: uri.to_owned() };
        let key = match &self.backend {
            Backend::Local { root } => {
                let path = Path::new(uri.strip_prefix("file://").ok_or_else(outside)?);
                if path.components().any(|c| matches!(c, Component::ParentDir)) {
                    return Err(outside());
                }
                path.strip_prefix(root).map_err(|_| outside())?.to_str().ok_or_else(outside)?.to_owned()
            }
            Backend::S3(s3) => {
                let root = s3_uri(&s3.bucket, &s3.prefix, "");
                uri.strip_prefix(&root).ok_or_else(outside)?.to_owned()
            }
        };
        if is_valid_key(&key) {
            Ok(key)
        } else {
            Err(outside())
        }
    }
}

impl S3Store {
    fn location(&self, key: &str) -> Result<object_store::path::Path> {
        let full = if self.prefix.is_empty() { key.to_owned() } else { format!("{}/{key}", self.prefix) };
        object_store::path::Path::parse(&full)
            .map_err(|_| MediaStoreError::OutsideStore { uri: s3_uri(&self.bucket, &self.prefix, key) })
    }

    fn error(&self, operation: &'static str, uri: &str, source: object_store::Error) -> MediaStoreError {
        match source {
            object_store::Error::NotFound { .. } => MediaStoreError::Missing { uri: uri.to_owned() },
            source => MediaStoreError::ObjectStorage { operation, location: uri.to_owned(), source },
        }
    }

    /// Streams `file` to `key`: one PUT for small files, a multipart upload for large ones; the
    /// object exists only once either completes.
    async fn upload(&self, file: &Path, key: &str) -> Result<()> {
        let uri = s3_uri(&self.bucket, &self.prefix, key);
        let mut source = tokio::fs::File::open(file).await.map_err(|source| io(file, source))?;
        let mut writer = BufWriter::new(self.client.clone(), self.location(key)?);
        if let Err(source) = tokio::io::copy(&mut source, &mut writer).await {
            // Drops the parts of a multipart upload already sent.
            if let Err(error) = writer.abort().await {
                tracing::warn!(%uri, %error, "cannot abort a failed upload");
            }
            return Err(MediaStoreError::Io { path: uri, source });
        }
        writer.shutdown().await.map_err(|source| MediaStoreError::Io { path: uri, source })
    }

    async fn download(&self, uri: &str, key: &str, dest: &Path) -> Result<PathBuf> {
        let object = self.client.get(&self.location(key)?).await.map_err(|e| self.error("GET", uri, e))?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|source| io(parent, source))?;
        }
        let mut file = tokio::fs::File::create(dest).await.map_err(|source| io(dest, source))?;
        let mut body = object.into_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.error("GET", uri, e))?;
            file.write_all(&chunk).await.map_err(|source| io(dest, source))?;
        }
        file.flush().await.map_err(|source| io(dest, source))?;
        Ok(dest.to_owned())
    }
}

/// Collects what under `dir` was last modified before `before`; a work directory of a killed
/// tool (`*.partial.work`) is one item. `with_uris`: the files are the store's own (a local
/// store), not scratch copies.
fn walk_stale(dir: &Path, before: SystemTime, with_uris: bool, items: &mut Vec<StaleItem>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let (path, Ok(meta)) = (entry.path(), entry.metadata()) else { continue };
        let Ok(modified) = meta.modified() else { continue };
        if meta.is_dir() && !crate::partial::is_work_dir(&path) {
            walk_stale(&path, before, with_uris, items);
        } else if modified < before {
            let (uri, place) = if meta.is_dir() {
                (None, Place::Dir(path))
            } else {
                (with_uris.then(|| file_uri(&path)), Place::File(path))
            };
            items.push(StaleItem { uri, modified, place });
        }
    }
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn s3_uri(bucket: &str, prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => format!("s3://{bucket}/{key}"),
        (false, true) => format!("s3://{bucket}/{prefix}/"),
        (false, false) => format!("s3://{bucket}/{prefix}/{key}"),
    }
}

/// S3's bucket naming rules (3–63 lowercase letters, digits, `.` and `-`, starting and ending
/// with a letter or digit); other S3-compatible services accept a subset of what AWS does.
fn io(path: &Path, source: std::io::Error) -> MediaStoreError {
    MediaStoreError::Io { path: path.display().to_string(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path, modified: SystemTime) {
        std::fs::write(path, b"media").expect("write");
        std::fs::OpenOptions::new().write(true).open(path).expect("open").set_modified(modified).expect("set mtime");
    }

    #[tokio::test]
    async fn a_sweep_takes_only_old_files_under_its_prefix_and_spares_one_written_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MediaStore::local(dir.path().to_str().expect("utf-8")).expect("store");
        let path = |key: &str| store.local_path(key).expect("path");
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        touch(&path("jobs/1/script-1/scene-1.mp4"), hour_ago);
        touch(&path("jobs/1/script-1/.scene-2.mp4.ab12.partial.mp4"), hour_ago);
        touch(&path("jobs/1/script-1/scene-3.mp4"), hour_ago);
        touch(&path("jobs/2/script-2/voiceover.wav"), SystemTime::now());
        touch(&path("library/music/bed.wav"), hour_ago);

        let stale = store.list_stale("jobs", Duration::from_secs(600)).await.expect("list");
        let mut uris: Vec<String> = stale.iter().filter_map(|item| item.uri.clone()).collect();
        uris.sort();
        let uri = |key: &str| store.root_uri() + "/" + key;
        assert_eq!(
            uris,
            [
                uri("jobs/1/script-1/.scene-2.mp4.ab12.partial.mp4"),
                uri("jobs/1/script-1/scene-1.mp4"),
                uri("jobs/1/script-1/scene-3.mp4")
            ]
        );

        // An attempt writes scene 3 again between the listing and the removal: it stays.
        touch(&path("jobs/1/script-1/scene-3.mp4"), SystemTime::now());
        let mut removed = 0;
        for item in &stale {
            removed += usize::from(store.remove_stale(item).await.expect("remove"));
        }
        assert_eq!(removed, 2);
        assert!(!path("jobs/1/script-1/scene-1.mp4").exists());
        assert!(path("jobs/1/script-1/scene-3.mp4").exists());
        assert!(path("jobs/2/script-2/voiceover.wav").exists());
        assert!(path("library/music/bed.wav").exists());
    }

    #[tokio::test]
    async fn files_move_inside_the_local_store_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MediaStore::local(dir.path().to_str().expect("utf-8")).expect("store");
        let path = store.local_path("generated/1/video.mp4").expect("local path");
        std::fs::write(&path, b"mp4").expect("write");
        let uri = store.publish("generated/1/video.mp4", &path).await.expect("publish");
        assert_eq!(uri, format!("{}/generated/1/video.mp4", store.root_uri()));
        let moved = store.move_to(&uri, "approved/1/video.mp4").await.expect("move");
        let downloads = store.downloads().expect("downloads");
        assert!(store.fetch(&moved, &downloads).await.expect("inside").exists());
        assert!(!path.exists());
        assert!(matches!(store.fetch(&uri, &downloads).await, Err(MediaStoreError::Missing { .. })));
        let root = store.root_uri();
        for outside in
            ["file:///etc/passwd", &format!("{root}/../x"), &format!("{root}x/y"), "/no/scheme", &format!("{root}/")]
        {
            assert!(matches!(store.key_of(outside), Err(MediaStoreError::OutsideStore { .. })), "{outside}");
        }
        store.delete(&moved).await.expect("delete");
        assert!(store.fetch(&moved, &downloads).await.is_err());
    }

    #[test]
    fn an_s3_store_refuses_uris_outside_its_bucket_and_prefix() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let settings = S3Config { region: Some("us-east-1".into()), ..S3Config::default() };
        let store = MediaStore::s3("media", "shortline/prod", &settings, scratch.path()).expect("store");
        assert_eq!(store.root_uri(), "s3://media/shortline/prod/");
        assert_eq!(
            store.key_of("s3://media/shortline/prod/jobs/1/voiceover.wav").expect("inside"),
            "jobs/1/voiceover.wav"
        );
        for outside in [
            "s3://other/shortline/prod/jobs/1/voiceover.wav",
            "s3://media/shortline/jobs/1/voiceover.wav",
            "s3://media/shortline/production/x.mp4",
            "s3://media/shortline/prod/../dev/x.mp4",
            "s3://media/shortline/prod/a//b.mp4",
            "s3://media/shortline/prod/",
            "s3://media/shortline/prod",
            "file:///var/lib/shortline/media/x.mp4",
            "https://media.s3.amazonaws.com/shortline/prod/x.mp4",
        ] {
            assert!(matches!(store.key_of(outside), Err(MediaStoreError::OutsideStore { .. })), "{outside}");
        }
        let unprefixed = MediaStore::s3("media", "", &settings, scratch.path()).expect("store");
        assert_eq!(unprefixed.key_of("s3://media/jobs/1/a.mp4").expect("inside"), "jobs/1/a.mp4");
        assert!(unprefixed.key_of("s3://mediax/jobs/1/a.mp4").is_err());
        assert_eq!(format!("{store:?}"), "MediaStore(\"s3://media/shortline/prod/\")");
    }

    #[test]
    fn store_locations_parse_or_say_why_not() {
        assert_eq!(StoreLocation::parse("/data/media"), Ok(StoreLocation::Local("/data/media".into())));
        assert_eq!(StoreLocation::parse("file:///data/media"), Ok(StoreLocation::Local("/data/media".into())));
        assert_eq!(
            StoreLocation::parse("s3://media-bucket/a/b/"),
            Ok(StoreLocation::S3 { bucket: "media-bucket".into(), prefix: "a/b".into() })
        );
        assert_eq!(
            StoreLocation::parse("s3://media-bucket"),
            Ok(StoreLocation::S3 { bucket: "media-bucket".into(), prefix: String::new() })
        );
        for bad in ["s3://", "s3://UPPER/x", "s3://-dash/x", "s3://bucket/../x", "s3://bucket//x", "gs://bucket/x"] {
            assert!(StoreLocation::parse(bad).is_err(), "{bad}");
        }
    }
}
