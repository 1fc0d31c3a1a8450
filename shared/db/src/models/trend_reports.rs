//! `trend_reports` (one per job) and `trend_report_items` (which trends a report analysed).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::schema::{trend_report_items, trend_reports};
use crate::{dispatch, insert_rows, transaction};
use crate::{Conn, DbResult};
use shortline_domain::TrendReportBody;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = trend_reports)]
pub struct TrendReport {
    pub id: i64,
    pub job_id: i64,
    pub analyst: String,
    pub window_hours: i32,
    pub trends_analyzed: i32,
    pub video_styles: serde_json::Value,
    pub common_patterns: serde_json::Value,
    pub avg_engagement_velocity: f64,
    pub top_hashtags: serde_json::Value,
    pub recommendations: serde_json::Value,
    pub cost_micros: i64,
    pub created_at: NaiveDateTime,
    /// The analyst's model (`heuristic` has none: empty).
    pub model: String,
    /// What the analyst's calls used, as the provider reported it (`{}` for `heuristic`).
    pub usage: serde_json::Value,
    /// The collection analysed (`None`: the catalogue's window, as before collections).
    pub trend_collection_id: Option<i64>,
    /// The analyst's prompt version: with the collection, analyst and model, the reuse key.
    pub prompt_version: String,
    /// The report this one copies (reused, at no cost to this job; `None`: analysed here).
    pub reused_from_id: Option<i64>,
}

impl TrendReport {
    pub fn body(&self) -> DbResult<TrendReportBody> {
        Ok(TrendReportBody {
            video_styles: super::from_json(&self.video_styles, "trend_reports.video_styles")?,
            common_patterns: super::from_json(&self.common_patterns, "trend_reports.common_patterns")?,
            avg_engagement_velocity: self.avg_engagement_velocity,
            top_hashtags: super::from_json(&self.top_hashtags, "trend_reports.top_hashtags")?,
            recommendations: super::from_json(&self.recommendations, "trend_reports.recommendations")?,
        })
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = trend_reports, treat_none_as_default_value = false)]
pub struct NewTrendReport {
    pub job_id: i64,
    pub analyst: String,
    pub window_hours: i32,
    pub trends_analyzed: i32,
    pub video_styles: serde_json::Value,
    pub common_patterns: serde_json::Value,
    pub avg_engagement_velocity: f64,
    pub top_hashtags: serde_json::Value,
    pub recommendations: serde_json::Value,
    pub cost_micros: i64,
    pub created_at: NaiveDateTime,
    pub model: String,
    pub usage: serde_json::Value,
    pub trend_collection_id: Option<i64>,
    pub prompt_version: String,
    pub reused_from_id: Option<i64>,
}

impl NewTrendReport {
    pub fn new(job_id: i64, analyst: &str, window_hours: i32, trends_analyzed: i32, body: &TrendReportBody) -> Self {
        NewTrendReport {
            job_id,
            analyst: analyst.to_owned(),
            window_hours,
            trends_analyzed,
            video_styles: super::to_json(&body.video_styles),
            common_patterns: super::to_json(&body.common_patterns),
            avg_engagement_velocity: body.avg_engagement_velocity,
            top_hashtags: super::to_json(&body.top_hashtags),
            recommendations: super::to_json(&body.recommendations),
            cost_micros: 0,
            created_at: crate::now(),
            model: String::new(),
            usage: serde_json::json!({}),
            trend_collection_id: None,
            prompt_version: String::new(),
            reused_from_id: None,
        }
    }

    /// The report as an analysis of `collection_id` by an analyst at `prompt_version`.
    pub fn of_collection(mut self, collection_id: i64, prompt_version: &str) -> Self {
        self.trend_collection_id = Some(collection_id);
        self.prompt_version = prompt_version.to_owned();
        self
    }

