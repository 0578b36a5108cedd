//! The JSON the simulator answers, shaped like the swagger's definitions (`User`,
//! `Organization`, `DiscoveryAPI`, `Application`) and the manager's error bodies.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Map, Value, json};

use super::data::{
    SimApi, SimApiAccess, SimApiKey, SimApplication, SimOAuthClient, SimOrganization, SimUser,
};

/// Organizations are created before the simulator's data; a fixed date keeps answers stable.
const CREATED_ON: i64 = 1_600_000_000_000;

pub(crate) fn user(user: &SimUser, organization: Option<&SimOrganization>) -> Value {
    let mut view = Map::new();
    view.insert("id".into(), json!(user.id));
    view.insert("organizationId".into(), json!(user.organization_id));
    view.insert("name".into(), json!(user.name));
    view.insert("loginName".into(), json!(user.login_name));
    if let Some(email) = &user.email {
        view.insert("email".into(), json!(email));
    }
    view.insert("role".into(), json!(user.role));
    view.insert("enabled".into(), json!(user.enabled));
    view.insert("createdOn".into(), json!(CREATED_ON));
    view.insert("state".into(), json!("approved"));
    view.insert("type".into(), json!(if user.external { "external" } else { "internal" }));
    view.insert("orgs2Role".into(), json!({ user.organization_id.clone(): user.role }));
    if let Some(organization) = organization {
        view.insert("orgs2Name".into(), json!({ organization.id.clone(): organization.name }));
    }
    Value::Object(view)
}

pub(crate) fn organization(organization: &SimOrganization) -> Value {
    let mut view = Map::new();
    view.insert("id".into(), json!(organization.id));
    view.insert("name".into(), json!(organization.name));
    if let Some(description) = &organization.description {
        view.insert("description".into(), json!(description));
    }
    if let Some(email) = &organization.email {
        view.insert("email".into(), json!(email));
    }
    view.insert("restricted".into(), json!(false));
    view.insert("enabled".into(), json!(organization.enabled));
    view.insert("development".into(), json!(true));
    view.insert("createdOn".into(), json!(CREATED_ON));
    Value::Object(view)
}

pub(crate) fn discovery_api(api: &SimApi, base_path: &str) -> Value {
    let uri = api.uri.clone().unwrap_or_else(|| format!("{base_path}/discovery/swagger/api/id/{}", api.id));
    json!({ "id": api.id, "name": api.name, "summary": api.summary, "type": api.kind, "uri": uri })
}

pub(crate) fn application(application: &SimApplication) -> Value {
    let mut view = Map::new();
    view.insert("id".into(), json!(application.id));
    view.insert("name".into(), json!(application.name));
    if let Some(description) = &application.description {
        view.insert("description".into(), json!(description));
    }
    view.insert("organizationId".into(), json!(application.organization_id));
    if let Some(created_by) = &application.created_by {
        view.insert("createdBy".into(), json!(created_by));
        view.insert("managedBy".into(), json!([created_by]));
    }
    view.insert("createdOn".into(), json!(application.created_on));
    view.insert("enabled".into(), json!(application.enabled));
    view.insert("state".into(), json!(application.state));
    Value::Object(view)
}

pub(crate) fn api_key(key: &SimApiKey) -> Value {
    let mut view = Map::new();
    view.insert("id".into(), json!(key.id));
    view.insert("applicationId".into(), json!(key.application_id));
    view.insert("secret".into(), json!(key.secret));
    view.insert("enabled".into(), json!(key.enabled));
    if let Some(created_by) = &key.created_by {
        view.insert("createdBy".into(), json!(created_by));
    }
    view.insert("createdOn".into(), json!(key.created_on));
    Value::Object(view)
}

pub(crate) fn oauth_client(client: &SimOAuthClient) -> Value {
    json!({
        "id": client.id,
        "applicationId": client.application_id,
        "secret": client.secret,
        "type": "confidential",
        "enabled": client.enabled,
        "createdOn": client.created_on,
    })
}

pub(crate) fn api_access(access: &SimApiAccess) -> Value {
    let mut view = Map::new();
    view.insert("id".into(), json!(access.id));
    view.insert("apiId".into(), json!(access.api_id));
    if let Some(created_by) = &access.created_by {
        view.insert("createdBy".into(), json!(created_by));
    }
    view.insert("state".into(), json!(access.state));
    view.insert("createdOn".into(), json!(access.created_on));
    view.insert("enabled".into(), json!(access.enabled));
    Value::Object(view)
}

/// A refused call: the status and message of the manager's error body
/// `{"errors":[{"code":401,"message":"…"}]}`, with optional extra members on the error object.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    status: StatusCode,
    message: String,
    extra: Map<String, Value>,
}

impl Refusal {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), extra: Map::new() }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }

    /// Adds a member to the error object (e.g. the organization a slave lacks).
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn response(&self) -> HttpResponse {
        let mut entry = Map::new();
        entry.insert("code".into(), json!(self.status.as_u16()));
        entry.insert("message".into(), json!(self.message));
        entry.extend(self.extra.clone());
        HttpResponse::build(self.status).json(json!({ "errors": [Value::Object(entry)] }))
    }
}

impl From<Refusal> for HttpResponse {
    fn from(refusal: Refusal) -> Self {
        refusal.response()
    }
}

/// The manager's error body for `status`.
pub(crate) fn error(status: StatusCode, message: &str) -> HttpResponse {
    Refusal::new(status, message).response()
}

pub(crate) fn not_found() -> HttpResponse {
    Refusal::not_found().response()
}
