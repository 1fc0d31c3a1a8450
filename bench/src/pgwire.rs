//! A counting PostgreSQL proxy: it forwards a service's connections to the server unchanged and
//! reads the protocol as it passes, counting what the service asked of the database.
//!
//! - **statements**: simple queries (`Q`, classified by their first word: `BEGIN`, `COMMIT`, …)
//!   and extended-protocol executions (`E`, classified by the text of the statement its portal
//!   was bound to, learnt from `P` and `B`); the pool's checkout check `SELECT $1` is `PING`;
//! - **round trips**: messages after which the client waits for the server (`Q` and `S`ync: each
//!   is answered by one `ReadyForQuery`);
//! - **transactions**: `ReadyForQuery` back in state idle (`I`) after at least one command
//!   completed or failed: an autocommit statement or a `BEGIN … COMMIT` block, as the server's
//!   `xact_commit + xact_rollback` count them.
//!
//! Without `pg_stat_statements` (it needs `shared_preload_libraries`, i.e. a server restart)
//! this is the only way to count statements without touching the services. It adds a hop to
//! every round trip, so the pipeline benchmark uses it in a separate, smaller pass, never in the
//! timed one.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};

/// The SSLRequest and GSSENCRequest codes of a startup packet.
const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Statements by first keyword (`SELECT`, `INSERT`, `UPDATE`, `BEGIN`, `COMMIT`, …).
    pub statements: BTreeMap<String, u64>,
    pub round_trips: u64,
    /// Transactions that ran at least one statement.
    pub transactions: u64,
    /// Every transaction as the server counts them (`xact_commit + xact_rollback`): also the
    /// implicit ones in which a statement was only parsed and described (`P`/`D`/`S`), as
    /// happens for every statement the client does not keep prepared.
    pub server_transactions: u64,
    /// Statements parsed (`P`): not served from the client's prepared-statement cache.
    pub parses: u64,
    pub connections: u64,
    /// By statement text (whitespace collapsed, cut at [`TEXT_CHARS`]): (executions, parses).
    pub by_text: HashMap<String, (u64, u64)>,
}

/// How much of a statement's text [`Counts::by_text`] keeps.
pub const TEXT_CHARS: usize = 140;

fn short_text(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(TEXT_CHARS).collect()
}

impl Counts {
    pub fn total_statements(&self) -> u64 {
        self.statements.values().sum()
    }

    /// Statements other than transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`, savepoints) and
    /// the pool's checkout pings.
    pub fn data_statements(&self) -> u64 {
        self.statements
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "BEGIN" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "PING"))
            .map(|(_, v)| v)
            .sum()
    }

    pub fn add(&mut self, other: &Counts) {
        for (k, v) in &other.statements {
            *self.statements.entry(k.clone()).or_default() += v;
        }
        self.round_trips += other.round_trips;
        self.transactions += other.transactions;
        self.server_transactions += other.server_transactions;
        self.parses += other.parses;
        for (text, (executions, parses)) in &other.by_text {
            let entry = self.by_text.entry(text.clone()).or_default();
            entry.0 += executions;
            entry.1 += parses;
        }
        self.connections += other.connections;
    }
}

