//! Admin sign-in: the local accounts, the cookie, the stricter lockout by name and by address,
//! CSRF on every form, the guard, and what the audit log records.

use std::time::Duration;

use super::{ADMIN, NOWHERE, PASSWORD, admin_app, audit_actions, builder, csrf, page, signed_in};
use crate::support::{TestDatabase, location, set_cookies};

crate::on_both_databases!(
    signing_in_and_out,
    wrong_passwords_and_unknown_names_get_one_answer_and_lock_the_name,
    failures_from_one_address_lock_the_address,
    forms_without_the_right_token_are_refused,
    sessions_are_separate_from_the_portal_and_end_at_the_absolute_timeout,
);

async fn signing_in_and_out(db: TestDatabase) {
    let app = admin_app(&db).await;
    let res = app.get("/admin/slaves").await;
    assert_eq!(res.status(), 303, "signed out");
    assert_eq!(location(&res), "/admin/login?return_to=%2Fadmin%2Fslaves");

    let res = app.get("/admin/login").await;
    assert_eq!(res.status(), 200);
    let nonce =
        set_cookies(&res).into_iter().find(|c| c.starts_with("portico_session_admin_login=")).unwrap();
    assert!(nonce.contains("SameSite=Strict") && nonce.contains("Path=/admin") && nonce.contains("HttpOnly"));
    let form = res.text().await.unwrap();
    assert!(form.contains("<label for=\"username\">Admin name</label>"), "{form}");
    let token = crate::support::csrf_in(&form).unwrap();
    let res = app
        .post_form(
            "/admin/login",
            &[
                ("username", ADMIN),
                ("password", PASSWORD),
                ("csrf_token", &token),
                ("return_to", "/admin/audit"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/audit", "back where the admin was going");
    let cookies = set_cookies(&res);
    let session = cookies.iter().find(|c| c.starts_with("portico_session_admin=")).expect("admin cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(session.contains(part), "{part} in {session}");
    }
    assert!(!session.contains("Secure"), "plain http here");
    assert!(!session.contains("Max-Age"), "a browser-session cookie");
    assert_eq!(app.state.kv().count_prefix("admin_session:").await.unwrap(), 1, "sealed in the store");
    assert_eq!(app.state.kv().count_prefix("session:").await.unwrap(), 0, "not a portal session");

    let dashboard = page(&app, "/admin").await;
    assert!(dashboard.contains("root · admin"), "{dashboard}");
    let res = app.get("/admin/login").await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/admin".to_owned()), "already signed in");

    let token = csrf(&app).await;
    let res = app.post_form("/admin/logout", &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/login");
    assert!(
        set_cookies(&res).iter().any(|c| c.starts_with("portico_session_admin=;") && c.contains("Max-Age=0"))
    );
    assert_eq!(app.state.kv().count_prefix("admin_session:").await.unwrap(), 0, "the session is gone");
    assert_eq!(app.get("/admin").await.status(), 303, "signed out again");

    let actions = audit_actions(&app).await;
    assert_eq!(
        actions,
        [
            ("admin:root".to_owned(), "admin.signout".to_owned(), None),
            ("admin:root".to_owned(), "admin.signin.success".to_owned(), None),
        ]
    );
    app.stop().await;
}

async fn wrong_passwords_and_unknown_names_get_one_answer_and_lock_the_name(db: TestDatabase) {
    let builder = builder(&db, NOWHERE);
    let clock = builder.clock();
    let app = builder.spawn().await;
    let res = app.admin_sign_in("nobody", PASSWORD).await;
    assert_eq!(res.status(), 401);
    let unknown = res.text().await.unwrap();
    assert!(unknown.contains("Wrong admin name or password."), "{unknown}");
    assert!(unknown.contains("value=\"nobody\""), "the name is kept");

    for attempt in 1..=2 {
        let res = app.admin_sign_in(ADMIN, "not the password").await;
        assert_eq!(res.status(), 401, "attempt {attempt}");
        assert!(res.text().await.unwrap().contains("Wrong admin name or password."));
    }
    let res = app.admin_sign_in(ADMIN, "still not it").await;
    assert_eq!(res.status(), 429, "the third failure locks the name");
    assert_eq!(res.headers()["retry-after"], "1800");
    assert!(res.text().await.unwrap().contains("Too many failed sign-ins. Try again in 30 minutes."));
    let res = app.admin_sign_in(ADMIN, PASSWORD).await;
    assert_eq!(res.status(), 429, "locked even with the right password");

    clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(app.admin_sign_in(ADMIN, PASSWORD).await.status(), 429, "still locked");
    clock.advance(Duration::from_secs(61));
    assert_eq!(app.admin_sign_in(ADMIN, PASSWORD).await.status(), 303, "the lock has ended");

    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|(_, a, _)| a).collect();
    assert_eq!(
        actions,
        [
            "admin.signin.success",
            "admin.signin.locked",
            "admin.signin.locked",
            "admin.signin.locked",
            "admin.signin.failure",
            "admin.signin.failure",
            "admin.signin.failure",
            "admin.signin.failure",
        ]
    );
    let entries = app.state.db().audit_page(None, 50).await.unwrap();
    assert!(entries.iter().all(|e| e.client_ip.as_deref() == Some("127.0.0.1")), "with the address");
    assert!(entries.iter().any(|e| e.actor == "admin:nobody"), "what was typed is recorded");
    assert!(!crate::support::logs::text().contains("still not it"), "passwords never logged");
    app.stop().await;
}

async fn failures_from_one_address_lock_the_address(db: TestDatabase) {
    let app = admin_app(&db).await;
    // Ten names, one failure each: no name is locked, the address is.
    for n in 0..9 {
        assert_eq!(app.admin_sign_in(&format!("guess{n}"), "x").await.status(), 401, "failure {n}");
    }
    assert_eq!(app.admin_sign_in("guess9", "x").await.status(), 429, "the tenth locks the address");
    let res = app.admin_sign_in(ADMIN, PASSWORD).await;
    assert_eq!(res.status(), 429, "nobody signs in from that address now");
    app.stop().await;
}

async fn forms_without_the_right_token_are_refused(db: TestDatabase) {
    let app = admin_app(&db).await;
    // No token, then a token without the cookie it belongs to (another browser's).
    let res = app.post_form("/admin/login", &[("username", ADMIN), ("password", PASSWORD)]).await;
    assert_eq!(res.status(), 403);
    let token = app.csrf_token("/admin/login").await;
    let other = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = other
        .post(app.url("/admin/login"))
        .form(&[("username", ADMIN), ("password", PASSWORD), ("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("This form has expired or did not come from this site."));

    signed_in(&app).await;
    let res = app.post_form("/admin/cache/purge", &[("csrf_token", "forged")]).await;
    assert_eq!(res.status(), 403, "a wrong token");
    let res = app.post_form("/admin/logout", &[]).await;
    assert_eq!(res.status(), 403, "no token");
    let token = csrf(&app).await;
    let res = app
        .client
        .post(app.url("/admin/cache/purge"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "the browser says it came from another site");
    let res = app
        .client
        .post(app.url("/admin/cache/purge"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "the right token from this site");
    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|(_, a, _)| a).collect();
    assert_eq!(actions, ["cache.purge", "admin.signin.success"], "refused forms changed nothing");
    app.stop().await;
}

async fn sessions_are_separate_from_the_portal_and_end_at_the_absolute_timeout(db: TestDatabase) {
    let builder = builder(&db, NOWHERE);
    let clock = builder.clock();
    let app = builder.spawn().await;
    signed_in(&app).await;
    let res = app.get("/environments").await;
    assert_eq!(res.status(), 303, "an admin session is not a consumer session");
    assert_eq!(location(&res), "/login?return_to=%2Fenvironments");
    // Signed in, the sign-in page sends the admin on; targets outside the admin area are ignored.
    for (target, expected) in
        [("/admin/audit", "/admin/audit"), ("/environments", "/admin"), ("https://evil.example/", "/admin")]
    {
        let res = app.get(&format!("/admin/login?return_to={target}")).await;
        assert_eq!(location(&res), expected, "{target}");
    }

    clock.advance(Duration::from_secs(8 * 3600 + 60));
    let res = app.get("/admin").await;
    assert_eq!(res.status(), 303, "eight hours after sign-in the admin session has ended");
    assert_eq!(location(&res), "/admin/login?return_to=%2Fadmin");
    app.stop().await;
}
