//! `get /epro/v1/export`: the de-identified records, for administrators (the `AdminOnly`
//! middleware turns everyone else away before this runs).

use rustctl_runtime::Error;

use crate::svc::ServiceContext;
use crate::types::{ExportRequest, ExportResponse};

pub async fn export(svc: &ServiceContext, req: ExportRequest) -> Result<ExportResponse, Error> {
    let rows = svc
        .analysis
        .lock()
        .map_err(|e| Error::Internal(e.to_string()))?
        .clone();
    Ok(ExportResponse {
        format: req.format,
        rows,
    })
}
