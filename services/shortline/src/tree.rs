//! A job's lineage as a tree: job -> stages -> trends -> report -> script -> assets -> video.

use shortline_proto::v1;

use crate::names;
use crate::output::{duration, seconds_between, show_uri, time, truncate, usd};

/// How many trends the tree lists before summarising the rest.
const TOP_TRENDS: usize = 5;

/// A node of a printed tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub label: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn new(label: impl Into<String>) -> Self {
        Node { label: label.into(), children: Vec::new() }
    }

    #[cfg(test)]
    pub fn child(mut self, child: Node) -> Self {
        self.children.push(child);
        self
    }

    pub fn push(&mut self, child: Node) {
        self.children.push(child);
    }

    /// The tree drawn with box characters, one line per node.
    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.label);
        render_children(&self.children, "", &mut out);
        out
    }
}

fn render_children(children: &[Node], prefix: &str, out: &mut String) {
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let (branch, next) = if last { ("└── ", "    ") } else { ("├── ", "│   ") };
        out.push_str(&format!("{prefix}{branch}{}\n", child.label));
        render_children(&child.children, &format!("{prefix}{next}"), out);
    }
}

/// The whole lineage of one job.
pub fn lineage(lineage: &v1::JobLineage) -> Node {
    let job = lineage.job.clone().unwrap_or_default();
    let mut root = Node::new(job_label(&job));
    if !job.error.is_empty() {
        let stage = if job.failed_stage() == v1::Stage::Unspecified {
            String::new()
        } else {
            format!(" at {}", names::stage(job.failed_stage()))
        };
        root.push(Node::new(format!("error{stage}: {}", job.error)));
    }

    let mut stages = Node::new(format!("stages ({} attempts)", lineage.stages.len()));
    for run in &lineage.stages {
        stages.push(Node::new(stage_label(run)));
    }
    root.push(stages);

    if let Some(collection) = &lineage.collection {
        root.push(Node::new(collection_label(collection)));
    }

    let mut trends = Node::new(format!("trends ({})", lineage.trends.len()));
    let mut ranked: Vec<&v1::Trend> = lineage.trends.iter().collect();
    ranked.sort_by(|a, b| b.engagement_velocity.total_cmp(&a.engagement_velocity));
    for trend in ranked.iter().take(TOP_TRENDS) {
        trends.push(Node::new(format!(
            "trend {}  {}  {}  {:.0}/h  {}",
            trend.id,
            names::platform(trend.platform()),
            truncate(&trend.title, 50),
            trend.engagement_velocity,
            trend.hashtags.iter().take(3).cloned().collect::<Vec<_>>().join(" "),
        )));
    }
    if ranked.len() > TOP_TRENDS {
        trends.push(Node::new(format!(
            "… {} more (`shortline trends list --job {}`)",
            ranked.len() - TOP_TRENDS,
            job.id
        )));
    }
    root.push(trends);

    match &lineage.report {
        Some(report) => root.push(report_node(report)),
        None => root.push(Node::new("report: none yet")),
    }

    for script in &lineage.scripts {
        root.push(script_node(script, lineage));
    }
    if lineage.scripts.is_empty() {
        root.push(Node::new("script: none yet"));
    }
    // Rows whose script is not in the answer (never expected) still show.
    let orphan_assets = lineage.assets.iter().filter(|a| !lineage.scripts.iter().any(|s| s.id == a.script_id));
    for asset in orphan_assets {
        root.push(Node::new(asset_label(asset)));
    }
    let orphan_videos = lineage.videos.iter().filter(|v| !lineage.scripts.iter().any(|s| s.id == v.script_id));
    for video in orphan_videos {
        root.push(video_node(video));
    }
    root
}

fn job_label(job: &v1::Job) -> String {
    let progress =
        job.progress.as_ref().map(|p| format!("  {}/{} stages", p.stages_done, p.stages_total)).unwrap_or_default();
    let started_by = if job.started_by.is_empty() { String::new() } else { format!(" by {}", job.started_by) };
    let trace = if job.trace_id.is_empty() { String::new() } else { format!("  trace {}", job.trace_id) };
    format!(
        "job {}  {}  {}  theme {}  variants {}{progress}  created {}{started_by}{trace}",
        job.id,
        names::job_kind(job.kind()),
        names::job_status(job.status()),
        if job.theme_name.is_empty() { "-" } else { &job.theme_name },
        job.variants,
        time(job.created_at.as_ref()),
    )
}

