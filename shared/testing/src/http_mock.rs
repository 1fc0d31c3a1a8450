//! A local HTTP/1.1 server for provider tests: it records every request
//! and answers with what the test's handler returns.
//!
//! ```ignore
//! let server = MockServer::start(|request| {
//!     assert_eq!(request.path, "/v1/audio/speech");
//!     MockResponse::bytes(200, "audio/wav", wav.clone())
//! }).await;
//! let base_url = server.url();
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        reqwest::Url::parse(&format!("http://x/?{query}"))
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Everything about the request as one text (for "the key appears nowhere" checks).
    pub fn to_text(&self) -> String {
        format!(
            "{} {}?{} {:?} {}",
            self.method,
            self.path,
            self.query.as_deref().unwrap_or(""),
            self.headers,
            String::from_utf8_lossy(&self.body)
        )
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct MockResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering (to provoke client timeouts).
    pub delay: Option<Duration>,
}

impl MockResponse {
    pub fn json(status: u16, value: serde_json::Value) -> Self {
        MockResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
            delay: None,
        }
    }

    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        MockResponse {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            delay: None,
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self::bytes(status, "text/plain", body.as_bytes().to_vec())
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

type Handler = dyn Fn(&RecordedRequest) -> MockResponse + Send + Sync;

/// The server; it stops when dropped.
pub struct MockServer {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockServer {
    /// Like [`MockServer::start`], for answers that name the server's own URL (a queue API
    /// handing out status and result URLs): `handler` gets the base URL with each request.
    #[allow(clippy::expect_used)]
    pub async fn start_knowing_url(
        handler: impl Fn(&str, &RecordedRequest) -> MockResponse + Send + Sync + 'static,
    ) -> MockServer {
        let base: Arc<OnceLock<String>> = Arc::default();
        let own = base.clone();
        let server = MockServer::start(move |request| handler(own.get().map_or("", String::as_str), request)).await;
        base.set(server.url()).expect("the base URL is set once");
        server
    }

    /// Serves on a free loopback port, answering every request with `handler(request)`.
    #[allow(clippy::expect_used)]
    pub async fn start(handler: impl Fn(&RecordedRequest) -> MockResponse + Send + Sync + 'static) -> MockServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind a loopback port");
        let address = listener.local_addr().expect("local address");
        let requests: Arc<Mutex<Vec<RecordedRequest>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let handler = handler.clone();
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let handler = handler.clone();
                        let recorded = recorded.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                            let request = RecordedRequest {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_owned(),
                                query: parts.uri.query().map(str::to_owned),
                                headers: parts
                                    .headers
                                    .iter()
                                    .map(|(n, v)| {
                                        (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())
                                    })
                                    .collect(),
                                body,
                            };
                            let answer = handler(&request);
                            recorded.lock().unwrap_or_else(PoisonError::into_inner).push(request);
                            if let Some(delay) = answer.delay {
                                tokio::time::sleep(delay).await;
                            }
                            let mut response = hyper::Response::new(Full::new(Bytes::from(answer.body)));
                            *response.status_mut() = hyper::StatusCode::from_u16(answer.status)
                                .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
                            for (name, value) in answer.headers {
                                if let (Ok(name), Ok(value)) = (
                                    hyper::header::HeaderName::from_bytes(name.as_bytes()),
                                    hyper::header::HeaderValue::from_str(&value),
                                ) {
                                    response.headers_mut().append(name, value);
                                }
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        MockServer { address, requests, task }
    }

    /// Answers the queued responses in order, then repeats the last one.
    pub async fn sequence(responses: Vec<MockResponse>) -> MockServer {
        let queue = Mutex::new(VecDeque::from(responses));
        MockServer::start(move |_| {
            let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.len() > 1 {
                queue.pop_front().unwrap_or_else(|| MockResponse::text(500, "empty script"))
            } else {
                queue.front().cloned().unwrap_or_else(|| MockResponse::text(500, "empty script"))
            }
        })
        .await
    }

    /// `http://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}
