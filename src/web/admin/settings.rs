//! `GET/POST /admin/settings`: the public label, the login-failure policy, login protection and
//! the cache TTLs. A value saved here overrides the config file's; saving the file's value again
//! removes the override. The page says which values are overridden and what the file says.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::access::{Admin, Flash, flash};
use super::page::{Shell, audit, client_address, db_error, render, see_other};
use crate::domain::LoginFailurePolicy;
use crate::federation::RuntimeSettings;
use crate::state::AppState;
use crate::store::{Change, SettingsOverrides, setting_keys as keys};
use crate::web::WebError;

#[derive(Debug, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    label: String,
    #[serde(default)]
    login_failure_policy: String,
    #[serde(default)]
    login_protection_enabled: Option<String>,
    #[serde(default)]
    max_failures: String,
    #[serde(default)]
    window: String,
    #[serde(default)]
    lock_duration: String,
    #[serde(default)]
    lock_by_ip: Option<String>,
    #[serde(default)]
    max_failures_per_ip: String,
    #[serde(default)]
    catalog_ttl: String,
    #[serde(default)]
    organization_ttl: String,
    #[serde(default)]
    csrf_token: String,
}

fn differ<T: PartialEq>(mine: T, theirs: T) -> Option<T> {
    (mine != theirs).then_some(mine)
}

/// One setting on the page.
pub struct Field {
    /// What the input shows (for a checkbox: `on` or empty).
    pub value: String,
    /// The config file's value, as text.
    pub file: String,
    pub overridden: bool,
    pub error: Option<String>,
}

/// The settings in force, typed; the same shape for the file's values and the posted ones.
#[derive(Debug, Clone, PartialEq)]
struct Values {
    label: String,
    policy: LoginFailurePolicy,
    enabled: bool,
    max_failures: u32,
    window: Duration,
    lock_duration: Duration,
    lock_by_ip: bool,
    max_failures_per_ip: u32,
    catalog_ttl: Duration,
    organization_ttl: Duration,
}

impl Values {
    fn of(runtime: &RuntimeSettings) -> Self {
        let p = &runtime.login_protection;
        Self {
            label: runtime.label.clone(),
            policy: runtime.policy,
            enabled: p.enabled,
            max_failures: p.max_failures,
            window: p.window.get(),
            lock_duration: p.lock_duration.get(),
            lock_by_ip: p.lock_by_ip,
            max_failures_per_ip: p.max_failures_per_ip,
            catalog_ttl: runtime.catalog_ttl,
            organization_ttl: runtime.organization_ttl,
        }
    }