    /// `job_id`'s copy of `original`: the same findings, paid for once (by the original's job).
    pub fn reuse_of(job_id: i64, original: &TrendReport) -> Self {
        NewTrendReport {
            job_id,
            analyst: original.analyst.clone(),
            window_hours: original.window_hours,
            trends_analyzed: original.trends_analyzed,
            video_styles: original.video_styles.clone(),
            common_patterns: original.common_patterns.clone(),
            avg_engagement_velocity: original.avg_engagement_velocity,
            top_hashtags: original.top_hashtags.clone(),
            recommendations: original.recommendations.clone(),
            cost_micros: 0,
            created_at: crate::now(),
            model: original.model.clone(),
            usage: serde_json::json!({}),
            trend_collection_id: original.trend_collection_id,
            prompt_version: original.prompt_version.clone(),
            reused_from_id: Some(original.id),
        }
    }

    /// The report as written by a paid model: its model, reported usage and cost.
    pub fn paid(mut self, model: &str, usage: serde_json::Value, cost_micros: i64) -> Self {
        self.model = model.to_owned();
        self.usage = usage;
        self.cost_micros = cost_micros;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = trend_report_items, treat_none_as_default_value = false)]
pub struct TrendReportItem {
    pub job_id: i64,
    pub trend_report_id: i64,
    pub trend_id: i64,
    /// 1 = the fastest-moving item analysed.
    pub rank: i32,
    pub engagement_velocity: f64,
}

/// Writes the report and its items (`(trend_id, velocity)`, fastest first) in one transaction,
/// or returns the job's existing report untouched: the analysis stage is idempotent per job.
pub async fn insert_or_get(
    conn: &mut Conn<'_>,
    new: &NewTrendReport,
    analysed: &[(i64, f64)],
) -> DbResult<(TrendReport, bool)> {
    transaction!(conn, |tx| {
        let Some(report) = insert_report(tx, new).await? else {
            return Ok((for_job(tx, new.job_id).await?, false));
        };
        insert_items(tx, &report, analysed).await?;
        Ok((report, true))
    })
}

/// Writes the job's report reusing `original`'s analysis, with a copy of its items made by the
/// database (`INSERT … SELECT`: no round trip for the rows); the existing report when the job
/// has one.
pub async fn insert_reuse(conn: &mut Conn<'_>, new: &NewTrendReport, original_id: i64) -> DbResult<TrendReport> {
    use diesel::sql_types::BigInt;
    transaction!(conn, |tx| {
        let Some(report) = insert_report(tx, new).await? else {
            return for_job(tx, new.job_id).await;
        };
        let copied = trend_report_items::table.filter(trend_report_items::trend_report_id.eq(original_id)).select((
            report.job_id.into_sql::<BigInt>(),
            report.id.into_sql::<BigInt>(),
            trend_report_items::trend_id,
            trend_report_items::rank,
            trend_report_items::engagement_velocity,
        ));
        dispatch!(tx, c => diesel::insert_into(trend_report_items::table)
            .values(copied)
            .into_columns((
                trend_report_items::job_id,
                trend_report_items::trend_report_id,
                trend_report_items::trend_id,
                trend_report_items::rank,
                trend_report_items::engagement_velocity,
            ))
            .execute(c)
            .await)?;
        Ok(report)
    })
}

/// Inserts `new` unless the job already has a report (`None` then).
async fn insert_report(conn: &mut Conn<'_>, new: &NewTrendReport) -> DbResult<Option<TrendReport>> {
    Ok(dispatch!(conn, c => diesel::insert_into(trend_reports::table)
        .values(new)
        .on_conflict_do_nothing()
        .returning(TrendReport::as_returning())
        .get_result(c)
        .await
        .optional())?)
}

/// All items in one statement (a report analyses up to 100 trends).
async fn insert_items(conn: &mut Conn<'_>, report: &TrendReport, analysed: &[(i64, f64)]) -> DbResult<()> {
    let items: Vec<TrendReportItem> = analysed
        .iter()
        .enumerate()
        .map(|(index, (trend_id, velocity))| TrendReportItem {
            job_id: report.job_id,
            trend_report_id: report.id,
            trend_id: *trend_id,
            rank: index as i32 + 1,
            engagement_velocity: *velocity,
        })
        .collect();
    if !items.is_empty() {
        insert_rows!(
            conn,
            items.as_slice(),
            |batch| diesel::insert_into(trend_report_items::table).values(batch),
            execute
        )?;
    }
    Ok(())
}

