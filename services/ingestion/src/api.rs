//! `POST /api/imports` (the raw file as the body), `GET /api/imports`, `GET /api/imports/{id}` and
//! `GET /api/imports/{id}/errors`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Json;
use chrono::NaiveDate;
use futures::StreamExt;
use recaudo_access::{Permission, Principal};
use recaudo_domain::Country;
use recaudo_events::ImportMode;
use recaudo_runtime::{ApiError, Routes};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::file::{DateOrder, DecimalStyle, ReadOptions};
use crate::imports::Severity;
use crate::pipeline::Upload;
use crate::profiles::{self, ProfileError};
use crate::{imports, Config, Created, ImportRequest, Importer};

/// Errors listed inline in `GET /api/imports/{id}`; the rest are paged at `/errors`.
const INLINE_ERRORS: i64 = 1000;

pub struct AppState {
    pub importer: Importer,
    pub config: Config,
    pub tracker: TaskTracker,
}

pub fn routes(state: Arc<AppState>) -> Routes {
    Routes::new()
        .protected("/api/imports", get(list).post(create).layer(DefaultBodyLimit::disable()))
        .protected("/api/imports/{id}", get(show))
        .protected("/api/imports/{id}/errors", get(errors))
        .protected("/api/import-profiles", get(list_profiles))
        .protected("/api/import-profiles/{name}", get(show_profile).put(put_profile).delete(delete_profile))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct CreateParams {
    mode: Option<String>,
    as_of: Option<String>,
    file_name: Option<String>,
    encoding: Option<String>,
    delimiter: Option<String>,
    date_order: Option<String>,
    decimal: Option<String>,
    default_country: Option<String>,
    profile: Option<String>,
    max_error_rate: Option<f64>,
}

impl CreateParams {
    fn into_request(self) -> Result<ImportRequest, ApiError> {
        let bad = |field: &str, msg: String| ApiError::bad_request("invalid_parameter", format!("{field}: {msg}"));
        let mode = match self.mode.as_deref().unwrap_or("delta") {
            "full" => ImportMode::Full,
            "delta" => ImportMode::Delta,
            other => return Err(bad("mode", format!("{other:?} is not one of full, delta"))),
        };
        let as_of = self
            .as_of
            .map(|s| {
                NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                    .map_err(|_| bad("as_of", format!("{s:?} is not a yyyy-mm-dd date")))
                    .and_then(|d| recaudo_domain::calendar::check_date(d).map(|()| d).map_err(|e| bad("as_of", e)))
            })
            .transpose()?;
        let delimiter = match self.delimiter.as_deref() {
            None => None,
            Some("tab" | "\\t" | "\t") => Some('\t'),
            Some(d) if d.chars().count() == 1 && d.is_ascii() && !d.chars().all(|c| c.is_ascii_control()) => {
                d.chars().next()
            }
            Some(d) => return Err(bad("delimiter", format!("{d:?} is not a single ASCII character or \"tab\""))),
        };
        let date_order = match self.date_order.as_deref() {
            None => None,
            Some("day_first") => Some(DateOrder::DayFirst),
            Some("month_first") => Some(DateOrder::MonthFirst),
            Some(o) => return Err(bad("date_order", format!("{o:?} is not one of day_first, month_first"))),
        };
        let decimal = match self.decimal.as_deref() {
            None => None,
            Some("point") => Some(DecimalStyle::Point),
            Some("comma") => Some(DecimalStyle::Comma),
            Some(o) => return Err(bad("decimal", format!("{o:?} is not one of point, comma"))),
        };
        if let Some(enc) = &self.encoding {
            if encoding_rs::Encoding::for_label(enc.as_bytes()).is_none() {
                return Err(bad("encoding", format!("{enc:?} is not a known encoding")));
            }
        }
        let default_country = self
            .default_country
            .map(|c| c.parse::<Country>().map_err(|e| bad("default_country", e.to_string())))
            .transpose()?;
        if let Some(name) = &self.file_name {
            recaudo_domain::text::check_text(name, 255).map_err(|e| bad("file_name", e.to_string()))?;
        }
        if let Some(name) = &self.profile {
            profiles::check_name(name).map_err(|e| bad("profile", e.to_string()))?;
        }
        if let Some(rate) = self.max_error_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(bad("max_error_rate", format!("{rate} is not between 0 and 1")));
            }
        }
        Ok(ImportRequest {
            file_name: self.file_name,
            mode,
            as_of,
            options: ReadOptions {
                columns: Default::default(),
                encoding: self.encoding,
                delimiter,
                date_order,
                decimal,
                default_country,
            },
            profile: self.profile,
            max_error_rate: self.max_error_rate,
        })
    }
}

/// Streams the body to a temporary file (hashing it on the way) and starts the import in the background.
async fn create(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Query(params): Query<CreateParams>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    who.require(Permission::ImportsWrite)?;
    let request = params.into_request()?;
    let request = state.importer.resolve(request).await.map_err(profile_error)?;
    let upload = receive(body, state.config.max_upload_bytes).await?;
    let id = match state.importer.create(&request, &upload).await? {
        Created::New(id) => id,
        Created::Duplicate(earlier) => {
            let body = json!({
                "id": earlier,
                "duplicate": true,
                "message": "this file was already imported in this mode; nothing was done",
                "links": { "self": format!("/api/imports/{earlier}") },
            });
            return Ok((StatusCode::OK, [("location", format!("/api/imports/{earlier}"))], Json(body)));
        }
    };
    let importer = state.importer.clone();
    state.tracker.spawn(async move {
        if let Err(e) = importer.run(id, &request, &upload, None).await {
            tracing::error!(import_id = %id, error = %format!("{e:#}"), "import could not be recorded");
        }
        // The temporary file is removed when `upload` drops here.
        drop(upload);
    });
    let body = json!({ "id": id, "state": "processing", "links": { "self": format!("/api/imports/{id}") } });
    Ok((StatusCode::ACCEPTED, [("location", format!("/api/imports/{id}"))], Json(body)))
}

