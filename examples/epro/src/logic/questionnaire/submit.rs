//! `post /epro/v1/questionnaires`: the article's step 1.2. Storing the answers, checking the
//! pain score against the alert threshold and copying a de-identified record to the analysis
//! store are independent, so they run at once: the patient waits for the slowest task, not
//! for the sum. Each task's outcome is reported; a failed task never hides the others.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustctl_runtime::{Ctx, Error, Reply};

use crate::svc::ServiceContext;
use crate::types::{ExportRow, SubmitRequest, SubmitResponse, TaskResult};

/// Answers `201 Created` with the submission's `Location`.
pub async fn submit(
    svc: &ServiceContext,
    ctx: &Ctx,
    req: SubmitRequest,
) -> Result<Reply<SubmitResponse>, Error> {
    let started = Instant::now();
    let id = svc.last_id.fetch_add(1, Ordering::Relaxed) + 1;
    let [store_ms, check_ms, copy_ms] = svc.config.app.task_latency_ms;
    let threshold = svc.config.app.pain_threshold;

    let (stored, checked, copied) = tokio::join!(
        timed("store", save_to_primary(svc, id, &req, store_ms)),
        timed(
            "threshold-check",
            check_and_alert(svc, &req, threshold, check_ms)
        ),
        timed("analysis-copy", sync_to_analysis(svc, id, &req, copy_ms)),
    );
    let alerted = checked.ok && checked.detail.starts_with("alert");
    let tasks = vec![stored, checked, copied];
    ctx.log().info(&format!("questionnaire {id} submitted"));
    let response = SubmitResponse {
        submission_id: id,
        complete: tasks.iter().all(|t| t.ok),
        alerted,
        tasks,
        elapsed_ms: started.elapsed().as_millis() as i64,
    };
    Ok(Reply::created(response).location(&format!("/epro/v1/questionnaires/{id}")))
}

/// Runs one task and records how it went and how long it took.
async fn timed(task: &str, work: impl Future<Output = Result<String, String>>) -> TaskResult {
    let started = Instant::now();
    let outcome = work.await;
    TaskResult {
        task: task.into(),
        ok: outcome.is_ok(),
        detail: outcome.unwrap_or_else(|e| e),
        elapsed_ms: started.elapsed().as_millis() as i64,
    }
}

/// Task 1: the raw answers into the primary database.
async fn save_to_primary(
    svc: &ServiceContext,
    id: i64,
    req: &SubmitRequest,
    ms: u64,
) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    if req.patient_id.trim().is_empty() {
        return Err("primary database rejected the record: patientId is empty".into());
    }
    svc.primary
        .lock()
        .map_err(|e| e.to_string())?
        .push((id, req.clone()));
    Ok(format!("stored questionnaire {id}"))
}

/// Task 2: alert the investigator when the pain score is over the threshold.
async fn check_and_alert(
    svc: &ServiceContext,
    req: &SubmitRequest,
    threshold: i64,
    ms: u64,
) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    if req.pain_score > threshold {
        let alert = format!(
            "pain score {} > {threshold} for patient {}",
            req.pain_score, req.patient_id
        );
        tracing::warn!(%alert, "investigator alerted");
        svc.alerts
            .lock()
            .map_err(|e| e.to_string())?
            .push(alert.clone());
        Ok(format!("alert sent: {alert}"))
    } else {
        Ok(format!(
            "no alert: pain score {} <= {threshold}",
            req.pain_score
        ))
    }
}

/// Task 3: a de-identified copy (no name, a hashed patient reference) for researchers.
async fn sync_to_analysis(
    svc: &ServiceContext,
    id: i64,
    req: &SubmitRequest,
    ms: u64,
) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    let row = ExportRow {
        submission_id: id,
        patient_ref: pseudonym(&req.patient_id),
        pain_score: req.pain_score,
    };
    svc.analysis.lock().map_err(|e| e.to_string())?.push(row);
    Ok("de-identified copy synced".into())
}

/// A stable pseudonym: FNV-1a of the id, so records of one patient still line up.
fn pseudonym(patient_id: &str) -> String {
    let hash = patient_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("anon-{hash:016x}")
}