/// Writes one report item; used where items are added on their own.
pub async fn insert_item(conn: &mut Conn<'_>, item: &TrendReportItem) -> DbResult<()> {
    dispatch!(conn, c => diesel::insert_into(trend_report_items::table).values(item).execute(c).await)?;
    Ok(())
}

/// The job's report (a job has at most one).
pub async fn for_job(conn: &mut Conn<'_>, job_id: i64) -> DbResult<TrendReport> {
    Ok(dispatch!(conn, c => trend_reports::table
        .filter(trend_reports::job_id.eq(job_id))
        .select(TrendReport::as_select())
        .first(c)
        .await)?)
}

/// A report by id, only if it belongs to `job_id`.
pub async fn find(conn: &mut Conn<'_>, job_id: i64, id: i64) -> DbResult<TrendReport> {
    Ok(dispatch!(conn, c => trend_reports::table
        .filter(trend_reports::id.eq(id).and(trend_reports::job_id.eq(job_id)))
        .select(TrendReport::as_select())
        .first(c)
        .await)?)
}

pub async fn latest(conn: &mut Conn<'_>) -> DbResult<TrendReport> {
    Ok(dispatch!(conn, c => trend_reports::table
        .order(trend_reports::id.desc())
        .select(TrendReport::as_select())
        .first(c)
        .await)?)
}

pub async fn list(conn: &mut Conn<'_>, before_id: Option<i64>, limit: i64) -> DbResult<Vec<TrendReport>> {
    Ok(dispatch!(conn, c => {
        let mut query = trend_reports::table.select(TrendReport::as_select()).order(trend_reports::id.desc()).limit(limit).into_boxed();
        if let Some(before_id) = before_id {
            query = query.filter(trend_reports::id.lt(before_id));
        }
        query.load(c).await
    })?)
}

/// The items of every report in `report_ids` (a page of reports), in one query, by rank.
pub async fn items_for_reports(
    conn: &mut Conn<'_>,
    report_ids: &[i64],
) -> DbResult<std::collections::HashMap<i64, Vec<TrendReportItem>>> {
    let rows: Vec<TrendReportItem> = dispatch!(conn, c => trend_report_items::table
        .filter(trend_report_items::trend_report_id.eq_any(report_ids))
        .order((trend_report_items::trend_report_id.asc(), trend_report_items::rank.asc()))
        .select(TrendReportItem::as_select())
        .load(c)
        .await)?;
    let mut by_report: std::collections::HashMap<i64, Vec<TrendReportItem>> = std::collections::HashMap::new();
    for row in rows {
        by_report.entry(row.trend_report_id).or_default().push(row);
    }
    Ok(by_report)
}

/// The report's items, by rank.
pub async fn items(conn: &mut Conn<'_>, report_id: i64) -> DbResult<Vec<TrendReportItem>> {
    Ok(dispatch!(conn, c => trend_report_items::table
        .filter(trend_report_items::trend_report_id.eq(report_id))
        .order(trend_report_items::rank.asc())
        .select(TrendReportItem::as_select())
        .load(c)
        .await)?)
}

/// The report analysed (not copied) from `collection_id` by this analyst setting, if any: what a
/// job reuses instead of calling the analyst again.
pub async fn reusable(
    conn: &mut Conn<'_>,
    collection_id: i64,
    analyst: &str,
    model: &str,
    prompt_version: &str,
) -> DbResult<Option<TrendReport>> {
    Ok(dispatch!(conn, c => trend_reports::table
        .filter(trend_reports::trend_collection_id.eq(collection_id))
        .filter(trend_reports::analyst.eq(analyst))
        .filter(trend_reports::model.eq(model))
        .filter(trend_reports::prompt_version.eq(prompt_version))
        .filter(trend_reports::reused_from_id.is_null())
        .order(trend_reports::id.asc())
        .select(TrendReport::as_select())
        .first(c)
        .await
        .optional())?)
}
