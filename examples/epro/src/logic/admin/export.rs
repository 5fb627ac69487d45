//! `get /epro/v1/export`: the de-identified records, for administrators (the `AdminOnly`
//! middleware turns everyone else away before this runs). `?format=csv` sends them as a CSV
//! file to download instead of JSON.

use std::fmt::Write;

use rustctl_runtime::{Ctx, Error, Reply};

use crate::svc::ServiceContext;
use crate::types::{ExportRequest, ExportResponse, ExportRow};

pub async fn export(
    svc: &ServiceContext,
    ctx: &Ctx,
    req: ExportRequest,
) -> Result<Reply<ExportResponse>, Error> {
    let rows = svc
        .analysis
        .lock()
        .map_err(|e| Error::Internal(e.to_string()))?
        .clone();
    ctx.log()
        .info(&format!("export of {} rows as {}", rows.len(), req.format));
    if req.format == "csv" {
        return Ok(Reply::file(
            "text/csv; charset=utf-8",
            "epro-export.csv",
            csv(&rows),
        ));
    }
    Ok(Reply::ok(ExportResponse {
        format: req.format,
        rows,
    }))
}

/// The rows as CSV with a header line. Every field is a number or a pseudonym of hex digits,
/// so none needs quoting.
fn csv(rows: &[ExportRow]) -> String {
    let mut out = String::from("submissionId,patientRef,painScore\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{}",
            r.submission_id, r.patient_ref, r.pain_score
        );
    }
    out
}
