//! The status codes gRPC prescribes where tonic 0.14 answers with others (a layer of every
//! server, see [`crate::GrpcServer`]):
//!
//! - A call whose `grpc-timeout` passes answers DEADLINE_EXCEEDED. tonic's own timeout answers
//!   CANCELLED ("Timeout expired"), which callers do not retry. This layer's deadline is taken
//!   before tonic's (it is computed first, and its future is polled first), so it always wins.
//! - A request message over the size limit answers RESOURCE_EXHAUSTED, gRPC's code for it;
//!   tonic's decoder says OUT_OF_RANGE.

use std::task::{Context, Poll};
use std::time::Duration;

use tonic::codegen::http::{self, HeaderMap};
use tonic::codegen::{BoxFuture, Service};
use tonic::{Code, Status};

/// What tonic's decoder says of a message over the limit.
const TOO_LARGE: &str = "message length too large";

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GrpcCodesLayer;

impl<S> tower_layer::Layer<S> for GrpcCodesLayer {
    type Service = GrpcCodes<S>;

    fn layer(&self, inner: S) -> GrpcCodes<S> {
        GrpcCodes { inner }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct GrpcCodes<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for GrpcCodes<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let deadline = grpc_timeout(request.headers()).map(|timeout| tokio::time::Instant::now() + timeout);
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, response).await {
                    Ok(response) => response?,
                    Err(_) => {
                        return Ok(Status::deadline_exceeded("the call's deadline (grpc-timeout) passed").into_http())
                    }
                },
                None => response.await?,
            };
            Ok(too_large_is_resource_exhausted(response))
        })
    }
}

/// The `grpc-timeout` header (`<up to 8 digits><H|M|S|m|u|n>`), if there is a valid one.
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

fn too_large_is_resource_exhausted(
    mut response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let Some(status) = Status::from_header_map(response.headers()) else { return response };
    if status.code() == Code::OutOfRange && status.message().contains(TOO_LARGE) {
        let exhausted = Status::resource_exhausted(status.message());
        if exhausted.add_header(response.headers_mut()).is_err() {
            tracing::warn!("could not rewrite an over-size status");
        }
        response.extensions_mut().insert(exhausted);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower_layer::Layer as _;

    use super::*;

    /// A service answering with a status, or never (`None`).
    #[derive(Clone)]
    struct Answer(Option<(Code, &'static str)>);

    impl Service<http::Request<()>> for Answer {
        type Response = http::Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = BoxFuture<Self::Response, Infallible>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let answer = self.0;
            Box::pin(async move {
                match answer {
                    Some((code, message)) => Ok(Status::new(code, message).into_http()),
                    None => std::future::pending().await,
                }
            })
        }
    }

    async fn status_of(answer: Answer, timeout: Option<&str>) -> Status {
        let mut request = http::Request::new(());
        if let Some(timeout) = timeout {
            request.headers_mut().insert("grpc-timeout", timeout.parse().expect("header value"));
        }
        let response = GrpcCodesLayer.layer(answer).call(request).await.expect("infallible");
        Status::from_header_map(response.headers()).expect("a status")
    }

    #[tokio::test]
    async fn a_passed_deadline_is_deadline_exceeded() {
        let status = status_of(Answer(None), Some("1m")).await;
        assert_eq!(status.code(), Code::DeadlineExceeded, "{}", status.message());
        let answered = status_of(Answer(Some((Code::NotFound, "job 7 not found"))), Some("10S")).await;
        assert_eq!((answered.code(), answered.message()), (Code::NotFound, "job 7 not found"));
    }

    #[tokio::test]
    async fn a_message_over_the_limit_is_resource_exhausted() {
        let too_large = "Error, decoded message length too large: found 5242891 bytes, the limit is: 4194304 bytes";
        let status = status_of(Answer(Some((Code::OutOfRange, too_large))), None).await;
        assert_eq!((status.code(), status.message()), (Code::ResourceExhausted, too_large));
        let other = status_of(Answer(Some((Code::OutOfRange, "page 9 is past the end"))), None).await;
        assert_eq!(other.code(), Code::OutOfRange, "other OUT_OF_RANGE answers are kept");
    }

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        let parse = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-timeout", value.parse().expect("header value"));
            grpc_timeout(&headers)
        };
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse("60S"), Some(Duration::from_secs(60)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse("9n"), Some(Duration::from_nanos(9)));
        for bad in ["", "S", "123456789S", "5x", "-1S"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }
}
