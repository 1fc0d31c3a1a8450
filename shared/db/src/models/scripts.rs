//! `scripts`: the production plan of one variant of a job.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::dispatch;
use crate::schema::scripts;
use crate::{Conn, DbResult};
use shortline_domain::{ProductionPlan, Theme};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = scripts)]
pub struct Script {
    pub id: i64,
    pub job_id: i64,
    pub trend_report_id: i64,
    pub variant: i32,
    pub title: String,
    pub duration_seconds: f64,
    pub plan: serde_json::Value,
    pub theme: serde_json::Value,
    pub planner: String,
    pub model: String,
    pub cost_micros: i64,
    pub created_at: NaiveDateTime,
    /// What the planner's calls used, as the provider reported it (`{}` for `template`).
    pub usage: serde_json::Value,
}

impl Script {
    pub fn plan(&self) -> DbResult<ProductionPlan> {
        super::from_json(&self.plan, "scripts.plan")
    }

    pub fn theme(&self) -> DbResult<Theme> {
        super::from_json(&self.theme, "scripts.theme")
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = scripts, treat_none_as_default_value = false)]
pub struct NewScript {
    pub job_id: i64,
    pub trend_report_id: i64,
    pub variant: i32,
    pub title: String,
    pub duration_seconds: f64,
    pub plan: serde_json::Value,
    pub theme: serde_json::Value,
    pub planner: String,
    pub model: String,
    pub cost_micros: i64,
    pub created_at: NaiveDateTime,
    pub usage: serde_json::Value,
}

impl NewScript {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job_id: i64,
        trend_report_id: i64,
        variant: i32,
        plan: &ProductionPlan,
        theme: &Theme,
        planner: &str,
        model: &str,
        cost_micros: i64,
    ) -> Self {
        NewScript {
            job_id,
            trend_report_id,
            variant,
            title: plan.title.clone(),
            duration_seconds: plan.duration_seconds,
            plan: super::to_json(plan),
            theme: super::to_json(theme),
            planner: planner.to_owned(),
            model: model.to_owned(),
            cost_micros,
            created_at: crate::now(),
            usage: serde_json::json!({}),
        }
    }

    /// What the planner's calls used, as the provider reported it.
    pub fn with_usage(mut self, usage: serde_json::Value) -> Self {
        self.usage = usage;
        self
    }
}

/// Inserts the script, or returns the existing one of the same `(job_id, variant)` untouched:
/// a retried stage gets back what it (or an earlier attempt) already wrote.
pub async fn insert_or_get(conn: &mut Conn<'_>, new: &NewScript) -> DbResult<(Script, bool)> {
    let inserted = dispatch!(conn, c => diesel::insert_into(scripts::table)
        .values(new)
        .on_conflict((scripts::job_id, scripts::variant))
        .do_nothing()
        .returning(Script::as_returning())
        .get_result(c)
        .await
        .optional())?;
    match inserted {
        Some(script) => Ok((script, true)),
        None => Ok((find_variant(conn, new.job_id, new.variant).await?, false)),
    }
}

/// A script by id, only if it belongs to `job_id` (job_id scopes every lookup).
pub async fn find(conn: &mut Conn<'_>, job_id: i64, id: i64) -> DbResult<Script> {
    Ok(dispatch!(conn, c => scripts::table
        .filter(scripts::id.eq(id).and(scripts::job_id.eq(job_id)))
        .select(Script::as_select())
        .first(c)
        .await)?)
}

pub async fn find_variant(conn: &mut Conn<'_>, job_id: i64, variant: i32) -> DbResult<Script> {
    Ok(dispatch!(conn, c => scripts::table
        .filter(scripts::job_id.eq(job_id).and(scripts::variant.eq(variant)))
        .select(Script::as_select())
        .first(c)
        .await)?)
}

pub async fn list_for_job(conn: &mut Conn<'_>, job_id: i64) -> DbResult<Vec<Script>> {
    Ok(dispatch!(conn, c => scripts::table
        .filter(scripts::job_id.eq(job_id))
        .order(scripts::variant.asc())
        .select(Script::as_select())
        .load(c)
        .await)?)
}
