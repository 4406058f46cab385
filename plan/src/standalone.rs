//! An in-process Ballista cluster: a scheduler and executors on loopback, started the way
//! Ballista's own standalone mode starts them, for tests of the distributed path (feature
//! `standalone`; operators run Ballista's scheduler and executors as its users deploy them).

use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::error::DataFusionError;

use crate::{PlanError, Result};

/// A running in-process cluster; dropping it stops it.
pub struct Cluster {
    threads: Option<tokio::runtime::Runtime>,
    url: String,
}

fn failed(what: &str, e: impl std::fmt::Display) -> PlanError {
    PlanError::Engine(DataFusionError::External(
        format!("starting a Ballista {what}: {e}").into(),
    ))
}

impl Cluster {
    /// Starts a scheduler and `executors` executors, each running up to `tasks` tasks at once.
    pub fn start(executors: usize, tasks: usize) -> Result<Cluster> {
        let threads = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ballista")
            .enable_all()
            .build()
            .map_err(|e| failed("runtime", e))?;
        let url = threads.block_on(async {
            let address = ballista_scheduler::standalone::new_standalone_scheduler()
                .await
                .map_err(|e| failed("scheduler", e))?;
            let endpoint = format!("http://localhost:{}", address.port());
            let mut tries = 0;
            let scheduler = loop {
                match SchedulerGrpcClient::connect(endpoint.clone()).await {
                    Ok(client) => break client,
                    Err(e) if tries >= 100 => return Err(failed("scheduler", e)),
                    Err(_) => {
                        tries += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            };
            for _ in 0..executors {
                ballista_executor::new_standalone_executor(
                    scheduler.clone(),
                    tasks,
                    BallistaCodec::default(),
                )
                .await
                .map_err(|e| failed("executor", e))?;
            }
            Ok(format!("df://localhost:{}", address.port()))
        })?;
        Ok(Cluster {
            threads: Some(threads),
            url,
        })
    }

    /// The scheduler's address, for [`Engine::ballista`](crate::Engine::ballista).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(threads) = self.threads.take() {
            threads.shutdown_background();
        }
    }
}