pub fn stage_label(run: &v1::StageRun) -> String {
    let took = seconds_between(run.started_at.as_ref(), run.finished_at.as_ref()).map(duration).unwrap_or_default();
    let detail = if run.error.is_empty() { truncate(&run.output_ref, 60) } else { run.error.clone() };
    let label = format!(
        "{:<17}  attempt {}  {:<9}  {:>6}  {}",
        names::stage(run.stage()),
        run.attempt,
        names::stage_status(run.status()),
        took,
        detail
    );
    label.trim_end().to_owned()
}

/// "collection N, made by job M (or the schedule) at T", and whose cost it is.
pub fn collection_label(collection: &v1::TrendCollection) -> String {
    let maker = if collection.made_by_schedule {
        format!("the schedule (job {})", collection.made_by_job_id)
    } else {
        format!("job {}", collection.made_by_job_id)
    };
    let cost = if collection.shared {
        format!("shared: {} paid by job {}", usd(collection.cost_micros), collection.made_by_job_id)
    } else {
        usd(collection.cost_micros)
    };
    format!(
        "collection {}, made by {maker} at {}  {}  {} trends  used by {} jobs  {cost}",
        collection.id,
        time(collection.made_at.as_ref()),
        collection.sources,
        collection.trends_seen,
        collection.uses,
    )
}

fn report_node(report: &v1::TrendReport) -> Node {
    let cost = if report.reused_from_id > 0 {
        format!("reused from report {} (shared: paid by its job)", report.reused_from_id)
    } else {
        usd(report.cost_micros)
    };
    let mut node = Node::new(format!(
        "report {}  {}  {} trends analysed  avg velocity {:.0}/h  {cost}",
        report.id, report.analyst, report.trends_analyzed, report.avg_engagement_velocity,
    ));
    if !report.video_styles.is_empty() {
        let styles: Vec<String> = report
            .video_styles
            .iter()
            .take(4)
            .map(|s| format!("{} ({:.0}%)", s.category, s.confidence * 100.0))
            .collect();
        node.push(Node::new(format!("styles: {}", styles.join(", "))));
    }
    if !report.top_hashtags.is_empty() {
        let tags: Vec<String> =
            report.top_hashtags.iter().take(6).map(|h| format!("{} ({})", h.tag, h.count)).collect();
        node.push(Node::new(format!("top hashtags: {}", tags.join(", "))));
    }
    for recommendation in report.recommendations.iter().take(3) {
        node.push(Node::new(format!("recommends: {}", truncate(recommendation, 90))));
    }
    node
}

fn script_node(script: &v1::Script, lineage: &v1::JobLineage) -> Node {
    let plan = script.plan.clone().unwrap_or_default();
    let mut node = Node::new(format!(
        "script {} (variant {})  \"{}\"  {}  {:.1}s  {}  from report {}",
        script.id,
        script.variant,
        truncate(&plan.title, 60),
        script.planner,
        plan.duration_seconds,
        usd(script.cost_micros),
        script.trend_report_id,
    ));
    if !plan.hook_text.is_empty() {
        node.push(Node::new(format!("hook: {}", truncate(&plan.hook_text, 80))));
    }
    let mut scenes = Node::new(format!("scenes ({})", plan.scenes.len()));
    for scene in &plan.scenes {
        scenes.push(Node::new(format!(
            "{}  {:.1}s  {:<8}  {}",
            scene.number,
            scene.duration_seconds,
            names::transition(scene.transition()),
            truncate(&scene.visual_prompt, 70)
        )));
    }
    node.push(scenes);
    let assets: Vec<&v1::MediaAsset> = lineage.assets.iter().filter(|a| a.script_id == script.id).collect();
    let mut assets_node = Node::new(format!("assets ({})", assets.len()));
    for asset in assets {
        assets_node.push(Node::new(asset_label(asset)));
    }
    node.push(assets_node);
    for video in lineage.videos.iter().filter(|v| v.script_id == script.id) {
        node.push(video_node(video));
    }
    node
}

fn asset_label(asset: &v1::MediaAsset) -> String {
    let what = match asset.kind() {
        v1::AssetKind::Clip => format!("clip scene {}", asset.scene_number),
        other => names::asset_kind(other),
    };
    format!(
        "asset {}  {what}  {:.1}s  {}  {}  {}",
        asset.id,
        asset.duration_seconds,
        if asset.model.is_empty() { asset.provider.clone() } else { asset.model.clone() },
        usd(asset.cost_micros),
        show_uri(&asset.uri)
    )
}

