//! The manager resources Portico reads and writes, as the v1.3 swagger names them.

use serde::{Deserialize, Serialize};

use crate::domain::Role;

/// `GET /currentuser`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub login_name: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    pub role: Role,
    pub organization_id: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// `GET /organizations/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

/// One entry of `GET /discovery/apis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredApi {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
}

/// `GET /applications` entries and the `POST /applications` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub organization_id: String,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// `approved`, `pending`, … (the manager's word).
    #[serde(default)]
    pub state: Option<String>,
}

/// An application's API key (`APIKey`). The manager returns the secret; Portico shows it once,
/// on the page that created it, and otherwise only its last characters.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default = "enabled")]
    pub enabled: bool,
    #[serde(default)]
    pub created_on: Option<i64>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey").field("id", &self.id).field("enabled", &self.enabled).finish_non_exhaustive()
    }
}

/// An application's OAuth client (`OAuthClient`); its secret is shown once, as an API key's.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClient {
    pub id: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient").field("id", &self.id).finish_non_exhaustive()
    }
}

/// An application's access to an API (`APIAccess`): its state is the manager's (`approved`,
/// `pending`, …).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiAccess {
    pub id: String,
    pub api_id: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

/// `GET /applications/{id}/quota` (`QuotaDTO`): the restrictions on the application's calls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub restrictions: Vec<QuotaRestriction>,
}

/// One restriction of a [`Quota`] (`QuotaApiConstraintDTO`); `config` is the manager's words
/// (`messages`, `mb`, `per`, `period`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaRestriction {
    #[serde(default)]
    pub api: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub config: std::collections::BTreeMap<String, String>,
}

/// `GET /metrics/reports/…/timeline/…`: a metric over time (`MetricTimeline`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricTimeline {
    #[serde(default)]
    pub series: Vec<MetricSeries>,
}

/// One series of a [`MetricTimeline`] (`Series`): evenly spaced points from `point_start` (ms).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricSeries {
    #[serde(default)]
    pub point_interval: i64,
    #[serde(default)]
    pub point_start: i64,
    #[serde(default)]
    pub data: Vec<Option<f64>>,
}

/// The body of `PUT /applications/{id}`: the application as it is to be (the swagger's
/// `Application`, whose `name` and `organizationId` are required).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationUpdate {
    pub id: String,
    pub name: String,
    pub description: String,
    pub organization_id: String,
}

/// The body of `POST /applications`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApplication {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub organization_id: String,
}

/// `GET /appinfo`: what the manager says about itself (Portico reads only these fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// The API Manager's version, e.g. `7.7.0`.
    #[serde(default)]
    pub product_version: Option<String>,
    #[serde(default)]
    pub portal_name: Option<String>,
}