/// A listening proxy to one upstream server.
pub struct CountingProxy {
    pub address: SocketAddr,
    counts: Arc<Mutex<Counts>>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `upstream`
    /// (`host:port`).
    pub async fn start(upstream: String) -> anyhow::Result<CountingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let counts = Arc::new(Mutex::new(Counts::default()));
        let shared = counts.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let counts = shared.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        lock(&counts).connections += 1;
                        let _ = relay(client, server, counts).await;
                    }
                });
            }
        });
        Ok(CountingProxy { address, counts, task })
    }

    pub fn counts(&self) -> Counts {
        lock(&self.counts).clone()
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn relay(client: TcpStream, server: TcpStream, counts: Arc<Mutex<Counts>>) -> std::io::Result<()> {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let mut client_read = BufReader::with_capacity(64 * 1024, client_read);
    let mut client_write = BufWriter::with_capacity(64 * 1024, client_write);
    let mut server_write = BufWriter::with_capacity(64 * 1024, server_write);

    // Startup: length-prefixed packets without a type byte. Refuse encryption (the client then
    // carries on in plain text, as with a server without TLS), forward the real startup packet.
    loop {
        let len = client_read.read_i32().await?;
        let mut body = vec![0u8; (len.max(4) - 4) as usize];
        client_read.read_exact(&mut body).await?;
        let code = body.get(..4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0);
        if code == SSL_REQUEST || code == GSSENC_REQUEST {
            client_write.write_all(b"N").await?;
            client_write.flush().await?;
            continue;
        }
        server_write.write_i32(len).await?;
        server_write.write_all(&body).await?;
        server_write.flush().await?;
        break;
    }

    let upstream_counts = counts.clone();
    let to_server = async move {
        let mut frontend = Frontend::default();
        forward(&mut client_read, &mut server_write, |kind, body| {
            frontend.observe(kind, body, &mut lock(&upstream_counts))
        })
        .await
    };
    let downstream_counts = counts;
    let mut server_read = BufReader::with_capacity(64 * 1024, server_read);
    let to_client = async move {
        let mut backend = Backend::default();
        forward(&mut server_read, &mut client_write, |kind, body| {
            if matches!(kind, b'C' | b'E' | b'Z') {
                backend.observe(kind, body, &mut lock(&downstream_counts));
            }
        })
        .await
    };
    let (a, b) = tokio::join!(to_server, to_client);
    a.and(b)
}

/// Copies typed messages from `from` to `to`, showing each to `observe`; flushes whenever no
/// further input is buffered (so batching is kept and nothing waits).
async fn forward<R, W>(
    from: &mut BufReader<R>,
    to: &mut BufWriter<W>,
    mut observe: impl FnMut(u8, &[u8]),
) -> std::io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut body = Vec::new();
    loop {
        let kind = match from.read_u8().await {
            Ok(kind) => kind,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                to.flush().await?;
                let _ = to.shutdown().await;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let len = from.read_i32().await?;
        body.resize((len.max(4) - 4) as usize, 0);
        from.read_exact(&mut body).await?;
        observe(kind, &body);
        to.write_u8(kind).await?;
        to.write_i32(len).await?;
        to.write_all(&body).await?;
        if from.buffer().is_empty() {
            to.flush().await?;
        }
    }
}

/// A NUL-terminated string at the start of `bytes`, and the rest.
fn cstr(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|b| *b == 0) {
        Some(end) => (&bytes[..end], &bytes[end + 1..]),
        None => (bytes, &[]),
    }
}

/// The first word of a statement, upper-cased (`WITH` stays `WITH`); `PING` for the connection
/// pool's check on every checkout (diesel-async's `RecyclingMethod::Verified`: `SELECT $1`).
fn keyword(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    if matches!(text.trim(), "SELECT $1" | "SELECT 1") {
        return "PING".to_owned();
    }
    let word: String = text.trim_start().chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    if word.is_empty() {
        "OTHER".to_owned()
    } else {
        word.to_ascii_uppercase()
    }
}

#[derive(Default)]
struct Frontend {
    /// Prepared statement name → (keyword, short text).
    statements: HashMap<Vec<u8>, (String, String)>,
    /// Portal name → (keyword, short text).
    portals: HashMap<Vec<u8>, (String, String)>,
}

