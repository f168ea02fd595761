//! ZooKeeper's operational surface: four-letter words, the admin HTTP server and metrics.

pub mod four_letter;
pub mod http;
pub mod membership_http;
pub mod metrics;
