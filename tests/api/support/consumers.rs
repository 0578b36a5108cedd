//! Consumers with browsers of their own (cookies, a user agent) on an in-process app, and what
//! their "Your sessions" page lists.

use super::{TestApp, csrf_in};

/// A browser of its own (cookies, a user agent) signed in as `user` (password `{user}-password`)
/// on `app`.
pub async fn signed_in_browser(app: &TestApp, user: &str, agent: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(agent)
        .build()
        .unwrap();
    let form = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let token = csrf_in(&form).unwrap();
    let password = format!("{user}-password");
    let res = client
        .post(app.url("/login"))
        .form(&[("username", user), ("password", password.as_str()), ("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{user} signs in");
    client
}

/// The session references on a "Your sessions" page, in order (oldest first).
pub fn session_references(page: &str) -> Vec<String> {
    page.match_indices("id=\"session-")
        .map(|(at, m)| page[at + m.len()..].split('"').next().unwrap().to_owned())
        .collect()
}

/// The table row of the session `reference` on a "Your sessions" page.
pub fn session_row<'a>(page: &'a str, reference: &str) -> &'a str {
    let start = page.find(&format!("id=\"session-{reference}\"")).unwrap();
    &page[start..start + page[start..].find("</tr>").unwrap()]
}
