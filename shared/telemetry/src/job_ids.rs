//! Each span's `job_id`, remembered so that work which does not know its job (a tool run, a
//! provider call deep in a client) can still name it on its own span: every span of a job's
//! trace carries `job_id`.

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

/// The field name every job-scoped span uses.
const JOB_ID: &str = "job_id";

/// The layer that keeps the `job_id` a span was given (at creation or recorded later).
pub(crate) struct JobIds;

struct JobId(i64);

#[derive(Default)]
struct Find(Option<i64>);

impl Visit for Find {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == JOB_ID {
            self.0 = Some(value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == JOB_ID {
            self.0 = i64::try_from(value).ok();
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for JobIds {
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut find = Find::default();
        attributes.record(&mut find);
        remember(find, id, &ctx);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut find = Find::default();
        values.record(&mut find);
        remember(find, id, &ctx);
    }
}

fn remember<S: Subscriber + for<'a> LookupSpan<'a>>(find: Find, id: &Id, ctx: &Context<'_, S>) {
    if let (Some(job_id), Some(span)) = (find.0, ctx.span(id)) {
        span.extensions_mut().replace(JobId(job_id));
    }
}

/// The `job_id` of the current span or the nearest enclosing one that has it; `None` outside
/// a job's work, or where [`init`](crate::init) did not install the subscriber.
pub fn current_job_id() -> Option<i64> {
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let current = dispatch.current_span();
        let span = registry.span(current.id()?)?;
        span.scope().find_map(|span| span.extensions().get::<JobId>().map(|job| job.0))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn the_nearest_job_id_is_found_from_nested_spans() {
        let subscriber = tracing_subscriber::registry().with(JobIds);
        tracing::subscriber::with_default(subscriber, || {
            assert_eq!(current_job_id(), None);
            let job = tracing::info_span!("job", job_id = 7_i64);
            let _job = job.enter();
            let inner = tracing::info_span!("tool", program = "ffmpeg");
            let _inner = inner.enter();
            assert_eq!(current_job_id(), Some(7));
            let late = tracing::info_span!("grpc", job_id = tracing::field::Empty);
            late.record("job_id", 9_i64);
            let _late = late.enter();
            assert_eq!(current_job_id(), Some(9));
        });
    }
}
