//! The launcher's library part: what `yiwang` (src/main.rs) and the end-to-end tests share —
//! the demo county ([`demo`]).

pub mod demo;