    /// Every setting as `(key, text)`, in page order.
    fn texts(&self) -> [(&'static str, String); 10] {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        let on = |b: bool| if b { "on" } else { "" }.to_owned();
        [
            (keys::LABEL, self.label.clone()),
            (keys::POLICY, self.policy.as_str().to_owned()),
            (keys::PROTECTION_ENABLED, on(self.enabled)),
            (keys::MAX_FAILURES, self.max_failures.to_string()),
            (keys::WINDOW, d(self.window)),
            (keys::LOCK_DURATION, d(self.lock_duration)),
            (keys::LOCK_BY_IP, on(self.lock_by_ip)),
            (keys::MAX_FAILURES_PER_IP, self.max_failures_per_ip.to_string()),
            (keys::CATALOG_TTL, d(self.catalog_ttl)),
            (keys::ORGANIZATION_TTL, d(self.organization_ttl)),
        ]
    }

    /// What differs from the file's values, as overrides.
    fn overrides_over(&self, file: &Values) -> SettingsOverrides {
        SettingsOverrides {
            label: (self.label != file.label).then(|| self.label.clone()),
            login_failure_policy: differ(self.policy, file.policy),
            login_protection_enabled: differ(self.enabled, file.enabled),
            max_failures: differ(self.max_failures, file.max_failures),
            window: differ(self.window, file.window),
            lock_duration: differ(self.lock_duration, file.lock_duration),
            lock_by_ip: differ(self.lock_by_ip, file.lock_by_ip),
            max_failures_per_ip: differ(self.max_failures_per_ip, file.max_failures_per_ip),
            catalog_ttl: differ(self.catalog_ttl, file.catalog_ttl),
            organization_ttl: differ(self.organization_ttl, file.organization_ttl),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/settings.html")]
struct SettingsPage {
    shell: Shell,
    fields: Vec<Field>,
    has_errors: bool,
    policies: [(&'static str, &'static str); 3],
}

impl SettingsPage {
    /// The field of a key, in page order (see [`Values::texts`]).
    fn f(&self, i: impl std::borrow::Borrow<usize>) -> &Field {
        &self.fields[*i.borrow()]
    }
}

const POLICIES: [(&str, &str); 3] = [
    ("master", "Master: the master and every required slave must accept; other slaves may be unavailable"),
    ("all", "All: the master and every enabled slave must accept"),
    ("any", "Any: one manager accepting is enough"),
];

fn file_values(state: &AppState) -> Values {
    Values::of(&RuntimeSettings::resolve(state.settings(), SettingsOverrides::default()))
}

async fn page(
    state: &AppState,
    admin: &Admin,
    status: StatusCode,
    shown: [(&'static str, String); 10],
    errors: &[(&'static str, String)],
) -> Result<HttpResponse, WebError> {
    let runtime = state.runtime();
    let file = file_values(state).texts();
    let fields = shown
        .into_iter()
        .zip(file)
        .map(|((key, value), (_, file))| Field {
            value,
            file,
            overridden: runtime.is_overridden(key),
            error: errors.iter().find(|(k, _)| *k == key).map(|(_, e)| e.clone()),
        })
        .collect();
    let page = SettingsPage {
        shell: Shell::new(state, admin, "settings").await?,
        fields,
        has_errors: !errors.is_empty(),
        policies: POLICIES,
    };
    render(status, &page)
}

pub async fn settings_form(state: web::Data<AppState>, admin: Admin) -> Result<HttpResponse, WebError> {
    let shown = Values::of(&state.runtime()).texts();
    page(&state, &admin, StatusCode::OK, shown, &[]).await
}

pub async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin,
    posted: web::Form<SettingsForm>,
) -> Result<HttpResponse, WebError> {
    let form = posted.into_inner();
    admin.check_csrf(&form.csrf_token)?;
    let wanted = match check(&form) {
        Ok(values) => values,
        Err(errors) => return page(&state, &admin, StatusCode::BAD_REQUEST, typed(&form), &errors).await,
    };
    let before = Values::of(&state.runtime());
    if wanted == before {
        flash(&state, &admin, Flash::ok("Nothing to save: the settings are unchanged.")).await?;
        return Ok(see_other("/admin/settings"));
    }
    let overrides = wanted.overrides_over(&file_values(&state));
    state.db().save_overrides(&overrides, &admin.actor()).await.map_err(db_error)?;
    if let Err(e) = state.changed(Change::Settings).await {
        tracing::warn!(error = %e, "saved settings are not in force on this replica yet");
    }
    let (mut old, mut new) = (Map::new(), Map::new());
    for ((key, was), (_, is)) in before.texts().into_iter().zip(wanted.texts()) {
        if was != is {
            old.insert(key.to_owned(), Value::from(was));
            new.insert(key.to_owned(), Value::from(is));
        }
    }
    let detail = serde_json::json!({ "before": old, "after": new });
    let ip = client_address(&req, &state);
    audit(&state, &admin.actor(), "settings.update", None, Some(detail), ip.as_deref()).await;
    let text = "Settings saved. They are in force on every replica within a second.";
    flash(&state, &admin, Flash::ok(text)).await?;
    Ok(see_other("/admin/settings"))
}

/// The form as typed, to show again with its errors.
fn typed(form: &SettingsForm) -> [(&'static str, String); 10] {
    let on = |b: &Option<String>| if b.is_some() { "on" } else { "" }.to_owned();
    [
        (keys::LABEL, form.label.clone()),
        (keys::POLICY, form.login_failure_policy.clone()),
        (keys::PROTECTION_ENABLED, on(&form.login_protection_enabled)),
        (keys::MAX_FAILURES, form.max_failures.clone()),
        (keys::WINDOW, form.window.clone()),
        (keys::LOCK_DURATION, form.lock_duration.clone()),
        (keys::LOCK_BY_IP, on(&form.lock_by_ip)),
        (keys::MAX_FAILURES_PER_IP, form.max_failures_per_ip.clone()),
        (keys::CATALOG_TTL, form.catalog_ttl.clone()),
        (keys::ORGANIZATION_TTL, form.organization_ttl.clone()),
    ]
}

fn check(form: &SettingsForm) -> Result<Values, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let label = form.label.trim().to_owned();
    if label.is_empty() || label.chars().count() > 60 || label.chars().any(char::is_control) {
        errors.push((keys::LABEL, "Enter a label of 1 to 60 characters on one line.".to_owned()));
    }
    let policy = form.login_failure_policy.parse::<LoginFailurePolicy>().unwrap_or_else(|_| {
        errors.push((keys::POLICY, "Choose master, all or any.".to_owned()));
        LoginFailurePolicy::default()
    });
    let mut count = |key, raw: &str, max: u32| match raw.trim().parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => n,
        _ => {
            errors.push((key, format!("Enter a whole number from 1 to {max}.")));
            1
        }
    };
    let max_failures = count(keys::MAX_FAILURES, &form.max_failures, 100);
    let max_failures_per_ip = count(keys::MAX_FAILURES_PER_IP, &form.max_failures_per_ip, 10_000);
    let mut duration = |key, raw: &str| match humantime::parse_duration(raw.trim()) {
        Ok(d) if (Duration::from_secs(1)..=Duration::from_secs(7 * 86_400)).contains(&d) => d,
        Ok(_) => {
            errors.push((key, "Use a duration between 1s and 7 days.".to_owned()));
            Duration::ZERO
        }
        Err(_) => {
            errors.push((key, "Write a duration like \"30s\", \"15m\" or \"1h\".".to_owned()));
            Duration::ZERO
        }
    };
    let values = Values {
        label,
        policy,
        enabled: form.login_protection_enabled.is_some(),
        max_failures,
        window: duration(keys::WINDOW, &form.window),
        lock_duration: duration(keys::LOCK_DURATION, &form.lock_duration),
        lock_by_ip: form.lock_by_ip.is_some(),
        max_failures_per_ip,
        catalog_ttl: duration(keys::CATALOG_TTL, &form.catalog_ttl),
        organization_ttl: duration(keys::ORGANIZATION_TTL, &form.organization_ttl),
    };
    if errors.is_empty() { Ok(values) } else { Err(errors) }
}
