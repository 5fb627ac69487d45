//! `rpc getTrialInfo` of `trial.Trial`: the article's step 3.3.

use tonic::Status;

use trial_rpc::pb;

use crate::svc::ServiceContext;

pub async fn get_trial_info(
    svc: &ServiceContext,
    req: pb::trial::GetTrialRequest,
) -> Result<pb::trial::TrialInfo, Status> {
    let _ = svc;
    tracing::info!(id = %req.id, "looking up trial");
    // The article's in-memory trial database.
    let (name, status, enrolled_count) = match req.id.as_str() {
        "NCT045148" => ("一项评估XXX药物有效性的III期临床研究", "招募中", 152),
        "NCT052219" => ("早期肺癌患者术后辅助治疗研究", "已完成", 300),
        _ => return Err(Status::not_found("临床试验项目未找到")),
    };
    Ok(pb::trial::TrialInfo {
        id: req.id,
        name: name.into(),
        status: status.into(),
        enrolled_count,
    })
}