fn video_node(video: &v1::Video) -> Node {
    let costs = video.costs.unwrap_or_default();
    let mut node = Node::new(format!(
        "video {} (variant {})  {}  {:.1}s  {}x{}  {}",
        video.id,
        video.variant,
        names::video_status(video.status()),
        video.duration_seconds,
        video.width,
        video.height,
        usd(costs.total_micros),
    ));
    node.push(Node::new(format!("file: {}", show_uri(&video.uri))));
    node.push(Node::new(format!("thumbnail: {}", show_uri(&video.thumbnail_uri))));
    if let Some(quality) = quality_label(&video.generation_log_json) {
        node.push(Node::new(quality));
    }
    if !video.reviewed_by.is_empty() {
        node.push(Node::new(format!("reviewed by: {}", video.reviewed_by)));
    }
    if !video.review_note.is_empty() {
        node.push(Node::new(format!("review note: {}", video.review_note)));
    }
    node
}

/// What the composer's quality gate measured (`composition.quality` in the generation log), if it
/// ran: loudness, true peak and the black and silent stretches it found.
fn quality_label(generation_log_json: &str) -> Option<String> {
    let log: serde_json::Value = serde_json::from_str(generation_log_json).ok()?;
    let quality = log.pointer("/composition/quality").filter(|q| q.is_object())?;
    let decibels = |key: &str, unit: &str| match quality[key].as_f64() {
        Some(value) => format!("{value:.1} {unit}"),
        None => "none".to_owned(),
    };
    let stretches = |key: &str| {
        let spans: Vec<String> = quality[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|span| Some(format!("{:.2}-{:.2} s", span[0].as_f64()?, span[1].as_f64()?)))
            .collect();
        if spans.is_empty() {
            "none".to_owned()
        } else {
            spans.join(", ")
        }
    };
    Some(format!(
        "quality: loudness {}, true peak {}, black {}, silence {}",
        decibels("integrated_lufs", "LUFS"),
        decibels("true_peak_dbtp", "dBTP"),
        stretches("black_stretches"),
        stretches("silences"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collection_is_shown_with_its_maker_its_time_and_whose_cost_it_is() {
        let made_at = Some(prost_types::Timestamp { seconds: 1_796_000_000, nanos: 0 });
        let collection = v1::TrendCollection {
            id: 4,
            made_by_job_id: 9,
            made_at,
            sources: "tiktok,youtube".into(),
            trends_seen: 37,
            cost_micros: 250_000,
            shared: true,
            uses: 3,
            ..Default::default()
        };
        let label = collection_label(&collection);
        assert!(label.starts_with("collection 4, made by job 9 at 2026-11-30 00:53:20 "), "{label}");
        assert!(label.contains("used by 3 jobs") && label.contains("shared: $0.25 paid by job 9"), "{label}");
        let scheduled = v1::TrendCollection { made_by_schedule: true, shared: false, ..collection };
        let label = collection_label(&scheduled);
        assert!(label.contains("made by the schedule (job 9) at") && label.ends_with("$0.25"), "{label}");
    }

    #[test]
    fn trees_draw_their_guides() {
        let tree = Node::new("job 1")
            .child(Node::new("stages").child(Node::new("a")).child(Node::new("b")))
            .child(Node::new("video").child(Node::new("file")));
        assert_eq!(tree.render(), "job 1\n├── stages\n│   ├── a\n│   └── b\n└── video\n    └── file\n");
    }

    #[test]
    fn an_empty_lineage_still_prints() {
        let lineage = v1::JobLineage { job: Some(v1::Job { id: 3, ..Default::default() }), ..Default::default() };
        let text = lineage_tree_text(&lineage);
        assert!(text.starts_with("job 3"), "{text}");
        assert!(text.contains("report: none yet"), "{text}");
    }

    #[test]
    fn a_video_shows_what_the_quality_gate_measured() {
        let log = r#"{"composition":{"quality":{"integrated_lufs":-14.1,"true_peak_dbtp":-1.84,
            "black_stretches":[],"silences":[[5.2,6.0]]}}}"#;
        let video = v1::Video { id: 4, generation_log_json: log.to_owned(), ..Default::default() };
        let text = video_node(&video).render();
        assert!(
            text.contains("quality: loudness -14.1 LUFS, true peak -1.8 dBTP, black none, silence 5.20-6.00 s"),
            "{text}"
        );
        let unmeasured = v1::Video { id: 5, generation_log_json: "{}".to_owned(), ..Default::default() };
        assert!(!video_node(&unmeasured).render().contains("quality"));
    }

    fn lineage_tree_text(l: &v1::JobLineage) -> String {
        lineage(l).render()
    }
}
