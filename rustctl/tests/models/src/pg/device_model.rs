//! The model of table `device`. rustctl wrote this file once; it is yours: add custom
//! queries to the `impl` below. The generated ones are in `device_model_gen.rs`.

// Until the service uses both, one of them is an unused import.
#[allow(unused_imports)]
pub use super::device_model_gen::{Device, DeviceModel};

impl DeviceModel {
    // Custom queries go here, for example:
    //
    // pub async fn count(&self) -> Result<i64, rustctl_runtime::sql::SqlError> {
    //     let query = rustctl_runtime::sql::sqlx::query("select count(*) from ...");
    //     let row = self.conn().fetch_one("device.count", query).await?;
    //     Ok(rustctl_runtime::sql::sqlx::Row::try_get(&row, 0)?)
    // }
}
