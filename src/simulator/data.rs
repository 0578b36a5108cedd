//! What a simulated manager knows: organizations, users, APIs and applications (the JSON data
//! file of `portico simulate-manager --data`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::Role;

/// Users, organizations, APIs and applications a simulator starts with (JSON data file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorData {
    #[serde(default)]
    pub organizations: Vec<SimOrganization>,
    #[serde(default)]
    pub users: Vec<SimUser>,
    #[serde(default)]
    pub apis: Vec<SimApi>,
    #[serde(default)]
    pub applications: Vec<SimApplication>,
    /// Applications' API keys.
    #[serde(default)]
    pub api_keys: Vec<SimApiKey>,
    /// Applications' access to APIs, approved or pending.
    #[serde(default)]
    pub api_access: Vec<SimApiAccess>,
    /// Applications' OAuth clients.
    #[serde(default)]
    pub oauth_clients: Vec<SimOAuthClient>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimOrganization {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// A user. On a slave the password is absent: slaves authenticate against their master.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimUser {
    pub id: String,
    pub login_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub role: Role,
    pub organization_id: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub password_change_required: bool,
    /// Created by a login delegated to the master (a slave's shadow record).
    #[serde(default)]
    pub external: bool,
}

impl std::fmt::Debug for SimUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimUser")
            .field("id", &self.id)
            .field("login_name", &self.login_name)
            .field("role", &self.role)
            .field("organization_id", &self.organization_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimApi {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub summary: String,
    #[serde(rename = "type", default = "rest")]
    pub kind: String,
    /// Where the portal finds more about the API; derived from the id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The ids of the organizations that see this API.
    #[serde(default)]
    pub organizations: Vec<String>,
    /// The document `GET /discovery/swagger/api/id/{id}` returns.
    #[serde(default)]
    pub definition: serde_json::Value,
    /// Access requests to this API wait for an administrator's approval (`pending`).
    #[serde(default)]
    pub approval: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimApplication {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub organization_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default)]
    pub created_on: i64,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "approved")]
    pub state: String,
    /// Calls per hour, the last element being the hour a report ends in (the metrics reports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<f64>,
}

/// An application's API key (`APIKey`); the secret is shown by the manager at creation and in
/// its listings, as the v1.3 API does.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimApiKey {
    pub id: String,
    pub application_id: String,
    pub secret: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default)]
    pub created_on: i64,
}

impl std::fmt::Debug for SimApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimApiKey")
            .field("id", &self.id)
            .field("application_id", &self.application_id)
            .finish()
    }
}

/// An application's OAuth client (`OAuthClient`), with its secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimOAuthClient {
    pub id: String,
    pub application_id: String,
    pub secret: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub created_on: i64,
}

impl std::fmt::Debug for SimOAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimOAuthClient").field("id", &self.id).finish_non_exhaustive()
    }
}

/// An application's access to an API (`APIAccess`): `approved` or `pending`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimApiAccess {
    pub id: String,
    pub application_id: String,
    pub api_id: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default)]
    pub created_on: i64,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

fn rest() -> String {
    "rest".to_owned()
}

fn approved() -> String {
    "approved".to_owned()
}

impl SimulatorData {
    /// Reads a data file.
    pub fn from_file(path: &Path) -> Result<Self, DataFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| DataFileError::Read { path: path.display().to_string(), source })?;
        serde_json::from_str(&text)
            .map_err(|source| DataFileError::Parse { path: path.display().to_string(), source })
    }

    pub fn organization(&self, id: &str) -> Option<&SimOrganization> {
        self.organizations.iter().find(|org| org.id == id)
    }

    pub fn organization_named(&self, name: &str) -> Option<&SimOrganization> {
        self.organizations.iter().find(|org| org.name == name)
    }

    pub fn user(&self, id: &str) -> Option<&SimUser> {
        self.users.iter().find(|user| user.id == id)
    }

    pub fn user_by_login(&self, login_name: &str) -> Option<&SimUser> {
        self.users.iter().find(|user| user.login_name == login_name)
    }

    pub fn api(&self, id: &str) -> Option<&SimApi> {
        self.apis.iter().find(|api| api.id == id)
    }
}

/// A data file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DataFileError {
    #[error("cannot read the simulator data file {path}")]
    Read { path: String, source: std::io::Error },
    #[error("the simulator data file {path} is not valid")]
    Parse { path: String, source: serde_json::Error },
}

/// A fresh random id shaped like the manager's (a UUID v4).
pub(crate) fn new_id() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::crypto::hex(&bytes);
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Milliseconds since the Unix epoch, the manager's timestamp unit.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
