//! The case handling service (办件).

pub mod calendar;
