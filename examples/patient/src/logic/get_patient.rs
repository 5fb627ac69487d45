//! `get /patient/:id`: Look up one patient: 400 for a non-numeric id, 404 for an unknown one.
//!
//! The article's in-memory patient database. A non-numeric id never reaches this function: the
//! `Id int64 path:"id"` binding answers 400 naming the field.

use rustctl_runtime::{Ctx, Error};

use crate::svc::ServiceContext;
use crate::types::{Patient, PatientRequest};

pub async fn get_patient(
    svc: &ServiceContext,
    ctx: &Ctx,
    req: PatientRequest,
) -> Result<Patient, Error> {
    let _ = (svc, ctx);
    let (name, trial_id, is_enrolled) = match req.id {
        1001 => ("王女士", "NCT045148", true),
        1002 => ("李先生", "NCT045148", true),
        1003 => ("赵小童", "NCT052219", false),
        _ => return Err(Error::NotFound("患者信息未找到".into())),
    };
    Ok(Patient {
        id: req.id,
        name: name.into(),
        trial_id: trial_id.into(),
        is_enrolled,
    })
}
