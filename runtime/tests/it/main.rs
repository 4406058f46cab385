//! The runtime's integration tests in one binary (each test binary links polars, so one link
//! instead of seven): a module per area, and `common`, the fixtures they share.

mod common;

mod bucket;
mod code;
mod datasite;
mod disclosure;
mod dp;
mod in_place;
mod layers;
mod pointers;
mod runner;
mod s3;
mod trust_boundary;