/// An upload in a temporary file, deleted when this is dropped (after the import has read it).
struct TempUpload {
    upload: Upload,
    _file: tempfile::TempPath,
}

impl std::ops::Deref for TempUpload {
    type Target = Upload;
    fn deref(&self) -> &Upload {
        &self.upload
    }
}

async fn receive(body: Body, max_bytes: u64) -> Result<TempUpload, ApiError> {
    let temp = tempfile::NamedTempFile::new().map_err(|e| ApiError::Internal(e.into()))?;
    let (file, path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request("body_unreadable", format!("the upload was interrupted: {e}")))?;
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(ApiError::PayloadTooLarge(format!("the file exceeds the upload limit of {max_bytes} bytes")));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(|e| ApiError::Internal(e.into()))?;
    }
    file.flush().await.map_err(|e| ApiError::Internal(e.into()))?;
    if size == 0 {
        return Err(ApiError::bad_request("empty_file", "the request body is empty; send the client file as the body"));
    }
    let upload = Upload { path: path.to_path_buf(), sha256: hex::encode(hasher.finalize()), size };
    Ok(TempUpload { upload, _file: path })
}

async fn show(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    who.require(Permission::ImportsRead)?;
    let id = parse_id(&id)?;
    let pool = state.importer.pool();
    let view = imports::find(pool, id).await?.ok_or_else(|| ApiError::NotFound(format!("no import {id}")))?;
    let errors = imports::errors(pool, id, Severity::Error, 0, INLINE_ERRORS).await?;
    let errors_total = imports::error_count(pool, id, Severity::Error).await?;
    let warnings = imports::errors(pool, id, Severity::Warning, 0, INLINE_ERRORS).await?;
    let warnings_total = imports::error_count(pool, id, Severity::Warning).await?;
    let mut body = serde_json::to_value(&view).map_err(|e| ApiError::Internal(e.into()))?;
    body["errors"] = json!(errors);
    body["errors_total"] = json!(errors_total);
    body["errors_truncated"] = json!(errors_total > INLINE_ERRORS);
    body["warnings"] = json!(warnings);
    body["warnings_total"] = json!(warnings_total);
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
struct Page {
    offset: Option<i64>,
    limit: Option<i64>,
    severity: Option<String>,
}

async fn errors(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<serde_json::Value>, ApiError> {
    who.require(Permission::ImportsRead)?;
    let id = parse_id(&id)?;
    let pool = state.importer.pool();
    imports::find(pool, id).await?.ok_or_else(|| ApiError::NotFound(format!("no import {id}")))?;
    let offset = page.offset.unwrap_or(0).max(0);
    let limit = page.limit.unwrap_or(1000).clamp(1, 10_000);
    let severity = match page.severity.as_deref() {
        None | Some("error") => Severity::Error,
        Some("warning") => Severity::Warning,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("severity: {other:?} is not one of error, warning"),
            ))
        }
    };
    let list = imports::errors(pool, id, severity, offset, limit).await?;
    Ok(Json(json!({ "import_id": id, "offset": offset, "limit": limit, "errors": list })))
}

async fn list(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<serde_json::Value>, ApiError> {
    who.require(Permission::ImportsRead)?;
    let list = imports::recent(state.importer.pool(), 100).await?;
    Ok(Json(json!({ "imports": list })))
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::bad_request("invalid_id", format!("{raw:?} is not an import id")))
}

fn profile_error(e: ProfileError) -> ApiError {
    match e {
        ProfileError::NotFound(_) => ApiError::bad_request("unknown_profile", e.to_string()),
        ProfileError::Db(db) => ApiError::Internal(db.into()),
        other => ApiError::bad_request("invalid_profile", other.to_string()),
    }
}

async fn list_profiles(
    State(state): State<Arc<AppState>>,
    who: Principal,
) -> Result<Json<serde_json::Value>, ApiError> {
    who.require(Permission::ImportsRead)?;
    let list = profiles::list(state.importer.pool()).await.map_err(profile_error)?;
    Ok(Json(json!({ "profiles": list })))
}

async fn show_profile(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    who.require(Permission::ImportsRead)?;
    match profiles::get(state.importer.pool(), &name).await {
        Ok(p) => Ok(Json(json!(p))),
        Err(ProfileError::NotFound(n)) => Err(ApiError::NotFound(format!("no import profile named {n:?}"))),
        Err(e) => Err(profile_error(e)),
    }
}

/// The body is the profile's options: `{"columns": {"Nro Cliente": "id_cliente"}, "encoding": "windows-1252",
/// "delimiter": ";", "date_order": "day_first", "decimal": "comma", "default_country": "CO"}`, all optional.
async fn put_profile(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    who.require(Permission::ImportsWrite)?;
    let options: ReadOptions = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_profile", format!("the body is not a valid profile: {e}")))?;
    let now = state.importer.clock().now();
    profiles::put(state.importer.pool(), &name, &options, now).await.map_err(profile_error)?;
    show_profile(State(state), who, Path(name)).await
}

async fn delete_profile(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::ImportsWrite)?;
    match profiles::delete(state.importer.pool(), &name).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(ProfileError::NotFound(n)) => Err(ApiError::NotFound(format!("no import profile named {n:?}"))),
        Err(e) => Err(profile_error(e)),
    }
}
