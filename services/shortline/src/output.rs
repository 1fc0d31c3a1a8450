//! How the command prints: aligned tables, JSON, money, times, paths, and errors in words.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

/// A table printed with every column aligned (two spaces between columns).
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table { headers: headers.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, with a header line; no trailing spaces.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).chain([self.headers.len()]).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let _ = write!(line, "{cell:<width$}", width = widths[i]);
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// Pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Micro-USD as dollars: `$0.00`, `$0.0015`, `$2.50`.
pub fn usd(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let micros = micros.unsigned_abs();
    let mut fraction = format!("{:06}", micros % 1_000_000);
    while fraction.len() > 2 && fraction.ends_with('0') {
        fraction.pop();
    }
    format!("{sign}${}.{fraction}", micros / 1_000_000)
}

/// A protobuf timestamp as `2026-11-25 10:00:00` (UTC); empty when unset.
pub fn time(timestamp: Option<&prost_types::Timestamp>) -> String {
    datetime(timestamp).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

/// A protobuf timestamp as RFC 3339 for JSON; `null` when unset.
pub fn time_json(timestamp: Option<&prost_types::Timestamp>) -> serde_json::Value {
    datetime(timestamp).map(|t| serde_json::Value::String(t.to_rfc3339())).unwrap_or(serde_json::Value::Null)
}

pub fn datetime(timestamp: Option<&prost_types::Timestamp>) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = timestamp?;
    chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
}

/// Seconds between two timestamps, if both are set.
pub fn seconds_between(start: Option<&prost_types::Timestamp>, end: Option<&prost_types::Timestamp>) -> Option<f64> {
    let (start, end) = (datetime(start)?, datetime(end)?);
    Some((end - start).num_milliseconds() as f64 / 1000.0)
}

/// `0.4s`, `12.3s`, `2m05s`.
pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else {
        let whole = seconds.round() as u64;
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// The local path of a `file://` URI; other URIs are not local files.
pub fn local_path(uri: &str) -> Option<PathBuf> {
    uri.strip_prefix("file://").map(PathBuf::from)
}

/// A media URI as a person wants to see it: the path for local files, else the URI.
pub fn show_uri(uri: &str) -> String {
    match local_path(uri) {
        Some(path) => path.display().to_string(),
        None => uri.to_owned(),
    }
}

/// At most `max` characters, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// An error as one line a person can act on: gRPC statuses by their message (not their Debug
/// form), every cause in the chain joined with `: `.
pub fn describe_error(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = match cause.downcast_ref::<tonic::Status>() {
            Some(status) => describe_status(status),
            None => cause.to_string(),
        };
        // Causes often repeat their source's text, or contexts say less than the cause.
        match parts.last_mut() {
            Some(last) if last.contains(&text) => continue,
            Some(last) if text.contains(last.as_str()) => *last = text,
            _ => parts.push(text),
        }
    }
    parts.join(": ")
}

fn describe_status(status: &tonic::Status) -> String {
    let message = status.message().trim();
    let what = match status.code() {
        // The server's message says it all (it names the field, the job, the row).
        tonic::Code::InvalidArgument
        | tonic::Code::NotFound
        | tonic::Code::FailedPrecondition
        | tonic::Code::AlreadyExists
        | tonic::Code::OutOfRange
            if !message.is_empty() =>
        {
            return message.to_owned()
        }
        tonic::Code::Unavailable => "the service is unavailable",
        tonic::Code::DeadlineExceeded => "timed out",
        tonic::Code::Cancelled => "cancelled",
        tonic::Code::Unauthenticated => "not authenticated",
        tonic::Code::PermissionDenied => "permission denied",
        tonic::Code::ResourceExhausted => "resource exhausted",
        tonic::Code::Unimplemented => "not implemented by the server",
        tonic::Code::NotFound => "not found",
        tonic::Code::InvalidArgument => "invalid argument",
        _ => "server error",
    };
    if message.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_every_column() {
        let mut table = Table::new(&["ID", "STATUS", "THEME"]);
        table.row(vec!["1".into(), "awaiting_review".into(), "product-demo".into()]);
        table.row(vec!["12".into(), "failed".into(), "x".into()]);
        assert_eq!(
            table.render(),
            "ID  STATUS           THEME\n1   awaiting_review  product-demo\n12  failed           x\n"
        );
    }

    #[test]
    fn micros_print_as_dollars() {
        assert_eq!(usd(0), "$0.00");
        assert_eq!(usd(1_500), "$0.0015");
        assert_eq!(usd(2_500_000), "$2.50");
        assert_eq!(usd(1_234_567), "$1.234567");
        assert_eq!(usd(-10_000), "-$0.01");
    }

    #[test]
    fn statuses_print_their_message() {
        let error = anyhow::Error::new(tonic::Status::not_found("job 9 does not exist")).context("cannot show job 9");
        assert_eq!(describe_error(&error), "cannot show job 9: job 9 does not exist");
        let error = anyhow::Error::new(tonic::Status::not_found("job 9 not found")).context("job 9");
        assert_eq!(describe_error(&error), "job 9 not found");
        let error = anyhow::Error::new(tonic::Status::unavailable("connection refused"));
        assert_eq!(describe_error(&error), "the service is unavailable: connection refused");
    }

    #[test]
    fn file_uris_become_paths() {
        assert_eq!(show_uri("file:///tmp/a.mp4"), "/tmp/a.mp4");
        assert_eq!(show_uri("s3://bucket/a.mp4"), "s3://bucket/a.mp4");
        assert_eq!(duration(75.0), "1m15s");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
