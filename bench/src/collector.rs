//! `bench pipeline --export`: what observability costs. The bench runs an OTLP/gRPC trace
//! receiver of its own (opentelemetry-proto's TraceService, the collector's wire protocol) that
//! counts what the services send, and points each service at it and OpenLineage at a JSON-lines
//! file, so the export is measured end to end: spans built, batched, encoded and sent.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};

use super::system::SystemSpec;

/// Spans and export requests received.
#[derive(Default)]
struct Received {
    spans: AtomicU64,
    requests: AtomicU64,
}

#[derive(Clone, Default)]
struct CountingReceiver(Arc<Received>);

#[tonic::async_trait]
impl TraceService for CountingReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .map(|scope| scope.spans.len())
            .sum();
        self.0.spans.fetch_add(spans as u64, Ordering::Relaxed);
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

/// The receiver and the lineage file of one run.
pub struct Export {
    received: Arc<Received>,
    endpoint: String,
    lineage_file: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

impl Export {
    /// Starts the receiver on 127.0.0.1, port 0; lineage goes to `dir/lineage.jsonl`.
    pub async fn start(dir: &Path) -> anyhow::Result<Export> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let receiver = CountingReceiver::default();
        let received = receiver.0.clone();
        let server = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let served = tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(receiver))
                .serve_with_incoming(incoming)
                .await;
            if let Err(error) = served {
                eprintln!("the bench's OTLP receiver stopped: {error}");
            }
        });
        Ok(Export { received, endpoint, lineage_file: dir.join("lineage.jsonl"), server })
    }

    /// The services' settings that turn both exports on (the SDK's defaults otherwise).
    pub fn wire(&self, spec: SystemSpec) -> SystemSpec {
        spec.env("OTEL_EXPORTER_OTLP_ENDPOINT", &self.endpoint)
            .env("SHORTLINE_LINEAGE__FILE", self.lineage_file.display())
    }

    /// What arrived so far: spans, OTLP export requests, lineage events.
    pub fn counts(&self) -> (u64, u64, usize) {
        let events = std::fs::read_to_string(&self.lineage_file).map(|text| text.lines().count()).unwrap_or(0);
        (self.received.spans.load(Ordering::Relaxed), self.received.requests.load(Ordering::Relaxed), events)
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        self.server.abort();
    }
}
