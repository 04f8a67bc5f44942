//! The running system behind a handle: the scheduler that keeps every monitor on its
//! interval, the pipeline that judges and records results in batches, and the live
//! [`StatusView`] that the web layer renders from. Knows nothing of HTTP.

pub mod view;

pub use view::{ComponentView, MonitorView, PageInfo, StatusView};
