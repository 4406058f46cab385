//! The server's integration tests in one binary (each test binary links polars): the real `veil
//! serve` on loopback (`serve`), on a disk that fills (`full_disk`), and across a veth pair between network namespaces (`netns`).

mod full_disk;
mod netns;
mod serve;
