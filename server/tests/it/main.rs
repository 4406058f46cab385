//! The server's integration tests in one binary (each test binary links polars): the real `veil
//! serve` on loopback (`serve`), and across a veth pair between network namespaces (`netns`).

mod netns;
mod serve;
