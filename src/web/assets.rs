//! Static assets, compiled into the binary so Portico runs from any folder.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

const STYLESHEET: &str = include_str!("../../static/portico.css");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/portico.css", web::get().to(stylesheet));
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}
