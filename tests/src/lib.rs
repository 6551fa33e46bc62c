//! Support for Quarry's end-to-end tests: a fixture site served on 127.0.0.1 (port 0)
//! that logs every request, and helpers to find and run the `quarry` binary.

pub mod binary;
pub mod fixture;
pub mod hostile;
pub mod nats;
pub mod s3;
