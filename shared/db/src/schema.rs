//! The tables, written once for both backends (see the migrations for constraints).
//! `Json` columns are `JSON` in PostgreSQL and `TEXT` in SQLite; `Timestamp` columns hold UTC.

diesel::table! {
    jobs (id) {
        id -> BigInt,
        kind -> Text,
        status -> Text,
        theme_name -> Text,
        theme -> Nullable<Json>,
        variants -> Integer,
        client_request_id -> Nullable<Text>,
        failed_stage -> Nullable<Text>,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
        lease_token -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        started_by -> Nullable<Text>,
        trace_parent -> Nullable<Text>,
    }
}

diesel::table! {
    job_stages (id) {
        id -> BigInt,
        job_id -> BigInt,
        stage -> Text,
        attempt -> Integer,
        status -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        error -> Nullable<Text>,
        output_ref -> Nullable<Text>,
        worker -> Nullable<Text>,
    }
}

diesel::table! {
    trend_collections (id) {
        id -> BigInt,
        sources -> Text,
        region -> Text,
        window_hours -> Integer,
        status -> Text,
        made_by_job_id -> BigInt,
        made_by -> Text,
        made_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        claim_expires_at -> Timestamp,
        trends_seen -> Integer,
        cost_micros -> BigInt,
        quota -> Json,
        error -> Nullable<Text>,
        analysing_job_id -> Nullable<BigInt>,
        analysis_claim_expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    trend_collection_uses (job_id) {
        job_id -> BigInt,
        trend_collection_id -> BigInt,
        shared -> Bool,
        used_at -> Timestamp,
    }
}

diesel::table! {
    source_quota_usage (source, day) {
        source -> Text,
        day -> Text,
        used -> BigInt,
    }
}

diesel::table! {
    trends (id) {
        id -> BigInt,
        platform -> Text,
        external_id -> Text,
        title -> Text,
        description -> Text,
        hashtags -> Json,
        views -> BigInt,
        likes -> BigInt,
        comments -> BigInt,
        shares -> BigInt,
        duration_seconds -> Integer,
        creator -> Text,
        sound_name -> Nullable<Text>,
        video_url -> Text,
        thumbnail_url -> Nullable<Text>,
        posted_at -> Timestamp,
        engagement_velocity -> Double,
        first_seen_job_id -> BigInt,
        last_seen_job_id -> BigInt,
        first_seen_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    trend_sightings (job_id, trend_id) {
        job_id -> BigInt,
        trend_id -> BigInt,
        views -> BigInt,
        likes -> BigInt,
        comments -> BigInt,
        shares -> BigInt,
        engagement_velocity -> Double,
        seen_at -> Timestamp,
        trend_collection_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    trend_reports (id) {
        id -> BigInt,
        job_id -> BigInt,
        analyst -> Text,
        window_hours -> Integer,
        trends_analyzed -> Integer,
        video_styles -> Json,
        common_patterns -> Json,
        avg_engagement_velocity -> Double,
        top_hashtags -> Json,
        recommendations -> Json,
        cost_micros -> BigInt,
        created_at -> Timestamp,
        model -> Text,
        usage -> Json,
        trend_collection_id -> Nullable<BigInt>,
        prompt_version -> Text,
        reused_from_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    trend_report_items (trend_report_id, trend_id) {
        job_id -> BigInt,
        trend_report_id -> BigInt,
        trend_id -> BigInt,
        rank -> Integer,
        engagement_velocity -> Double,
    }
}

diesel::table! {
    scripts (id) {
        id -> BigInt,
        job_id -> BigInt,
        trend_report_id -> BigInt,
        variant -> Integer,
        title -> Text,
        duration_seconds -> Double,
        plan -> Json,
        theme -> Json,
        planner -> Text,
        model -> Text,
        cost_micros -> BigInt,
        created_at -> Timestamp,
        usage -> Json,
    }
}

diesel::table! {
    media_assets (id) {
        id -> BigInt,
        job_id -> BigInt,
        script_id -> BigInt,
        kind -> Text,
        scene_number -> Integer,
        uri -> Text,
        duration_seconds -> Double,
        size_bytes -> BigInt,
        sha256 -> Text,
        provider -> Text,
        model -> Text,
        usage -> Json,
        cost_micros -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    videos (id) {
        id -> BigInt,
        job_id -> BigInt,
        script_id -> BigInt,
        variant -> Integer,
        status -> Text,
        uri -> Text,
        thumbnail_uri -> Text,
        duration_seconds -> Double,
        size_bytes -> BigInt,
        sha256 -> Text,
        width -> Integer,
        height -> Integer,
        llm_cost_micros -> BigInt,
        tts_cost_micros -> BigInt,
        video_generation_cost_micros -> BigInt,
        generation_log -> Json,
        review_note -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamp>,
        reviewed_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(job_stages -> jobs (job_id));
diesel::joinable!(trend_reports -> jobs (job_id));
diesel::joinable!(trend_sightings -> trends (trend_id));
diesel::joinable!(trend_report_items -> trends (trend_id));
diesel::joinable!(trend_collection_uses -> trend_collections (trend_collection_id));

diesel::allow_tables_to_appear_in_same_query!(
    jobs,
    job_stages,
    trend_collections,
    trend_collection_uses,
    trends,
    trend_sightings,
    trend_reports,
    trend_report_items,
    scripts,
    media_assets,
    videos,
    source_quota_usage,
);
