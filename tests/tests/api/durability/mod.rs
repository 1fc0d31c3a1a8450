//! Durable orchestration (issue 5): crashes, stalls, retries, lost database connections,
//! cancellation and shutdown, with the real `shortline` processes and real signals. One file
//! per kind of failure; [`support`] holds the waits and post-mortems they share.
//!
//! Every wait polls with a deadline; when one runs out (or a job ends unexpectedly) the panic
//! carries the job's row, its stage attempts and the tails of the services' logs. The tests are
//! registered here, so their names stay `durability::<test>::<backend>`.

#[macro_use]
mod support;

mod cancel;
mod database;
mod kills;
mod orphan_files;
mod outage;
mod replicas;
mod stops;
mod unavailable;

pub(crate) use support::{files_under, WORK_STAGES};

use cancel::{cancel_during_composition_then_retry_from_media, cancel_during_media_then_retry_from_script};
use database::database_connections_terminated_mid_job;
use kills::{composer_killed_while_ffmpeg_runs, orchestrator_killed_mid_job_is_resumed_by_another};
use orphan_files::{
    cancelled_media_stage_leaves_no_file_without_a_row, leftovers_of_a_job_failed_after_a_crash_are_swept,
    scriptgen_and_composer_killed_mid_stage_and_back_after_2_s,
};
use outage::read_only_commands_during_an_orchestrator_outage_change_no_job;
use replicas::{one_request_id_makes_one_job_under_concurrency, two_hundred_jobs_through_two_replicas};
use stops::{sigterm_during_a_stage, stalled_orchestrator_is_fenced_out};
use unavailable::{
    invalid_argument_fails_after_one_attempt, unavailable_past_max_attempts_is_waited_for,
    unavailable_three_times_then_success, unreachable_past_the_stage_deadline_fails_the_job,
};

use shortline_testing::on_both_backends;

on_both_backends!(
    cancelled_media_stage_leaves_no_file_without_a_row,
    leftovers_of_a_job_failed_after_a_crash_are_swept,
    scriptgen_and_composer_killed_mid_stage_and_back_after_2_s,
    read_only_commands_during_an_orchestrator_outage_change_no_job,
    one_request_id_makes_one_job_under_concurrency,
    composer_killed_while_ffmpeg_runs,
    orchestrator_killed_mid_job_is_resumed_by_another,
    unavailable_three_times_then_success,
    unavailable_past_max_attempts_is_waited_for,
    unreachable_past_the_stage_deadline_fails_the_job,
    invalid_argument_fails_after_one_attempt,
    sigterm_during_a_stage,
    cancel_during_composition_then_retry_from_media,
    cancel_during_media_then_retry_from_script,
);

/// PostgreSQL only: several live processes on one database (SQLite serves one process), and
/// connections that can be terminated.
macro_rules! on_postgres {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::TestDb::postgres().await).await
            }
        }
    )+};
}

on_postgres!(
    stalled_orchestrator_is_fenced_out,
    database_connections_terminated_mid_job,
    two_hundred_jobs_through_two_replicas
);