impl Frontend {
    fn observe(&mut self, kind: u8, body: &[u8], counts: &mut Counts) {
        match kind {
            b'Q' => {
                let query = cstr(body).0;
                *counts.statements.entry(keyword(query)).or_default() += 1;
                counts.by_text.entry(short_text(query)).or_default().0 += 1;
                counts.round_trips += 1;
            }
            b'P' => {
                counts.parses += 1;
                let (name, rest) = cstr(body);
                let (query, _) = cstr(rest);
                let text = short_text(query);
                counts.by_text.entry(text.clone()).or_default().1 += 1;
                self.statements.insert(name.to_vec(), (keyword(query), text));
            }
            b'B' => {
                let (portal, rest) = cstr(body);
                let (statement, _) = cstr(rest);
                let known =
                    self.statements.get(statement).cloned().unwrap_or_else(|| ("OTHER".to_owned(), String::new()));
                self.portals.insert(portal.to_vec(), known);
            }
            b'E' => {
                let (portal, _) = cstr(body);
                let (kind, text) =
                    self.portals.get(portal).cloned().unwrap_or_else(|| ("OTHER".to_owned(), String::new()));
                *counts.statements.entry(kind).or_default() += 1;
                counts.by_text.entry(text).or_default().0 += 1;
            }
            b'S' => counts.round_trips += 1,
            _ => {}
        }
    }
}

#[derive(Default)]
struct Backend {
    /// A command completed or failed since the last ReadyForQuery.
    worked: bool,
}

impl Backend {
    fn observe(&mut self, kind: u8, body: &[u8], counts: &mut Counts) {
        match kind {
            b'C' | b'E' => self.worked = true,
            b'Z' => {
                if body.first() == Some(&b'I') {
                    counts.server_transactions += 1;
                    if self.worked {
                        counts.transactions += 1;
                    }
                }
                self.worked = false;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn statements_round_trips_and_transactions() {
        let mut counts = Counts::default();
        let mut f = Frontend::default();
        let mut b = Backend::default();
        // BEGIN; an extended-protocol UPDATE; COMMIT: one transaction, three statements.
        f.observe(b'Q', b"BEGIN\0", &mut counts);
        b.observe(b'C', b"BEGIN\0", &mut counts);
        b.observe(b'Z', b"T", &mut counts);
        f.observe(b'P', &message(&[b"s1\0", b"UPDATE jobs SET x = $1\0", &[0, 0]]), &mut counts);
        f.observe(b'B', &message(&[b"\0", b"s1\0", &[0, 0]]), &mut counts);
        f.observe(b'E', b"\0\0\0\0\0", &mut counts);
        f.observe(b'S', b"", &mut counts);
        b.observe(b'C', b"UPDATE 1\0", &mut counts);
        b.observe(b'Z', b"T", &mut counts);
        f.observe(b'Q', b"COMMIT\0", &mut counts);
        b.observe(b'C', b"COMMIT\0", &mut counts);
        b.observe(b'Z', b"I", &mut counts);
        // An autocommit SELECT through the cached statement: one more transaction.
        f.observe(b'B', &message(&[b"\0", b"s1\0", &[0, 0]]), &mut counts);
        f.observe(b'E', b"\0\0\0\0\0", &mut counts);
        f.observe(b'S', b"", &mut counts);
        b.observe(b'C', b"UPDATE 1\0", &mut counts);
        b.observe(b'Z', b"I", &mut counts);
        assert_eq!(counts.statements.get("UPDATE"), Some(&2));
        assert_eq!(counts.statements.get("BEGIN"), Some(&1));
        assert_eq!(counts.total_statements(), 4);
        assert_eq!(counts.data_statements(), 2);
        assert_eq!(counts.round_trips, 4);
        assert_eq!(counts.transactions, 2);
        assert_eq!(counts.server_transactions, 2);
        assert_eq!(counts.parses, 1);
        // Parse + Describe + Sync alone: a transaction for the server, none that did work.
        b.observe(b'Z', b"I", &mut counts);
        assert_eq!((counts.transactions, counts.server_transactions), (2, 3));
        assert_eq!(keyword(b"  select x"), "SELECT");
        assert_eq!(counts.by_text.get("UPDATE jobs SET x = $1"), Some(&(2, 1)));
        assert_eq!(counts.by_text.get("BEGIN"), Some(&(1, 0)));
        assert_eq!(keyword(b"SELECT $1"), "PING");
    }
}
