//! One module per table: `X` (a row as read), `NewX` (a row to insert) and its queries.
//!
//! Every `NewX` is `treat_none_as_default_value = false` (no nullable column has a default, so
//! `None` is `NULL` either way): diesel then writes the same SQL for every row, which lets the
//! connection keep the INSERT prepared instead of parsing it on every call, and lets SQLite take
//! several rows in one statement.

pub mod job_stages;
pub mod jobs;
pub mod lineage;
pub mod media_assets;
pub mod scripts;
pub mod trend_collections;
pub mod trend_reports;
pub mod trends;
pub mod videos;

pub use job_stages::{JobStage, NewJobStage, StageName, StageStatus};
pub use jobs::{Job, JobKind, JobStatus, Lease, NewJob};
pub use lineage::Lineage;
pub use media_assets::{AssetKind, MediaAsset, NewMediaAsset};
pub use scripts::{NewScript, Script};
pub use trend_collections::{
    CollectionKey, CollectionStatus, MadeBy, NewTrendCollection, TrendCollection, TrendCollectionUse,
};
pub use trend_reports::{NewTrendReport, TrendReport, TrendReportItem};
pub use trends::{NewTrend, Trend, TrendSighting};
pub use videos::{NewVideo, Video, VideoStatus};

/// A text column holding one of a fixed set of values, as a Rust enum. The set is also
/// enforced by a CHECK constraint in the migrations.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
                 serde::Serialize, serde::Deserialize)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(concat!("`{}` is not a ", stringify!($name)), other)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(bytes)?;
                text.parse().map_err(Into::into)
            }
        }
    };
}
pub(crate) use text_enum;

/// Serialises a domain value for a JSON column.
pub fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    // Domain types are plain data (no maps with non-string keys), so this cannot fail.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Reads a JSON column back into a domain value.
pub fn from_json<T: serde::de::DeserializeOwned>(value: &serde_json::Value, column: &str) -> super::DbResult<T> {
    serde_json::from_value(value.clone())
        .map_err(|e| super::DbError::Internal(format!("column {column} holds unexpected JSON: {e}")))
}
