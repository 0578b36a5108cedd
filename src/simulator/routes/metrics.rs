//! `GET /metrics/reports/app/timeline/{level}/{metricType}?from=…&to=…&client=…`: an
//! application's calls per hour between two ISO-8601 instants, from the usage in the data file.
//! A consumer may ask only about their organization's applications (API administrators about
//! any).

use std::time::{Duration, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::super::faults::Operation;
use super::super::state::SimState;
use super::super::views;
use super::guard;
use crate::domain::Role;

const HOUR_MS: i64 = 3_600_000;

fn millis(raw: &str) -> Option<i64> {
    let at = humantime::parse_rfc3339_weak(raw).ok()?;
    i64::try_from(at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis()).ok()
}

pub(super) async fn timeline(
    req: HttpRequest,
    state: web::Data<SimState>,
    path: web::Path<(String, String, String)>,
) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::Metrics).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let (kind, _level, metric) = path.into_inner();
    let (mut from, mut to, mut clients) = (None, None, Vec::new());
    for (key, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match key.as_ref() {
            "from" => from = millis(&value),
            "to" => to = millis(&value),
            "client" => clients.push(value.into_owned()),
            _ => {}
        }
    }
    let (Some(from), Some(to)) = (from, to) else {
        return views::error(StatusCode::BAD_REQUEST, "from and to must be ISO-8601 date-times");
    };
    if kind != "app" || to <= from || to - from > 31 * 24 * HOUR_MS {
        return views::error(StatusCode::BAD_REQUEST, "Unsupported report");
    }
    let data = state.data();
    let mut series = Vec::new();
    for client in &clients {
        let Some(app) = data.applications.iter().find(|a| &a.id == client) else {
            return views::error(StatusCode::NOT_FOUND, "No such application");
        };
        if caller.user.role != Role::Admin && app.organization_id != caller.user.organization_id {
            return views::error(StatusCode::FORBIDDEN, "Not your organization's application");
        }
        let start = from - from.rem_euclid(HOUR_MS);
        let points = usize::try_from((to - start + HOUR_MS - 1) / HOUR_MS).unwrap_or(0);
        // The usage's last element is the hour the report ends in.
        let values: Vec<f64> = (0..points)
            .map(|i| {
                let back = points - 1 - i;
                app.usage.len().checked_sub(1 + back).map_or(0.0, |at| app.usage[at])
            })
            .collect();
        series.push(json!({ "name": metric, "pointInterval": HOUR_MS, "pointStart": start, "data": values }));
    }
    HttpResponse::Ok().json(json!({ "id": metric, "name": metric, "series": series }))
}
