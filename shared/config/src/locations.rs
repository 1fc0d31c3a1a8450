//! Where things are, as the configuration names them: the services' addresses and the media
//! store's root. Parsed here, so the configuration is checked before anything starts.

use std::path::PathBuf;

use tonic::codegen::http::Uri;

/// A parsed service target (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceTarget {
    /// One or more `http(s)://` URLs.
    Urls(Vec<Uri>),
    /// `dns:///host:port`.
    Dns { host: String, port: u16 },
}

impl ServiceTarget {
    /// Parses `target`; the error says what is wrong with it.
    pub fn parse(target: &str) -> Result<ServiceTarget, String> {
        if let Some(name) = target.strip_prefix("dns:///") {
            let (host, port) =
                name.rsplit_once(':').ok_or_else(|| format!("`{target}` has no port: use dns:///host:port"))?;
            let port: u16 = port.parse().map_err(|_| format!("`{target}` has no valid port: use dns:///host:port"))?;
            if host.is_empty() || port == 0 {
                return Err(format!("`{target}` needs a host and a port other than 0: use dns:///host:port"));
            }
            return Ok(ServiceTarget::Dns { host: host.to_owned(), port });
        }
        let urls = target.split(',').map(|url| parse_url(url.trim())).collect::<Result<Vec<_>, _>>()?;
        Ok(ServiceTarget::Urls(urls))
    }
}

fn parse_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL ({e}): `{url}`"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("must start with http://, https:// or dns:///, got `{url}`")),
    }
    match uri.authority() {
        None => Err(format!("has no host: `{url}`")),
        Some(authority) if authority.port_u16() == Some(0) => Err(format!("port 0 cannot be reached: `{url}`")),
        Some(_) => Ok(uri),
    }
}

/// Where a store's media lives, as `media.root` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A directory (a path or a `file://` URI).
    Local(PathBuf),
    /// `s3://bucket[/prefix]`; `prefix` has no leading or trailing `/` and may be empty.
    S3 { bucket: String, prefix: String },
}

impl StoreLocation {
    /// Parses `media.root`; the error says what is wrong, for the config's field error.
    pub fn parse(root: &str) -> Result<Self, String> {
        if let Some(rest) = root.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            check_bucket_name(bucket)?;
            let prefix = prefix.trim_end_matches('/');
            if !prefix.is_empty() && !is_valid_key(prefix) {
                return Err(format!("`{prefix}` is not a usable key prefix (empty, `.` or `..` segments)"));
            }
            return Ok(StoreLocation::S3 { bucket: bucket.to_owned(), prefix: prefix.to_owned() });
        }
        if let Some(path) = root.strip_prefix("file://") {
            return Ok(StoreLocation::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = root.split_once("://") {
            return Err(format!(
                "unsupported scheme `{scheme}://`: use a directory, a file:// URI or an s3://bucket/prefix URI"
            ));
        }
        Ok(StoreLocation::Local(PathBuf::from(root)))
    }
}

/// An S3 bucket name: the error says what is wrong.
pub fn check_bucket_name(bucket: &str) -> Result<(), String> {
    let allowed = bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let ends = bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if (3..=63).contains(&bucket.len()) && allowed && ends {
        Ok(())
    } else {
        Err(format!(
            "`{bucket}` is not a bucket name (3-63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit)"
        ))
    }
}

/// A relative `/`-separated key with no empty, `.` or `..` segment.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != "..")
        && !key.chars().any(char::is_control)
}
