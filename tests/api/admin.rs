//! The admin area over HTTP, each test on SQLite and on PostgreSQL: sign-in and its lockout,
//! the guard and CSRF, the dashboard and cache purge, the audit log.

mod audit;
mod connection;
mod dashboard;
mod settings;
mod signin;
mod slave_credentials;
mod slaves;

use std::time::Duration;

use crate::support::{TestApp, TestAppBuilder, TestDatabase, csrf_in};

pub const ADMIN: &str = "root";
pub const PASSWORD: &str = "admin-password-123";

/// An address where nothing listens (managers there are down).
pub const NOWHERE: &str = "http://127.0.0.1:9";

/// An app on `db`, with the master at `master` and the admin account `root`.
pub fn builder(db: &TestDatabase, master: &str) -> TestAppBuilder {
    db.configure(TestAppBuilder::new(master).admin(ADMIN, PASSWORD))
}

/// [`builder`] with nothing listening at the master (nobody signs in as a consumer).
pub async fn admin_app(db: &TestDatabase) -> TestApp {
    builder(db, NOWHERE).spawn().await
}

/// The part of `page` from the element with `id` to the end of its list item.
pub fn item(page: &str, id: &str) -> String {
    let start = page.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("{id} on the page:\n{page}"));
    let rest = &page[start..];
    rest[..rest.find("</li>").or_else(|| rest.find("</tr>")).unwrap_or(rest.len())].to_owned()
}

/// The text of the element with `id` (no markup inside).
pub fn text_of(page: &str, id: &str) -> String {
    let start = page.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("{id} on the page:\n{page}"));
    let rest = &page[start..];
    let open = rest.find('>').unwrap() + 1;
    rest[open..open + rest[open..].find('<').unwrap()].trim().to_owned()
}

/// Signs `root` in and checks it worked.
pub async fn signed_in(app: &TestApp) {
    let res = app.admin_sign_in(ADMIN, PASSWORD).await;
    assert_eq!(res.status(), 303, "admin signed in: {}", res.text().await.unwrap_or_default());
}

/// A page that must answer 200, as text.
pub async fn page(app: &TestApp, path: &str) -> String {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    res.text().await.unwrap()
}

/// The CSRF token of the admin session (every admin page carries it in the sign-out form).
pub async fn csrf(app: &TestApp) -> String {
    csrf_in(&page(app, "/admin").await).expect("csrf_token on the dashboard")
}

/// The audit log's actions, newest first, as `(actor, action, target)`.
pub async fn audit_actions(app: &TestApp) -> Vec<(String, String, Option<String>)> {
    let entries = app.state.db().audit_page(None, 500).await.unwrap();
    entries.into_iter().map(|e| (e.actor, e.action, e.target)).collect()
}

/// Waits (without a fixed sleep) until `done` holds, for at most 10 s.
pub async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Another browser on the same app: its own cookies, so a second admin can work beside the
/// first.
pub struct Browser {
    client: reqwest::Client,
    base: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
        Self { client, base: app.url("") }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.base)).form(form).send().await.unwrap()
    }

    pub async fn sign_in(&self, name: &str, password: &str) {
        let form = self.get("/admin/login").await.text().await.unwrap();
        let token = csrf_in(&form).unwrap();
        let res = self
            .post_form("/admin/login", &[("username", name), ("password", password), ("csrf_token", &token)])
            .await;
        assert_eq!(res.status(), 303, "{name} signed in");
    }
}

/// Posts the new-slave form with `fields` (and the page's CSRF token).
pub async fn add_slave(app: &TestApp, fields: &[(&str, &str)]) -> reqwest::Response {
    let token = csrf_in(&page(app, "/admin/slaves/new").await).unwrap();
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    app.post_form("/admin/slaves", &form).await
}

/// `id`, `name`, `url`, enabled, full TLS: a complete new-slave form.
pub fn slave_fields<'a>(id: &'a str, name: &'a str, url: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("id", id), ("name", name), ("url", url), ("base_path", ""), ("tls_mode", "full"), ("enabled", "on")]
}

/// The message next to a field: `<p class="field-error" id="slave-{field}-error">…</p>`, and the
/// input marked invalid and pointing at it.
pub fn field_error(page: &str, field: &str) -> String {
    let marker = format!("id=\"slave-{field}-error\">");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no error for {field}:\n{page}")) + marker.len();
    let described = format!("slave-{field}-error\"");
    assert!(page.contains(&described), "the {field} input is described by its error");
    page[start..start + page[start..].find("</p>").unwrap()].to_owned()
}
