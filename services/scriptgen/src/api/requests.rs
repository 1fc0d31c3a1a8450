//! Request checks and job-scoped lookups: every field of a GenerateScriptRequest at once, a script
//! of the job.

use shortline_db::{self as db, DbError, Script};
use shortline_domain::{Theme, TrendReportBody, Violation};
use shortline_grpc::convert;
use shortline_grpc::status::{require_job, RequestError};
use shortline_proto::v1;

use super::MAX_VARIANTS;
use crate::error::{Result, ScriptgenError};

/// A GenerateScriptRequest's values, once every field checked out.
pub(super) struct ScriptRequest {
    pub(super) theme: Theme,
    pub(super) report: TrendReportBody,
    pub(super) variant: i32,
}

/// Checks every field of a GenerateScriptRequest and reports all bad ones at once.
pub(super) fn script_request(job_id: i64, request: &v1::GenerateScriptRequest) -> Result<ScriptRequest> {
    let mut violations = Vec::new();
    if request.trend_report_id <= 0 {
        violations.push(Violation::new("trend_report_id", "must be a positive trend report id"));
    }
    let theme = match &request.theme {
        None => {
            violations.push(Violation::new("theme", "is required"));
            None
        }
        Some(message) => match convert::theme_from(message, "theme") {
            Ok(theme) => Some(theme),
            Err(bad) => {
                violations.extend(bad);
                None
            }
        },
    };
    let report = match &request.report {
        None => {
            violations.push(Violation::new("report", "is required"));
            None
        }
        Some(report) => {
            if report.id != request.trend_report_id {
                violations.push(Violation::new(
                    "report.id",
                    format!("is {} but trend_report_id is {}", report.id, request.trend_report_id),
                ));
            }
            if report.job_id != job_id {
                violations
                    .push(Violation::new("report.job_id", format!("is {} but job_id is {job_id}", report.job_id)));
            }
            Some(convert::report_body_from(report))
        }
    };
    let variant = match request.variant {
        0 => 1,
        n @ 1..=MAX_VARIANTS => n,
        n => {
            violations.push(Violation::new("variant", format!("{n} is outside 1..={MAX_VARIANTS} (0 means 1)")));
            1
        }
    };
    match (theme, report) {
        (Some(theme), Some(report)) if violations.is_empty() => Ok(ScriptRequest { theme, report, variant }),
        _ => Err(RequestError::Invalid(violations).into()),
    }
}

/// A script of the job; NOT_FOUND names the job when it does not exist, else the script.
pub(super) async fn find_script(conn: &mut db::Conn<'_>, job_id: i64, script_id: i64) -> Result<Script> {
    match db::scripts::find(conn, job_id, script_id).await {
        Ok(script) => Ok(script),
        Err(DbError::NotFound) => {
            require_job(conn, job_id).await?;
            Err(ScriptgenError::script_not_found(job_id, script_id))
        }
        Err(other) => Err(other.into()),
    }
}

/// The script a GenerateScript answers with. A job has one report, so a script of the job
/// written from another report id means the requested one is not the job's.
pub(super) fn script_of_report(script: &Script, trend_report_id: i64) -> Result<v1::Script> {
    if script.trend_report_id != trend_report_id {
        return Err(ScriptgenError::report_not_found(script.job_id, trend_report_id));
    }
    Ok(convert::script(script)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_script_requests_name_every_field() {
        let request = v1::GenerateScriptRequest {
            job_id: 3,
            trend_report_id: 0,
            theme: None,
            report: Some(v1::TrendReport { id: 5, job_id: 4, ..Default::default() }),
            variant: 11,
        };
        let Err(ScriptgenError::Request(RequestError::Invalid(violations))) = script_request(3, &request) else {
            panic!("expected INVALID_ARGUMENT");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["trend_report_id", "theme", "report.id", "report.job_id", "variant"]);
    }
}
