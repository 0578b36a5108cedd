//! Liveness, readiness (and recovery when Redis comes back), request ids, security headers and
//! the error pages.

use std::time::{Duration, Instant};

use crate::support::{RedisServer, TestAppBuilder};

const NOWHERE: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn healthz_answers_and_every_response_carries_a_request_id_and_security_headers() {
    let app = TestAppBuilder::new(NOWHERE).spawn().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let headers = res.headers();
    let id = headers.get("x-request-id").expect("request id header").to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "128-bit hex request id");
    let csp = headers.get("content-security-policy").expect("CSP").to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(headers.get("referrer-policy").unwrap(), "same-origin");
    assert!(headers.get("strict-transport-security").is_none(), "no HSTS over plain http");
    let other = app.get("/healthz").await;
    assert_ne!(other.headers().get("x-request-id").unwrap().to_str().unwrap(), id);
    // The access log: one line per request, with the id the caller was given, method, path and
    // status (what an operator greps for when a user quotes the id).
    let line = format!("request{{request_id={id} method=GET path=/healthz}}: request status=200 elapsed_us=");
    let logs = crate::support::logs::text();
    assert_eq!(logs.lines().filter(|l| l.contains(&line)).count(), 1, "one access line for {id}");
}

#[tokio::test]
async fn https_public_url_turns_on_hsts() {
    let app = TestAppBuilder::new(NOWHERE).public_url("https://portal.example.com").spawn().await;
    let res = app.get("/healthz").await;
    let hsts = res.headers().get("strict-transport-security").expect("HSTS").to_str().unwrap();
    assert!(hsts.contains("max-age="), "{hsts}");
}

#[tokio::test]
async fn unknown_pages_get_a_page_with_the_request_id_not_framework_text() {
    let app = TestAppBuilder::new(NOWHERE).spawn().await;
    let res = app.get("/no/such/page").await;
    assert_eq!(res.status(), 404);
    let id = res.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    assert!(res.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
    let body = res.text().await.unwrap();
    assert!(body.contains("Not found"), "{body}");
    assert!(body.contains(&id), "the page shows the request id");
    assert!(body.contains("<main"), "rendered in the layout");
}

#[tokio::test]
async fn the_stylesheet_is_served() {
    let app = TestAppBuilder::new(NOWHERE).spawn().await;
    let res = app.get("/static/portico.css").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/css"));
    assert!(res.text().await.unwrap().contains(":root"));
}

#[tokio::test]
async fn readyz_is_ready_with_the_embedded_store_and_sqlite() {
    let app = TestAppBuilder::new(NOWHERE).spawn().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["session_store"]["kind"], "memory");
    assert_eq!(body["checks"]["database"]["kind"], "sqlite");
    assert_eq!(body["checks"]["database"]["status"], "up");
}

async fn readiness(app: &crate::support::TestApp) -> (u16, serde_json::Value) {
    let res = app.get("/readyz").await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn readyz_follows_redis_down_and_back_without_a_restart() {
    let Some(mut redis) = RedisServer::start("readyz_follows_redis_down_and_back_without_a_restart") else {
        return;
    };
    let app = TestAppBuilder::new(NOWHERE).redis(&redis).spawn().await;

    let (status, body) = readiness(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["session_store"]["kind"], "redis");

    redis.stop();
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["checks"]["session_store"]["status"], "down");
    assert!(body["checks"]["session_store"]["error"].as_str().unwrap().contains("unavailable"), "{body}");
    assert_eq!(body["checks"]["database"]["status"], "up", "the database is not blamed");

    redis.restart();
    // The connection comes back on its own; wait for it (bounded), no restart of Portico.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = readiness(&app).await;
        if status == 200 {
            assert_eq!(body["checks"]["session_store"]["status"], "up");
            break;
        }
        assert!(Instant::now() < deadline, "still not ready after Redis came back: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn readyz_reports_a_database_that_is_gone() {
    let app = TestAppBuilder::new(NOWHERE).spawn().await;
    app.state.db().close().await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503);
    assert_eq!(body["checks"]["database"]["status"], "down");
    assert_eq!(body["checks"]["session_store"]["status"], "up");
}

fn metric_value(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name_and_labels)).and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_sign_ins_and_manager_calls() {
    let master = crate::support::managers::start_master().await;
    let slave = crate::support::managers::start_slave("eu", &master.url).await;
    // An environment id no other test uses, so its series can only come from this test.
    let app = TestAppBuilder::new(master.url.as_str())
        .slave("metrics-eu", "Metrics EU", slave.url.as_str())
        .spawn()
        .await;
    assert_eq!(app.sign_in("alice", "alice-password").await.status(), 303);

    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(
        metric_value(&text, "portico_manager_calls_total{environment=\"metrics-eu\",outcome=\"ok\"}")
            .is_some_and(|v| v >= 3.0),
        "login, current user and organization look-up on the slave:\n{text}"
    );
    assert!(metric_value(&text, "portico_sign_ins_total{outcome=\"success\"}").is_some_and(|v| v >= 1.0));
    assert!(text.contains("portico_http_request_duration_seconds_bucket{route=\"/login\""), "{text}");
    assert!(metric_value(&text, "portico_sessions").is_some(), "{text}");
    assert!(!text.contains("alice"), "no user names in labels");

    let scrapes = |t: &str| {
        metric_value(t, "portico_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"200\"}")
            .unwrap_or(0.0)
    };
    let again = app.get("/metrics").await.text().await.unwrap();
    assert!(scrapes(&again) >= scrapes(&text) + 1.0, "the first scrape was counted");
}
